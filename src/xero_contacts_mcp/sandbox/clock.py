"""A wall clock that tests can move forward, so token expiry and grace periods need no sleeping."""

from __future__ import annotations

import time
from datetime import UTC, datetime


class Clock:
    """Real time plus an offset that only ever grows (`advance`)."""

    def __init__(self) -> None:
        self._offset = 0.0

    def time(self) -> float:
        """Seconds since the epoch, shifted by everything `advance` added."""
        return time.time() + self._offset

    def now(self) -> datetime:
        """The current instant in UTC, truncated to milliseconds (Xero's `/Date(ms)/` precision)."""
        millis = int(self.time() * 1000)
        return datetime.fromtimestamp(millis / 1000, tz=UTC)

    def advance(self, seconds: float) -> None:
        """Jump forward; negative values are refused because expiry logic assumes monotonic time."""
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        self._offset += seconds

    @property
    def offset(self) -> float:
        return self._offset
