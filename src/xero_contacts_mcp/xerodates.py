"""Xero's `/Date(ms+hhmm)/` format: the one pure helper the client side and the sandbox share."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def parse_ms_date(value: str) -> datetime | None:
    """Return the UTC instant of a `/Date(…)/` string, or None when it is not one.

    The epoch milliseconds are already UTC; the offset only says which local zone the
    value was recorded in, so it does not shift the instant.
    """
    match = MS_DATE.match(value)
    if match is None:
        return None
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(match.group(1)))


def to_iso(value: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, keeping milliseconds only when there are some."""
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond // 1000:03d}"
    return text + "Z"


def to_ms_date(value: datetime) -> str:
    """Format an instant as Xero writes it in JSON: `/Date(1551399321121+0000)/`."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    millis = int((value.astimezone(UTC) - epoch) / timedelta(milliseconds=1))
    return f"/Date({millis}+0000)/"
