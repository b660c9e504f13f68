"""Run a tool by name: validate → build the request → send → shape the result. No MCP types here."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

import anyio
from pydantic import BaseModel, ValidationError

from ..xero.errors import APIError, XeroError
from ..xero.http import Request, Response
from . import rules
from .catalogue import Catalogue, Lookup, Namesakes, ToolSpec
from .errors import (
    Advice,
    ArgumentsError,
    arguments_error,
    causes_only,
    describe_arguments,
    describe_failure,
    hint_for,
    next_step,
    validation_messages,
)
from .listing import Listing, ToolEntry, from_catalogue
from .models import build_model
from .request import build_request
from .results import ToolResult, compact_json, present

log = logging.getLogger(__name__)
_NAMESAKES_WAIT = 5.0  # seconds the best-effort namesakes read may add to a write (e.g. queued by the limiter)


class Sender(Protocol):
    async def send(self, request: Request) -> Response: ...


class UnknownToolError(LookupError):
    """The name is not one of the served tools (a protocol error, not a tool result)."""


class ToolRunner:
    """Serves the chosen tools. Listing needs only the (cached) listing; the full catalogue, which
    validation and requests need, is loaded on the first call."""

    def __init__(self, catalogue: Catalogue | Callable[[], Catalogue], sender: Sender, *,
                 listing: Listing | None = None, names: list[str] | None = None,
                 raw_results: bool = False, redact: Callable[[str], str] = str) -> None:
        if isinstance(catalogue, Catalogue):
            self._catalogue: Catalogue | None = catalogue
            self._load: Callable[[], Catalogue] = lambda: catalogue
            listing = listing or from_catalogue(catalogue)
        else:
            self._catalogue, self._load = None, catalogue
        if listing is None:
            raise ValueError("a listing is needed when the catalogue is loaded lazily")
        self.listing = listing
        self.redact = redact  # error texts quote Xero; should Xero ever echo a credential, it stops here
        self.sender = sender
        self.raw_results = raw_results
        chosen = set(names if names is not None else [t.name for t in listing.tools])
        self.entries = [t for t in listing.tools if t.name in chosen]
        self.names = [t.name for t in self.entries]
        self._models: dict[str, type[BaseModel]] = {}

    @property
    def catalogue(self) -> Catalogue:
        if self._catalogue is None:
            self._catalogue = self._load()
        return self._catalogue

    @property
    def tools(self) -> dict[str, ToolSpec]:
        return {n: self.catalogue.by_name[n] for n in self.names}

    def definitions(self) -> list[ToolEntry]:
        """What a client is shown for each served tool."""
        return list(self.entries)

    def model(self, name: str) -> type[BaseModel]:
        """Generated on first use, so listing tools never pays for building 22 models."""
        if name not in self._models:
            self._models[name] = build_model(self.catalogue.by_name[name], self.catalogue)
        return self._models[name]

    def validate(self, tool: ToolSpec, arguments: dict[str, Any]) -> dict[str, Any]:
        """Validated arguments by wire name, or ArgumentsError naming each bad parameter."""
        try:
            parsed = self.model(tool.name).model_validate(arguments)
        except ValidationError as exc:
            raise arguments_error(exc, tool, self.catalogue.schemas) from None
        args = parsed.model_dump(by_alias=True, exclude_none=True)
        # first: a refused value names the tool that does it
        refused = rules.problems(tool, args, arguments, self.catalogue.schemas)
        if refused:
            raise ArgumentsError(refused)
        if tool.require_any and not any(name in args for name in tool.require_any):
            names = " or ".join(tool.require_any)
            raise ArgumentsError([(names, "give at least one; there is nothing to send otherwise")])
        return args

    def _check_follow_ups(self, planned: list[rules.Planned], args: dict[str, Any]) -> None:
        """Follow-up arguments are validated before anything is sent, so a bad option cannot leave a
        category created and its options not."""
        found: list[tuple[str, str]] = []
        first: dict[tuple[str, ...], rules.Planned] = {}
        for step in planned:
            other = self.catalogue.by_name[step.rule.tool]
            follow_args = rules.arguments(step, args, None)
            try:
                self.validate(other, follow_args)
            except ArgumentsError as exc:
                found.extend((rules.origin(step, where.split(".")[0].split("[")[0]), message)
                             for where, message in exc.problems)
            # two follow-ups alike in what the tool requires (ignoring case): Xero would refuse the second
            # after the call itself was applied, so it is refused before anything is sent
            keys = [p.name for p in other.params if p.required and p.in_ != "path"]
            same = (other.name, *(str(follow_args.get(p.name, "")).strip().casefold() for p in other.params
                                  if p.required))
            if same in first and keys:
                found.append((step.loc, f"repeats {first[same].loc}: the same {' and '.join(keys)}, ignoring case "
                                        "(Xero would refuse the second after applying the rest); send it once"))
            first.setdefault(same, step)
        if found:
            raise ArgumentsError(found)

    async def run(self, name: str, arguments: dict[str, Any] | None) -> ToolResult:
        if name not in self.names:
            raise UnknownToolError(name)
        return await self._run(self.catalogue.by_name[name], arguments or {})

    async def _run(self, tool: ToolSpec, arguments: dict[str, Any]) -> ToolResult:
        try:
            args = self.validate(tool, arguments)
            planned = rules.plan(tool, args)
            self._check_follow_ups(planned, args)
            carried = rules.carried(planned)
            request = build_request(tool, {k: v for k, v in args.items() if k not in carried})
        except ArgumentsError as exc:
            return ToolResult(self.redact(describe_arguments(tool, exc)), is_error=True)
        try:
            response = await self.sender.send(request)
        except XeroError as exc:
            log.info("%s failed: %s", tool.name, type(exc).__name__)
            advice = await self._advice(tool, args, exc)
            return ToolResult(self.redact(describe_failure(tool, args, exc, advice)), is_error=True)
        result = self._success(tool, args, response, arguments)
        if tool.namesakes is not None and not result.is_error and not self.raw_results:
            notes = await self._namesakes(tool.namesakes, result, response.tenant_id)
            if notes:
                result = ToolResult("\n".join(f"Note: {n}" for n in notes) + "\n" + result.text, result.data)
        if planned and not result.is_error:
            result = await self._follow(tool, args, response, planned, result)
        return result

    async def _namesakes(self, rule: Namesakes, result: ToolResult, tenant: str | None) -> list[str]:
        """Best effort, one read: other records sharing a written record's `field` (e.g. an archived contact
        with a new contact's Name), so the model knows there are two."""
        key = self.catalogue.by_name[rule.tool].result or ""
        written = [r for r in (result.data or {}).values() if isinstance(r, list)]
        records = [r for rows in written for r in rows if isinstance(r, dict) and isinstance(r.get(rule.field), str)]
        values = {str(r[rule.field]).strip().casefold(): r.get(rule.same) for r in records}
        if not values:
            return []
        quoted = sorted({'"' + str(r[rule.field]).replace("\\", "\\\\").replace('"', '\\"') + '"' for r in records})
        args: dict[str, Any] = dict(rule.args) | {
            "where": rule.where.replace("{any}", " OR ".join(f"{rule.field}=={q}" for q in quoted))}
        if tenant and "xero-tenant-id" in self.catalogue.by_name[rule.tool].by_name:
            args["xero-tenant-id"] = tenant
        found: ToolResult | None = None
        with anyio.move_on_after(_NAMESAKES_WAIT):  # a note is not worth holding up a write's answer
            found = await self._run(self.catalogue.by_name[rule.tool], args)
        rows = (found.data or {}).get(key) if found is not None and not found.is_error else None
        notes = []
        for row in rows if isinstance(rows, list) else []:
            if not isinstance(row, dict):
                continue
            mine = values.get(str(row.get(rule.field, "")).strip().casefold(), row.get(rule.same))
            if row.get(rule.same) != mine:
                fields = defaultdict(lambda: "…", {k: str(v) for k, v in row.items()})
                notes.append(" ".join(rule.say.split()).format_map(fields))
        return notes

    async def _advice(self, tool: ToolSpec, args: dict[str, Any], exc: XeroError) -> Advice:
        """The catalogue's hints, plus what their lookups find for this 400 (e.g. the clashing option's ID)."""
        hints = self.catalogue.hints
        if not isinstance(exc, APIError) or exc.status != 400:
            return Advice(hints)
        found: dict[int, str] = {}
        tried: set[int] = set()
        for message in _messages(exc.body):  # a lookup only for the hint each message will be shown with
            hit = hint_for(message, tool, Advice(hints))
            if hit is None or hit[0] in tried or (lookup := hints[hit[0]].lookup) is None:
                continue
            tried.add(hit[0])
            sentence = await self._look_up(lookup, args, hit[1].groupdict(default=""), exc.tenant_id)
            if sentence:
                found[hit[0]] = sentence
        return Advice(hints, found)

    async def _look_up(self, lookup: Lookup, args: dict[str, Any], groups: dict[str, str],
                       tenant: str | None) -> str | None:
        """Best effort: a read that fails or finds nothing adds nothing to the error."""
        def source(spec: str) -> Any:
            head, _, rest = spec.partition(".")
            return args.get(rest) if head == "args" else groups.get(rest)

        other = self.catalogue.by_name[lookup.tool]
        look_args = {name: source(spec) for name, spec in lookup.args.items() if source(spec)}
        if tenant and "xero-tenant-id" in other.by_name:
            look_args["xero-tenant-id"] = tenant
        result = await self._run(other, look_args)
        records = rules.dig(result.data, lookup.find.split(".")) if not result.is_error else None
        wanted = {name: str(source(spec) or "").strip().casefold() for name, spec in lookup.match.items()}
        for record in records if isinstance(records, list) else []:
            if isinstance(record, dict) and all(str(record.get(k, "")).strip().casefold() == v
                                                for k, v in wanted.items()):
                return " ".join(lookup.say.split()).format_map({k: str(v) for k, v in record.items()})
        return None

    async def _follow(self, tool: ToolSpec, args: dict[str, Any], response: Response,
                      planned: list[rules.Planned], result: ToolResult) -> ToolResult:
        """Run each follow-up in order, in the same organisation, and report every outcome."""
        outcomes: list[dict[str, Any]] = []
        lines: list[str] = []
        failed = 0
        for index, step in enumerate(planned):
            other = self.catalogue.by_name[step.rule.tool]
            follow_args = rules.arguments(step, args, response.body)
            if response.tenant_id and "xero-tenant-id" in other.by_name:
                follow_args["xero-tenant-id"] = response.tenant_id
            key = rules.derived_key(response.idempotency_key, index)
            if key and "Idempotency-Key" in other.by_name:
                follow_args["Idempotency-Key"] = key
            missing = [src for name, src in step.rule.args.items()
                       if src.startswith("result.") and name not in follow_args]
            if missing:  # never guess an ID: say what is left to do
                done = ToolResult(f"Xero's answer did not include {missing[0].removeprefix('result.')}, so this was "
                                  f"not carried out: do it with {other.name}.", is_error=True)
            else:
                done = await self._run(other, follow_args)
            entry: dict[str, Any] = {"For": step.loc, "Tool": other.name}
            if done.is_error:
                failed += 1
                entry["Error"] = done.text
                said = "\n".join(line for line in done.text.splitlines() if not line.startswith("Nothing was saved"))
                retry = {k: v for k, v in follow_args.items() if k not in ("Idempotency-Key", "xero-tenant-id")}
                lines.append(f"- {step.loc} via {other.name} FAILED: " + said.replace("\n", "\n    ")
                             + f"\n    Retry only this part, fixed: {other.name} {compact_json(retry)}")
            else:
                entry["Result"] = done.data
                lines.append(f"- {step.loc} via {other.name}: done.")
            outcomes.append(entry)
        data = dict(result.data or {}) | {"FollowUps": outcomes}
        if failed:
            head = (f"{tool.title}: Xero applied this call, but {failed} of {len(planned)} follow-up calls failed "
                    "(details below). Do not repeat this call; repeat only the failed parts with the tool named.")
        else:
            head = f"{tool.title}: done, with {len(planned)} follow-up call(s) for what this call cannot set:"
        text = head + "\n" + "\n".join(lines) + "\n" + result.text
        if not failed:
            text += "\nFollow-up results: " + compact_json([o.get("Result") for o in outcomes])
        return ToolResult(text, data, is_error=bool(failed))

    def _success(self, tool: ToolSpec, args: dict[str, Any], response: Response,
                 given: dict[str, Any] | None = None) -> ToolResult:
        if response.body in (None, ""):
            deleted = {p.name: args[p.name] for p in tool.located("path")}
            data: dict[str, Any] = {"Deleted": deleted, "Message": f"{tool.title}: done."}
            return ToolResult(compact_json(data), data)
        data, text = present(tool, args, response.body, self.catalogue.omit_defaults, raw=self.raw_results)
        schemas = self.catalogue.schemas
        replaced = rules.replaced(tool, schemas, args)
        notes = [*([replaced] if replaced else []), *rules.ignored(tool, schemas, given or {}, response.body)]
        if notes:
            text = "\n".join(f"Note: {n}" for n in notes) + "\n" + text
        advice = Advice(self.catalogue.hints)
        causes = partial(causes_only, tool=tool, advice=advice)
        failed = [next_step(p, tool, advice) for p in _partial_failures(response.body, tool.result, causes)]
        if failed:
            return ToolResult(self.redact(_partial_text(tool, response, failed)) + "\n" + text, data, is_error=True)
        return ToolResult(text, data)


def _messages(body: Any) -> list[str]:
    """Every message string in Xero's error body (top level, elements and nested ValidationErrors)."""
    if isinstance(body, str):
        return [body]
    found: list[str] = []
    if isinstance(body, dict):
        for key, value in body.items():
            if key in ("Message", "Detail") and isinstance(value, str):
                found.append(value)
            elif isinstance(value, dict | list):
                found.extend(_messages(value))
    elif isinstance(body, list):
        for item in body:
            found.extend(_messages(item))
    return found


def _partial_failures(body: Any, key: str | None, causes: Callable[[list[str]], list[str]]) -> list[str]:
    """Elements Xero marked failed inside a 200 (summarizeErrors=false)."""
    items = body.get(key) if isinstance(body, dict) and key else None
    if not isinstance(items, list):
        return []
    failed = [item if _failed(item) else {} for item in items]
    if not any(failed):
        return []
    return validation_messages(failed, prefix=key or "", causes=causes)


def _failed(item: Any) -> bool:
    return isinstance(item, dict) and (
        item.get("StatusAttributeString") == "ERROR" or item.get("HasValidationErrors") is True
    )


def _partial_text(tool: ToolSpec, response: Response, problems: list[str]) -> str:
    """Saved records first (some clients show little of an error result), then what was rejected."""
    key = tool.result or ""
    items = response.body.get(key) or []
    saved = [(i, item) for i, item in enumerate(items) if isinstance(item, dict) and not _failed(item)]
    id_key = next((k for k in ("ContactID", "ContactGroupID", "TrackingOptionID") if any(k in it for _, it in saved)),
                  None)
    lines = [f"Xero saved {len(saved)} of {len(items)}; {len(items) - len(saved)} rejected, not saved."]
    if saved:
        lines.append("Saved (do not send these again):")
        lines += [f"- {key}[{i}]" + (f' {id_key} {item.get(id_key)}' if id_key else "")
                  + (f' "{item["Name"]}"' if isinstance(item.get("Name"), str) else "") for i, item in saved]
    lines.append("Rejected:")
    lines += [f"- {p}" for p in problems]
    lines.append("Fix the rejected ones and send only those again.")
    return "\n".join(lines)
