"""The one place that turns any failure into the text the model reads.

Every message says what happened and what to do next, names the parameter or record at fault,
and never includes credentials (none reach this module: errors carry only Xero's reply and the
request's method, path, tenant and Idempotency-Key).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
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
from .catalogue import Hint, Node, Param, ToolSpec
from .results import NIL_UUID  # Xero's ID on an echoed element it did not save: never shown
from .schema import resolve

_MAX_TEXT = 400
_Filter = Callable[[list[str]], list[str]]


@dataclass(frozen=True)
class Advice:
    """The catalogue's hints, and what their lookups found (hint index → sentence), for one failure."""

    hints: Sequence[Hint] = ()
    found: Mapping[int, str] = field(default_factory=dict)


class ArgumentsError(Exception):
    """Arguments that fail validation; each problem is (parameter path, message)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{p}: {m}" for p, m in problems))
        self.problems = problems


def arguments_error(exc: ValidationError, tool: ToolSpec | None = None,
                    schemas: Mapping[str, Node] | None = None) -> ArgumentsError:
    """Pydantic's errors as plain sentences that give the expected shape, with a likely meant field name."""
    problems = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        where = _loc(loc)
        node = _node_at(tool, schemas or {}, loc)
        if error["type"] == "extra_forbidden":
            problems.append((where, _unknown(tool, schemas or {}, loc)))
            continue
        said = _plain(error, node, schemas or {})
        if isinstance(node, Param) and node.found_by and said.startswith("must be a UUID"):
            said += f"; find it with {node.found_by}"  # a name sent for an ID: say where IDs come from
        problems.append((where, said))
    return ArgumentsError(problems)


def _plain(error: Any, node: Node | None, schemas: Mapping[str, Node]) -> str:
    """One validation error as a sentence a model can act on (no "Input should be … after validation")."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "missing":
        return "required"
    if kind == "list_type":
        return f"must be a list (JSON array), e.g. {_shape(node, schemas)}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"must be an object (JSON {{…}}), e.g. {_shape(node, schemas)}"
    if kind == "too_long":
        return f"at most {ctx.get('max_length')} item(s) allowed; {ctx.get('actual_length')} were sent"
    if kind == "too_short":
        return f"at least {ctx.get('min_length')} item(s) needed; {ctx.get('actual_length')} were sent"
    if kind == "string_too_long":
        return f"at most {ctx.get('max_length')} characters allowed"
    if kind == "string_too_short":
        length = ctx.get("min_length")
        return "must not be empty" if length == 1 else f"at least {length} characters needed"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "must be a whole number (a JSON number, not a string)"
    if kind in ("float_type", "float_parsing"):
        return "must be a number (a JSON number, not a string)"
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false (a JSON boolean, not a string)"
    if kind == "string_type":
        return "must be a string (text in double quotes)"
    if kind == "greater_than_equal":
        return f"must be {ctx.get('ge')} or more"
    if kind == "less_than_equal":
        return f"must be {ctx.get('le')} or less"
    if kind == "literal_error":
        return f"must be one of {str(ctx.get('expected', '')).replace(chr(39), '')}"
    if kind == "string_pattern_mismatch":
        return f"must match the pattern {ctx.get('pattern')}"
    return str(error["msg"]).removeprefix("Value error, ")


def _shape(node: Node | None, schemas: Mapping[str, Node]) -> str:
    """A minimal example of the expected value: `[{"Name": "…"}]` for a list of objects."""
    if node is None:
        return "[…]"
    node = resolve(node, dict(schemas))
    inner = resolve(node.items, dict(schemas)) if node.type == "array" and node.items is not None else node
    sample = '"…"' if inner.type == "string" else "…"
    if inner.type == "object" and inner.properties:
        named = [k for k in inner.properties if not k.endswith("ID")] or list(inner.properties)
        key = next(iter(inner.required or []), "Name" if "Name" in named else named[0])
        sample = f'{{"{key}": …}}'
    return f"[{sample}]" if node.type == "array" else sample


def _node_at(tool: ToolSpec | None, schemas: Mapping[str, Node], loc: tuple[int | str, ...]) -> Node | None:
    """The catalogue node a validation error's location points at (None where it cannot be followed)."""
    if tool is None or not loc or loc[0] not in tool.by_name:
        return None
    node: Node | None = tool.by_name[str(loc[0])]
    for step in loc[1:]:
        if node is None:
            return None
        node = resolve(node, dict(schemas))
        node = node.items if isinstance(step, int) else (node.properties or {}).get(step)
    return node


def _unknown(tool: ToolSpec | None, schemas: Mapping[str, Node], loc: tuple[int | str, ...]) -> str:
    """'unknown argument/field', with where it belongs: a near-miss name, or the list item it is a field of."""
    name = str(loc[-1])
    if len(loc) == 1:
        for param in tool.params if tool is not None else []:
            item = resolve(param.items, dict(schemas)) if param.type == "array" and param.items else None
            if item is not None and name in (item.properties or {}):
                return (f"unknown argument: {name} is a field of each {param.name} item; put it inside "
                        f'{param.name}[0], e.g. {{"{param.name}": [{{"{name}": …}}]}}')
        fields = [p.name for p in tool.params] if tool is not None else []
        guess = _near(name, fields)
        return "unknown argument" + (f": did you mean {guess}?" if guess else "")
    parent = _node_at(tool, schemas, loc[:-1])
    fields = list((resolve(parent, dict(schemas)).properties or {}) if parent is not None else [])
    guess = _near(name, fields)
    return "unknown field" + (f": did you mean {guess}?" if guess else "")


def _near(name: str, fields: Sequence[str]) -> str | None:
    """The field a misspelt or shortened name most likely meant (`Email` → EmailAddress), if any."""
    folded = name.casefold()
    for field_ in fields:
        if field_.casefold() == folded:
            return field_
    if len(folded) >= 3:
        starts = [f for f in fields if f.casefold().startswith(folded) or folded.startswith(f.casefold())]
        if len(starts) == 1:
            return starts[0]
    close = difflib.get_close_matches(name, list(fields), n=1, cutoff=0.75)
    return close[0] if close else None


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
        unknown |= message.startswith("unknown argument") and "is a field of each" not in message
    if unknown:
        lines.append("Valid arguments: " + ", ".join(p.name for p in tool.params) + ".")
    return "\n".join(lines)


def describe_failure(tool: ToolSpec, args: dict[str, Any], exc: XeroError, advice: Advice | None = None) -> str:
    """Text for a call that did not succeed; ends with what to do."""
    advice = advice or Advice()
    if exc.earlier is not None:
        return _unknown_after_retry(tool, args, exc, advice)
    if isinstance(exc, NotConfiguredError | TenantRequiredError | InvalidRequestError):
        return str(exc)
    text = _what_happened(tool, args, exc, str(exc), advice)
    if exc.attempts > 1:
        text += f" (Tried {exc.attempts} times over {exc.elapsed:.0f} s.)"
    if exc.outcome_unknown and tool.writes and exc.idempotency_key:
        text += "\n" + _retry_with_key(tool, exc)
    return text


def _what_happened(tool: ToolSpec, args: dict[str, Any], exc: XeroError, said: str, advice: Advice) -> str:
    if isinstance(exc, APIError):
        return _api(tool, args, exc, advice)
    if isinstance(exc, TimeoutError_):
        return f"{said} Xero may be slow or unavailable; try again shortly."
    if isinstance(exc, TransportError) and not exc.outcome_unknown:
        return f"{said} Check the network and XERO_API_URL, then try again."
    return said


def _retry_with_key(tool: ToolSpec, exc: XeroError) -> str:
    return (f"Xero may already have applied this {tool.method}. Call {tool.name} again with the same "
            f"arguments and Idempotency-Key \"{exc.idempotency_key}\" so it is applied at most once.")


def _unknown_after_retry(tool: ToolSpec, args: dict[str, Any], exc: XeroError, advice: Advice) -> str:
    """An attempt may have reached Xero, and a later one ended the call: whatever ended it, the write may
    have been applied, and only its Idempotency-Key makes a new call safe."""
    earlier = (exc.earlier or "").rstrip(".")
    earlier = earlier[:1].lower() + earlier[1:]
    then = _what_happened(tool, args, exc, exc.reason, advice)
    if not tool.writes or not exc.idempotency_key:  # a read or a delete: repeating it is harmless
        return f"An attempt got no answer ({earlier}), and the retry failed: {then}"
    wait = getattr(exc, "retry_after", None) if not isinstance(exc, APIError) else None
    return (f"The outcome is unknown: an attempt of this {tool.method} was sent and got no answer ({earlier}), "
            f"and the retry failed: {then} (Tried {exc.attempts} times over {exc.elapsed:.0f} s.)\n"
            + _retry_with_key(tool, exc)
            + (f" Wait about {wait:.0f} s first." if isinstance(wait, float | int) and wait >= 1 else ""))


def _api(tool: ToolSpec, args: dict[str, Any], exc: APIError, advice: Advice) -> str:
    status, body = exc.status, exc.body
    if status == 400:
        return _bad_request(tool, args, body, advice)
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


def _bad_request(tool: ToolSpec, args: dict[str, Any], body: Any, advice: Advice) -> str:
    label = tool.result or ""
    if isinstance(body, dict) and body.get("Type") == "ValidationException":
        elements = [e for e in body.get("Elements") or [] if isinstance(e, dict)]
        sent = args.get(label) if isinstance(args.get(label), list) else None
        bare = tool.writes and label not in tool.by_name  # a bare object body (tracking): no list to place in
        path = " ".join(f'{p.name} "{args[p.name]}"' for p in tool.located("path") if args.get(p.name))
        causes = partial(causes_only, tool=tool, advice=advice)
        problems = [next_step(p, tool, advice) for p in _located_messages(elements, label, sent, bare, path, causes)]
        head = f"Xero rejected the request (400 ValidationException: {body.get('Message', 'validation failed')})"
        if not problems:
            return head + ". Check the values and try again."
        return head + ":\n" + "\n".join(f"- {p}" for p in problems) + "\n" + _nothing_saved(tool, sent, problems)
    message = _message(body) or "no details"
    kind = _field(body, "Type")
    return next_step(f"Xero rejected the request (400{' ' + kind if kind else ''}): {message}.", tool, advice,
                     default="Check the arguments.")


def _nothing_saved(tool: ToolSpec, sent: list[Any] | None, problems: list[str]) -> str:
    """A 400 saves nothing, even the valid elements of a batch: say so, and how to save those."""
    if sent is None or len(sent) < 2:
        return f"Nothing was saved. Fix {'these' if len(problems) > 1 else 'this'} and call the tool again."
    text = (f"Nothing was saved: Xero rejects the whole batch of {len(sent)} when any element fails. Fix these "
            "and send the batch again")
    if "summarizeErrors" in tool.by_name:
        text += ", or pass summarizeErrors: false to save the valid ones and get each failure reported"
    return text + "."


def next_step(message: str, tool: ToolSpec, advice: Advice, default: str = "") -> str:
    """The message with the next step of the first hint that matches it (or `default`)."""
    hit = hint_for(message, tool, advice)
    if hit is None:
        return f"{message} {default}".rstrip()
    index, match = hit
    said = " ".join(advice.hints[index].say.split()).format_map(_Blank(match.groupdict(default="")))
    found = advice.found.get(index)
    return f"{message} {said}" + (f" {found}" if found else "")


def hint_for(message: str, tool: ToolSpec, advice: Advice) -> tuple[int, re.Match[str]] | None:
    for index, hint in enumerate(advice.hints):
        if hint.tools and tool.name not in hint.tools:
            continue
        match = re.search(hint.match, message, re.IGNORECASE)
        if match is not None:
            return index, match
    return None


def causes_only(messages: list[str], tool: ToolSpec, advice: Advice) -> list[str]:
    """One element's messages without those its hint calls a consequence of another (`follows`): an upsert
    whose ContactID is unknown is also told "the contact name must be specified", and adding a Name would
    not help while the ContactID stays."""
    kept = []
    for message in messages:
        hit = hint_for(message, tool, advice)
        cause = advice.hints[hit[0]].follows if hit is not None else None
        if cause and any(re.search(cause, other, re.IGNORECASE) for other in messages if other is not message):
            continue
        kept.append(message)
    return kept


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "…"


def _located_messages(elements: list[dict[str, Any]], label: str, sent: list[Any] | None,
                      bare: bool, path: str = "", causes: _Filter | None = None) -> list[str]:
    """Each message labelled with the element of the request it is about.

    Xero's 400 lists only the failing elements, so its position is not the request's: an element is placed
    by its ContactID, ContactNumber, Name or ContactGroupID, or by position when Xero echoed every element.
    An element without a name of its own is labelled by the path's ID (`path`), never by Xero's zero UUID.
    """
    found: list[str] = []
    used: set[int] = set()
    for position, element in enumerate(elements):
        index = _place(element, sent, used)
        if index is None and (sent is None or len(elements) == len(sent)):
            index = position  # Xero echoed every element (or there is no request list to match against)
        if index is not None:
            used.add(index)
        named = _label(element) or path
        if bare:
            where = named or "Xero"
        else:
            where = f"{label}[{index}]" if index is not None else f"{label} element"
            where += f" {named}" if named else ""
        found.extend(_messages_in(element, where, causes))
    return found


def _place(element: dict[str, Any], sent: list[Any] | None, used: set[int]) -> int | None:
    if not sent:
        return None
    keys = ("ContactID", "ContactNumber", "Name", "ContactGroupID")
    candidates = []
    for index, item in enumerate(sent):
        if not isinstance(item, dict) or index in used:
            continue
        compared = [key for key in keys if _ident(element.get(key)) and _ident(item.get(key))]
        if compared and all(_ident(element[k]) == _ident(item[k]) for k in compared):
            candidates.append(index)
    return candidates[0] if candidates else None


def _ident(value: Any) -> str:
    text = value.strip().casefold() if isinstance(value, str) else ""
    return "" if text == NIL_UUID else text


def validation_messages(elements: list[Any], prefix: str = "", causes: _Filter | None = None) -> list[str]:
    """Every ValidationErrors message in Xero's elements, nested lists (Addresses, Phones…) included."""
    found: list[str] = []
    for index, element in enumerate(elements):
        if not isinstance(element, dict):
            continue
        label = f"{prefix}[{index}]" + (f" {_label(element)}" if _label(element) else "")
        found.extend(_messages_in(element, label, causes))
    return found


def _messages_in(node: dict[str, Any], label: str, causes: _Filter | None = None) -> list[str]:
    own = [str(e["Message"]) for e in node.get("ValidationErrors") or [] if isinstance(e, dict) and e.get("Message")]
    found = [f"{label}: {m}" for m in (causes(own) if causes is not None else own)]
    for key, value in node.items():
        if key != "ValidationErrors" and isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    found.extend(_messages_in(item, f"{label} {key}[{index}]", causes))
    return found


def _label(element: dict[str, Any]) -> str:
    for key in ("Name", "ContactNumber", "ContactID", "ContactGroupID", "TrackingCategoryID"):
        if isinstance(element.get(key), str) and element[key] and element[key] != NIL_UUID:
            return f'{key} "{element[key]}"'
    return ""


def _not_found(tool: ToolSpec, args: dict[str, Any]) -> str:
    values = {p.name: args.get(p.name) for p in tool.located("path")}
    if tool.not_found:
        return " ".join(tool.not_found.format(**values).split())
    what = ", ".join(f"{name} {value}" for name, value in values.items()) or tool.path
    finders = sorted({p.found_by for p in tool.located("path") if p.found_by})
    hint = f" Find valid IDs with {' and '.join(finders)}." if finders else ""
    explained = [" ".join(p.not_found.split()).format_map(values) for p in tool.located("path") if p.not_found]
    if explained:
        return f"Xero found nothing for {what} (404): {' '.join(explained)}{hint}"
    names = [p.name for p in tool.located("path")]
    if len(names) > 1:  # e.g. an option ID under another category: it may exist, just not under that parent
        return (f"Xero found nothing for {what} (404): there is no {names[-1]} {values[names[-1]]} under "
                f"{names[0]} {values[names[0]]} (it may belong to another one, or not exist).{hint}")
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
