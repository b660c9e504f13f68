"""Typed failures of a Xero call. The tools layer turns each into the model's error text."""

from __future__ import annotations

from typing import Any


class XeroError(Exception):
    """Base class: something kept the call from producing a Xero response we can use."""

    #: whether Xero may have applied the request (so a retry must reuse the Idempotency-Key)
    outcome_unknown: bool = False
    #: how many times the request was sent, and how long that took in all (set by the client)
    attempts: int = 0
    elapsed: float = 0.0
    #: set by the client when this error ended a call after an earlier attempt may have reached Xero:
    #: what happened to that attempt (so the text can say the write may have been applied)
    earlier: str | None = None

    def __init__(self, message: str, *, method: str = "", path: str = "",
                 idempotency_key: str | None = None, tenant_id: str | None = None,
                 reason: str | None = None) -> None:
        super().__init__(message)
        #: what went wrong, without the "nothing was sent" that only holds when no attempt reached Xero
        self.reason = reason or message
        self.method = method
        self.path = path
        self.idempotency_key = idempotency_key
        self.tenant_id = tenant_id


class NotConfiguredError(XeroError):
    """No credentials: the server runs and lists tools, but cannot call Xero."""


class TenantRequiredError(XeroError):
    """No organisation was named and none is configured."""


class TenantNotAllowedError(TenantRequiredError):
    """The call names an organisation it may not reach (outside XERO_MCP_ALLOWED_TENANTS, or in hosted mode
    not the caller's); nothing was sent."""


class InvalidRequestError(XeroError):
    """A request we refuse to send, or that the HTTP library refused to build (never sent, never retried)."""


class SharedStateError(XeroError):
    """The shared state (Redis) that replicas keep the login and rate limits in did not answer; nothing was sent."""


class TransportError(XeroError):
    """Xero could not be reached, or the connection broke before a complete response."""

    def __init__(self, message: str, *, sent: bool, permanent: bool = False, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.outcome_unknown = sent
        #: trying again cannot help (the URL's scheme is one the client cannot use), so it is not retried
        self.permanent = permanent


class TimeoutError_(TransportError):
    """No response within the configured timeout."""


class RateLimitedError(XeroError):
    """Held back before sending: the day's allowance is spent, or waiting for a turn would pass the deadline."""

    def __init__(self, retry_after: float, *, daily: bool, limits: str | None = None, **kw: Any) -> None:
        if daily:
            reason = ("Xero's daily limit for this organisation is used up; it resets within 24 hours "
                      f"(about {retry_after / 3600:.1f} h from now).")
            advice = "Nothing was sent. Do not retry now."
        else:
            allowed = f" (this server allows {limits})" if limits else ""
            reason = (f"Too many calls to this organisation are queued{allowed}; this one could not start "
                      "within its deadline.")
            advice = f"Nothing was sent. Retry in {retry_after:.0f} s."
        super().__init__(f"{reason} {advice}", reason=reason, **kw)
        self.retry_after = retry_after
        self.daily = daily


class APIError(XeroError):
    """Xero answered with a status of 400 or more."""

    def __init__(self, status: int, body: Any, headers: dict[str, str], **kw: Any) -> None:
        super().__init__(f"Xero answered {status}", **kw)
        self.status = status
        self.body = body
        self.headers = headers
        self.outcome_unknown = status >= 500
