"""tools.yaml → a validated catalogue.

The file is checked by its own model when it is loaded, so a typo fails at start-up with a
message naming the tool and the key instead of surfacing as a strange schema later.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Location = Literal["header", "path", "query", "body"]
JsonType = Literal["string", "integer", "number", "boolean", "array", "object"]
PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


class CatalogueError(ValueError):
    """tools.yaml is malformed; the message names the tool and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Node(_Strict):
    """A JSON-Schema-like description of one value (parameter, field or shared schema)."""

    type: JsonType | None = None
    description: str | None = None
    enum: list[str] | None = None
    format: Literal["uuid", "date-time"] | None = None
    minLength: int | None = Field(default=None, ge=0)
    maxLength: int | None = Field(default=None, ge=1)
    pattern: str | None = None
    minimum: int | None = None
    maximum: int | None = None
    items: Node | None = None
    minItems: int | None = Field(default=None, ge=0)
    maxItems: int | None = Field(default=None, ge=1)
    properties: dict[str, Node] | None = None
    minProperties: int | None = Field(default=None, ge=1)
    """Published only (e.g. an update item must set something); the tool's rules refuse an empty item."""
    required: list[str] | None = None
    ref: str | None = None
    ignore: list[str] | None = None
    ignore_fields_of: str | None = None
    read_only: dict[str, str | None] | None = None
    """Response fields a fetched record carries (each also in `ignore`): published as `readOnly`, with an
    optional description, so a model knows that echoing them back into a write is harmless and changes nothing."""
    advertise: dict[str, Any] | None = None
    publish: dict[str, dict[str, Any] | None] | None = None
    """(with `ref`) what this use publishes for fields of the shared schema, where one text cannot fit every
    tool: a field's keys here replace the shared ones (`description`, `advertise`); null leaves the field out
    of this tool's published schema. Publishing only: input is validated as the shared schema says (a value
    Xero would ignore is refused by the tool's `refuse` rules, or answered by Xero)."""

    @model_validator(mode="after")
    def _typed(self) -> Node:
        if self.type is None and self.ref is None:
            raise ValueError("needs a 'type' or a 'ref'")
        if self.type == "array" and self.items is None:
            raise ValueError("an array needs 'items'")
        return self


class Param(Node):
    """A tool parameter: a Node plus where Xero reads it."""

    name: str
    in_: Location = Field(alias="in")
    required: bool = False  # type: ignore[assignment]  # a flag here, a list of names on objects
    ignored: bool = False
    refuse: str | None = None
    """A non-empty value is refused with this sentence (naming the tool that does it); empty ones pass."""
    not_found: str | None = None
    """(a path parameter) what Xero's 404 means for it, e.g. that deleted groups are not shown; {Name} placeholders."""
    found_by: str | None = None
    default: int | None = None
    """Sent when the call gives no value (page 1: a list never arrives unpaged); not published, as clients
    that fill in published defaults would then always send it."""


class Annotations(_Strict):
    """All four MCP hints, explicitly: a missing hint makes clients guess (and ask approval for reads)."""

    readOnlyHint: bool
    destructiveHint: bool
    idempotentHint: bool
    openWorldHint: bool


class Compact(_Strict):
    """How a list result is shown: each record without the `drop` fields, unless the call gave one of `unless`.

    Keeps a page of records within what clients pass to a model; `note` (prefixed to the text) says where
    the dropped fields are.
    """

    drop: list[str] = Field(min_length=1)
    unless: list[str] = Field(default_factory=list)
    note: str


class Requested(_Strict):
    """A read that takes a list of IDs (`param`) may return fewer records than asked for (Xero drops archived
    and unknown ones without a word); the result then lists the missing ones, `say` formatted with {missing},
    {asked} and {ids}. `say_if` swaps in another text when that parameter is true (e.g. archived included)."""

    param: str
    field: str
    say: str
    say_if: dict[str, str] = Field(default_factory=dict)


class Refusal(_Strict):
    """A value Xero would accept and then ignore: refused before sending, with one sentence naming the tool
    that does it. `at` is a parameter, or a field inside it (`ContactGroups.Status`, arrays crossed); without
    `values` any non-empty value is refused, with them only those."""

    at: str
    values: list[str] | None = None
    say: str


class FollowUp(_Strict):
    """A parameter Xero ignores on this call, carried out by another tool after it succeeds.

    `args` maps the follow-up tool's parameters to where their values come from: `value` (this parameter's
    value), `item.Field` (each element's field, with `each`), `args.Name` (this call's arguments) or
    `result.Key.0.Field` (Xero's answer to this call). Absent values are left out. `when` limits it to
    those values (the others are what Xero does anyway)."""

    param: str
    tool: str
    each: bool = False
    when: list[str] | None = None
    args: dict[str, str]


class Lookup(_Strict):
    """A read that finds what a hint needs (e.g. the existing option's TrackingOptionID).

    `tool` runs with `args` (sources `args.Name` or `group.name`, the hint's regex group); in its result the
    list at `find` (`TrackingCategories.0.Options`) is searched for the record whose fields in `match` equal
    those sources, ignoring case; `say` is then formatted with that record's fields."""

    tool: str
    args: dict[str, str]
    find: str
    match: dict[str, str]
    say: str


class Hint(_Strict):
    """The next step for a Xero error message we know: `match` is a regular expression (case-insensitive)
    over the message, its named groups fill `say`; `tools` limits it to those tools."""

    match: str
    say: str
    tools: list[str] | None = None
    lookup: Lookup | None = None
    follows: str | None = None
    """A regular expression: when another message of the same element matches it, this message is its mere
    consequence and is left out (so the model fixes the cause, not the symptom)."""


class Namesakes(_Strict):
    """After a successful write, a read for other records that share a field value with those written (an
    archived contact holding a new contact's Name: Xero allows it, and the model should know).

    `tool` (a read) runs with `args` plus `where`, whose `{any}` becomes `Field=="value" OR …` over the
    written records' `field`; each record found whose `same` key differs from the written one's adds `say`
    (formatted with the found record's fields)."""

    tool: str
    field: str
    same: str
    where: str
    args: dict[str, Any] = Field(default_factory=dict)
    say: str


class ToolSpec(_Strict):
    name: str = Field(pattern=r"^xero_contacts_[a-z_]+$")
    title: str
    toolset: str
    description: str
    annotations: Annotations
    method: Literal["GET", "PUT", "POST", "DELETE"]
    path: str = Field(pattern=r"^/")
    scopes: list[str]
    result: str | None = None
    output: Node | None = None
    not_found: str | None = None
    require_any: list[str] | None = None
    same_as_path: dict[str, str] | None = None
    """Body fields (`Contacts.ContactID`) that must equal a path parameter when given: refused otherwise."""
    refuse: list[Refusal] | None = None
    follow_ups: list[FollowUp] | None = None
    compact: Compact | None = None
    requested: Requested | None = None
    namesakes: Namesakes | None = None
    params: list[Param]

    @cached_property
    def by_name(self) -> dict[str, Param]:
        return {p.name: p for p in self.params}

    def located(self, where: Location) -> list[Param]:
        return [p for p in self.params if p.in_ == where]

    @property
    def writes(self) -> bool:
        return self.method in ("PUT", "POST")


class Catalogue(_Strict):
    version: Literal[1]
    instructions: str
    toolsets: dict[str, str]
    params: dict[str, Any] = Field(default_factory=dict)  # anchors only; resolved by YAML itself
    schemas: dict[str, Node]
    hints: list[Hint] = Field(default_factory=list)
    """Next steps for the Xero error messages we know (tools/errors.py appends them)."""
    omit_defaults: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Per result key, record fields left out of results when they hold this value ("absent means …")."""
    tools: list[ToolSpec]

    @cached_property
    def by_name(self) -> dict[str, ToolSpec]:
        return {t.name: t for t in self.tools}


def default_path() -> Path:
    """The packaged tools.yaml, or the repository copy when running from a checkout."""
    here = Path(__file__).resolve().parent.parent
    packaged = here / "tools.yaml"
    return packaged if packaged.is_file() else here.parent.parent / "tools.yaml"


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Read and validate tools.yaml; raise CatalogueError naming the tool and key on any mistake."""
    import yaml

    path = path or default_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogueError(f"cannot read tools file {path}: {exc.strerror}") from None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        raw = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{path.name} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise CatalogueError(f"{path.name} must be a mapping with 'tools', 'schemas' and 'toolsets'")
    catalogue = _validate(raw, path.name)
    _check_references(catalogue, path.name)
    return catalogue


def _validate(raw: dict[str, Any], source: str) -> Catalogue:
    tools = raw.get("tools")
    if isinstance(tools, list):  # validate tool by tool so the message can name the tool
        for index, tool in enumerate(tools):
            name = tool.get("name", f"#{index + 1}") if isinstance(tool, dict) else f"#{index + 1}"
            try:
                ToolSpec.model_validate(tool)
            except ValidationError as exc:
                raise CatalogueError(f"{source}: tool {name}: {_first(exc, tool)}") from None
    try:
        return Catalogue.model_validate(raw)
    except ValidationError as exc:
        raise CatalogueError(f"{source}: {_first(exc, raw)}") from None


def _first(exc: ValidationError, root: Any) -> str:
    """Describe one error as `key path: problem`, using parameter names instead of indexes.

    An unknown key is reported before anything else: a misspelt key also makes the real one "missing".
    """
    errors = exc.errors()
    error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    parts: list[str] = []
    node = root
    for step in error["loc"]:
        if isinstance(step, int) and isinstance(node, list) and step < len(node):
            node = node[step]
            label = node.get("name") if isinstance(node, dict) else None
            parts.append(f"[{label}]" if label else f"[{step}]")
            continue
        parts.append(f".{step}")
        node = node.get(step) if isinstance(node, dict) else None
    where = "".join(parts).lstrip(".")
    message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
    return f"{where}: {message}"


def _check_references(catalogue: Catalogue, source: str) -> None:
    """Cross-checks a schema cannot express: refs, toolsets, finders, path placeholders, names."""
    schemas = catalogue.schemas
    seen: set[str] = set()
    for tool in catalogue.tools:
        where = f"{source}: tool {tool.name}"
        if tool.name in seen:
            raise CatalogueError(f"{where}: duplicate tool name")
        seen.add(tool.name)
        if tool.toolset not in catalogue.toolsets:
            raise CatalogueError(f"{where}: toolset {tool.toolset!r} is not declared under 'toolsets'")
        names = [p.name for p in tool.params]
        if len(set(names)) != len(names):
            raise CatalogueError(f"{where}: a parameter name appears twice")
        placeholders = set(PLACEHOLDER.findall(tool.path))
        path_params = {p.name for p in tool.located("path")}
        if placeholders != path_params:
            raise CatalogueError(
                f"{where}: path {tool.path} placeholders {sorted(placeholders)} "
                f"do not match its path parameters {sorted(path_params)}"
            )
        for param in tool.params:
            if param.in_ == "path" and not param.required:
                raise CatalogueError(f"{where}: parameter {param.name}: path parameters must be required")
            if param.found_by and param.found_by not in {t.name for t in catalogue.tools}:
                raise CatalogueError(f"{where}: parameter {param.name}: found_by names no tool")
            _check_node(param, schemas, f"{where}: parameter {param.name}")
        for name in tool.require_any or []:
            if name not in tool.by_name:
                raise CatalogueError(f"{where}: require_any names unknown parameter {name!r}")
        _check_rules(tool, catalogue, where)
        if tool.compact is not None and tool.result is None:
            raise CatalogueError(f"{where}: compact needs the tool's 'result' key")
        for name in tool.compact.unless if tool.compact else []:
            if name not in tool.by_name:
                raise CatalogueError(f"{where}: compact.unless names unknown parameter {name!r}")
    for name, node in schemas.items():
        _check_node(node, schemas, f"{source}: schema {name}")
    _check_hints(catalogue, source)


def _check_hints(catalogue: Catalogue, source: str) -> None:
    for index, hint in enumerate(catalogue.hints):
        where = f"{source}: hints[{index}]"
        try:
            groups = set(re.compile(hint.match).groupindex)
        except re.error as exc:
            raise CatalogueError(f"{where}: match is not a regular expression ({exc})") from None
        try:
            re.compile(hint.follows or "")
        except re.error as exc:
            raise CatalogueError(f"{where}: follows is not a regular expression ({exc})") from None
        for name in hint.tools or []:
            if name not in catalogue.by_name:
                raise CatalogueError(f"{where}: tools names unknown tool {name!r}")
        if hint.lookup is None:
            continue
        tool = catalogue.by_name.get(hint.lookup.tool)
        if tool is None or tool.method != "GET":
            raise CatalogueError(f"{where}: lookup.tool must name a tool that reads")
        for source_ in [*hint.lookup.args.values(), *hint.lookup.match.values()]:
            head, _, rest = source_.partition(".")
            if head not in ("args", "group") or not rest or (head == "group" and rest not in groups):
                raise CatalogueError(f"{where}: lookup source {source_!r} must be args.Name or group.name "
                                     "(a named group of match)")


def _check_rules(tool: ToolSpec, catalogue: Catalogue, where: str) -> None:
    """same_as_path, refuse and follow_ups name real parameters and tools."""
    for field, path_param in (tool.same_as_path or {}).items():
        if field.split(".")[0] not in tool.by_name:
            raise CatalogueError(f"{where}: same_as_path names unknown parameter {field!r}")
        if path_param not in {p.name for p in tool.located("path")}:
            raise CatalogueError(f"{where}: same_as_path: {path_param!r} is not a path parameter")
    for refusal in tool.refuse or []:
        if refusal.at.split(".")[0] not in tool.by_name:
            raise CatalogueError(f"{where}: refuse names unknown parameter {refusal.at!r}")
    if tool.requested is not None:
        for name in [tool.requested.param, *tool.requested.say_if]:
            if name not in tool.by_name:
                raise CatalogueError(f"{where}: requested names unknown parameter {name!r}")
    if tool.namesakes is not None:
        other = catalogue.by_name.get(tool.namesakes.tool)
        if other is None or other.method != "GET" or "where" not in other.by_name:
            raise CatalogueError(f"{where}: namesakes.tool must name a tool that reads with `where`")
        if "{any}" not in tool.namesakes.where:
            raise CatalogueError(f"{where}: namesakes.where needs the {{any}} placeholder")
    for follow in tool.follow_ups or []:
        if follow.param not in tool.by_name:
            raise CatalogueError(f"{where}: follow_ups names unknown parameter {follow.param!r}")
        other = catalogue.by_name.get(follow.tool)
        if other is None:
            raise CatalogueError(f"{where}: follow_ups names unknown tool {follow.tool!r}")
        for name, source in follow.args.items():
            if name not in other.by_name:
                raise CatalogueError(f"{where}: follow_ups: {follow.tool} has no parameter {name!r}")
            head = source.split(".")[0]
            if source != "value" and (head not in ("item", "args", "result") or "." not in source):
                raise CatalogueError(f"{where}: follow_ups: {name}: source must be value, item.F, args.N or "
                                     f"result.K…, not {source!r}")
            if head == "item" and not follow.each:
                raise CatalogueError(f"{where}: follow_ups: {name}: item.… needs each: true")


def _check_node(node: Node, schemas: dict[str, Node], where: str, depth: int = 0) -> None:
    if depth > 12:
        raise CatalogueError(f"{where}: schemas nest too deeply (a ref cycle?)")
    for ref in (node.ref, node.ignore_fields_of):
        if ref is not None and ref not in schemas:
            raise CatalogueError(f"{where}: ref {ref!r} is not declared under 'schemas'")
    if set(node.read_only or {}) - set(node.ignore or []):
        raise CatalogueError(f"{where}: read_only fields must also be in ignore (they are dropped on input)")
    if node.ref is not None:
        _check_node(schemas[node.ref], schemas, f"{where} → {node.ref}", depth + 1)
        shared = {**(schemas[node.ref].properties or {}), **(schemas[node.ref].read_only or {})}
        for key, override in (node.publish or {}).items():
            if key not in shared:
                raise CatalogueError(f"{where}: publish names {key!r}, not a field of {node.ref}")
            if override and set(override) - {"description", "advertise"}:
                raise CatalogueError(f"{where}: publish.{key} may set only description and advertise")
    elif node.publish is not None:
        raise CatalogueError(f"{where}: publish needs a ref (it adjusts a shared schema's fields)")
    if node.items is not None:
        _check_node(node.items, schemas, f"{where}[]", depth + 1)
    for key, child in (node.properties or {}).items():
        _check_node(child, schemas, f"{where}.{key}", depth + 1)
