"""The one place that turns any failure into the text the model reads.

Every message says what happened and what to do next, names the parameter or record at fault,
and never includes credentials (none reach this module: errors carry only Xero's reply and the
request's method, path, tenant and Idempotency-Key).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ..xero.errors import (
    APIError,
    InvalidRequestError,
    NotConfiguredError,
    TenantRequiredError,
    TimeoutError_,
    TransportError,
    XeroError,
)
from .catalogue import ToolSpec

_MAX_TEXT = 400


class ArgumentsError(Exception):
    """Arguments that fail validation; each problem is (parameter path, message)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{p}: {m}" for p, m in problems))
        self.problems = problems


def arguments_error(exc: ValidationError) -> ArgumentsError:
    problems = []
    for error in exc.errors(include_url=False):
        where = _loc(error["loc"])
        if error["type"] == "extra_forbidden":
            problems.append((where, "unknown argument" if len(error["loc"]) == 1 else "unknown field"))
            continue
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "missing":
            message = "required"
        problems.append((where, message))
    return ArgumentsError(problems)


def _loc(loc: tuple[int | str, ...]) -> str:
    """`Contacts[0].Phones[1].PhoneType`: the parameter path as the model wrote it."""
    out = ""
    for step in loc:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return out or "(arguments)"


def describe_arguments(tool: ToolSpec, exc: ArgumentsError) -> str:
    lines = [f"Invalid arguments for {tool.name}; nothing was sent to Xero:"]
    unknown = False
    for where, message in exc.problems:
        lines.append(f"- {where}: {message}")
        unknown |= message == "unknown argument"
    if unknown:
        lines.append("Valid arguments: " + ", ".join(p.name for p in tool.params) + ".")
    return "\n".join(lines)


def describe_failure(tool: ToolSpec, args: dict[str, Any], exc: XeroError) -> str:
    """Text for a call that did not succeed; ends with what to do."""
    if exc.earlier is not None:
        return _unknown_after_retry(tool, args, exc)
    if isinstance(exc, NotConfiguredError | TenantRequiredError | InvalidRequestError):
        return str(exc)
    text = _what_happened(tool, args, exc, str(exc))
    if exc.attempts > 1:
        text += f" (Tried {exc.attempts} times over {exc.elapsed:.0f} s.)"
    if exc.outcome_unknown and tool.writes and exc.idempotency_key:
        text += "\n" + _retry_with_key(tool, exc)
    return text


def _what_happened(tool: ToolSpec, args: dict[str, Any], exc: XeroError, said: str) -> str:
    if isinstance(exc, APIError):
        return _api(tool, args, exc)
    if isinstance(exc, TimeoutError_):
        return f"{said} Xero may be slow or unavailable; try again shortly."
    if isinstance(exc, TransportError) and not exc.outcome_unknown:
        return f"{said} Check the network and XERO_API_URL, then try again."
    return said


def _retry_with_key(tool: ToolSpec, exc: XeroError) -> str:
    return (f"Xero may already have applied this {tool.method}. Call {tool.name} again with the same "
            f"arguments and Idempotency-Key \"{exc.idempotency_key}\" so it is applied at most once.")


def _unknown_after_retry(tool: ToolSpec, args: dict[str, Any], exc: XeroError) -> str:
    """An attempt may have reached Xero, and a later one ended the call: whatever ended it, the write may
    have been applied, and only its Idempotency-Key makes a new call safe."""
    earlier = (exc.earlier or "").rstrip(".")
    earlier = earlier[:1].lower() + earlier[1:]
    then = _what_happened(tool, args, exc, exc.reason)
    if not tool.writes or not exc.idempotency_key:  # a read or a delete: repeating it is harmless
        return f"An attempt got no answer ({earlier}), and the retry failed: {then}"
    wait = getattr(exc, "retry_after", None) if not isinstance(exc, APIError) else None
    return (f"The outcome is unknown: an attempt of this {tool.method} was sent and got no answer ({earlier}), "
            f"and the retry failed: {then} (Tried {exc.attempts} times over {exc.elapsed:.0f} s.)\n"
            + _retry_with_key(tool, exc)
            + (f" Wait about {wait:.0f} s first." if isinstance(wait, float | int) and wait >= 1 else ""))


def _api(tool: ToolSpec, args: dict[str, Any], exc: APIError) -> str:
    status, body = exc.status, exc.body
    if status == 400:
        return _bad_request(body, tool.result or "")
    if status == 401:
        detail = _field(body, "Detail") or ""
        if detail.startswith("TokenExpired"):
            return ("Xero rejected the access token as expired (tokens last 30 minutes). A token given in "
                    "XERO_ACCESS_TOKEN is never refreshed: replace it, or use `xero-contacts-mcp login` "
                    "for tokens that renew themselves.")
        if "AuthorizationUnsuccessful" in detail:
            return (f"Xero refused {tool.name}: the connection lacks the scope it needs "
                    f"({' or '.join(_scope_options(tool))}). Reconnect the app with that scope.")
        return f"Xero rejected the credentials (401 {detail or 'Unauthorized'}). Check the access token."
    if status == 403:
        return (f"Xero refused access to organisation {exc.tenant_id} (403 {_field(body, 'Detail') or 'Forbidden'}):"
                " the tenant ID is wrong, or that organisation has disconnected this app. Check xero-tenant-id"
                " or XERO_TENANT_ID.")
    if status == 404:
        return _not_found(tool, args)
    if status == 429:
        return _rate_limited(exc)
    if status >= 500:
        message = _message(body) or "no details"
        return (f"Xero is unavailable ({status}: {message}). This is usually temporary (an organisation "
                "can be offline for up to an hour); try again in a few minutes.")
    return f"Xero answered {status}: {_message(body) or 'no details'}."


def _scope_options(tool: ToolSpec) -> list[str]:
    scopes = list(tool.scopes)
    for scope in tool.scopes:
        if scope.endswith(".read"):
            scopes.append(scope.removesuffix(".read"))
    return scopes


def _bad_request(body: Any, label: str) -> str:
    if isinstance(body, dict) and body.get("Type") == "ValidationException":
        problems = validation_messages(body.get("Elements") or [], prefix=label)
        head = f"Xero rejected the request (400 ValidationException: {body.get('Message', 'validation failed')})"
        if not problems:
            return head + ". Check the values and try again."
        return head + ":\n" + "\n".join(f"- {p}" for p in problems) + "\nFix these and call the tool again."
    return f"Xero rejected the request (400): {_message(body) or 'no details'}. Check the arguments."


def validation_messages(elements: list[Any], prefix: str = "") -> list[str]:
    """Every ValidationErrors message in Xero's elements, nested lists (Addresses, Phones…) included."""
    found: list[str] = []
    for index, element in enumerate(elements):
        if not isinstance(element, dict):
            continue
        label = f"{prefix}[{index}]" + (f" {_label(element)}" if _label(element) else "")
        found.extend(_messages_in(element, label))
    return found


def _messages_in(node: dict[str, Any], label: str) -> list[str]:
    found = [f"{label}: {e['Message']}" for e in node.get("ValidationErrors") or []
             if isinstance(e, dict) and e.get("Message")]
    for key, value in node.items():
        if key != "ValidationErrors" and isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    found.extend(_messages_in(item, f"{label} {key}[{index}]"))
    return found


def _label(element: dict[str, Any]) -> str:
    for key in ("Name", "ContactNumber", "ContactID", "ContactGroupID", "TrackingCategoryID"):
        if isinstance(element.get(key), str) and element[key]:
            return f'{key} "{element[key]}"'
    return ""


def _not_found(tool: ToolSpec, args: dict[str, Any]) -> str:
    values = {p.name: args.get(p.name) for p in tool.located("path")}
    if tool.not_found:
        return " ".join(tool.not_found.format(**values).split())
    what = ", ".join(f"{name} {value}" for name, value in values.items()) or tool.path
    finders = sorted({p.found_by for p in tool.located("path") if p.found_by})
    hint = f" Find valid IDs with {' and '.join(finders)}." if finders else ""
    return f"Xero found nothing for {what} (404): it does not exist in this organisation.{hint}"


def _rate_limited(exc: APIError) -> str:
    problem = (exc.headers.get("x-rate-limit-problem") or "").lower()
    retry = exc.headers.get("retry-after")
    if problem == "day":
        return ("Xero's daily limit for this organisation (5,000 calls) is used up; it resets within 24 hours"
                + (f" (Retry-After {retry} s)" if retry else "") + ". Do not retry now.")
    if problem == "concurrent":
        return "Too many calls to this organisation at once (Xero allows 5). Retry in a second, one call at a time."
    when = f"after {retry} seconds" if retry else "in a minute"
    return f"Xero's rate limit for this organisation ({problem or 'minute'}) was reached. Retry {when}."


def _field(body: Any, key: str) -> str | None:
    value = body.get(key) if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


def _message(body: Any) -> str:
    if isinstance(body, dict):
        for key in ("Message", "Detail", "Title", "error_description", "error"):
            if isinstance(body.get(key), str) and body[key]:
                return str(body[key])[:_MAX_TEXT]
        return ""
    if isinstance(body, str):
        return " ".join(body.split())[:_MAX_TEXT]
    return ""
