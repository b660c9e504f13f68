"""Catalogue → pydantic input models, generated at start-up (no hand-written per-tool code).

Models are strict (a "2" is not an integer, "true" is not a boolean) so that what the model was
told by the advertised schema is exactly what is accepted. Wire names that are not Python
identifiers (`xero-tenant-id`, `If-Modified-Since`) become aliases.
"""

from __future__ import annotations

import keyword
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model, model_validator

from .catalogue import Catalogue, Node, ToolSpec
from .schema import resolve

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HEADER_SAFE = re.compile(r"^[\x20-\x7e]*$")  # printable ASCII: what an HTTP header can carry unchanged
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_LONG_ENUM = 12  # beyond this an enum error lists examples, not every value


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", populate_by_name=False, frozen=True)


def _uuid(value: str) -> str:
    # A pattern, not uuid.UUID(): that also accepts braces, "urn:uuid:" and Unicode digits (look-alikes).
    if not _UUID.match(value):
        raise ValueError("must be a UUID such as 297c2dc5-cc47-4afd-8ec8-74990b8761e9")
    return value


def _datetime(value: str) -> str:
    """Accept ISO 8601 (a bare date or naive time is UTC); send Xero second precision in UTC."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError("must be an ISO 8601 date-time such as 2024-01-31T09:30:00Z") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        utc = parsed.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+05:00 is before year 1 in UTC
        raise ValueError("must be a date-time within years 1 to 9999 in UTC") from None
    return utc.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"  # isoformat pads the year


def _no_control(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain line breaks or control characters")
    return value


def _header_safe(value: str) -> str:
    _no_control(value)
    if not _HEADER_SAFE.match(value):
        raise ValueError("must be printable ASCII (it is sent as an HTTP header)")
    return value


def _one_of(values: list[str]) -> Any:
    allowed = frozenset(values)
    sample = ", ".join(values[:3])

    def check(value: str) -> str:
        if value not in allowed:
            if value.strip().upper() in allowed:  # Xero's codes are upper case: say which one was meant
                raise ValueError(f"must be upper case: use {value.strip().upper()}")
            raise ValueError(f"must be one of Xero's {len(values)} codes (e.g. {sample})")
        return value

    return check


def _annotate(node: Node, schemas: dict[str, Node], name: str, header: bool = False, path: bool = False) -> Any:
    """The Python type (with constraints) that validates one resolved node."""
    node = resolve(node, schemas)
    kind = node.type
    if kind == "string":
        if node.enum is not None and len(node.enum) <= _LONG_ENUM:
            return Literal[tuple(node.enum)]
        checks: list[Any] = []
        if node.enum is not None:
            checks.append(AfterValidator(_one_of(node.enum)))
        if node.format == "uuid":
            checks.append(AfterValidator(_uuid))
        elif node.format == "date-time":
            checks.append(AfterValidator(_datetime))
        if header:
            checks.append(AfterValidator(_header_safe))
        elif path:
            checks.append(AfterValidator(_no_control))
        field = Field(min_length=node.minLength, max_length=node.maxLength, pattern=node.pattern)
        return Annotated[str, field, *checks]
    if kind == "integer":
        return Annotated[int, Field(ge=node.minimum, le=node.maximum)]
    if kind == "number":
        return float
    if kind == "boolean":
        return bool
    if kind == "array":
        assert node.items is not None
        item = _annotate(node.items, schemas, f"{name}Item")
        return Annotated[list[item], Field(min_length=node.minItems, max_length=node.maxItems)]  # type: ignore[valid-type]
    return _object_model(node, schemas, name)


def _object_model(node: Node, schemas: dict[str, Node], name: str) -> type[BaseModel]:
    """A nested object: unknown keys refused, known response-only keys dropped silently."""
    required = set(node.required or [])
    fields: dict[str, Any] = {}
    for key, child in (node.properties or {}).items():
        fields[_identifier(key)] = _field(_annotate(child, schemas, f"{name}_{key}"), key, key in required)
    dropped = set(node.ignore or [])
    if node.ignore_fields_of is not None:
        other = resolve(schemas[node.ignore_fields_of], schemas)
        dropped |= set(other.properties or {}) | set(other.ignore or [])
    dropped -= set(node.properties or {})
    validators = {"_drop_response_fields": _dropper(frozenset(dropped))} if dropped else {}
    return create_model(name, __base__=Strict, __validators__=validators, **fields)


def _dropper(dropped: frozenset[str]) -> Any:
    def drop(cls: type[BaseModel], data: Any) -> Any:
        if isinstance(data, dict) and dropped.intersection(data):
            return {k: v for k, v in data.items() if k not in dropped}
        return data

    return model_validator(mode="before")(drop)


def _field(annotation: Any, alias: str, required: bool) -> tuple[Any, Any]:
    if required:
        return (annotation, Field(alias=alias))
    return (annotation | None, Field(default=None, alias=alias))


def _identifier(name: str) -> str:
    """A safe attribute name; the wire name lives in the alias (and BaseModel's own names are avoided)."""
    ident = re.sub(r"\W", "_", name)
    if keyword.iskeyword(ident) or ident.startswith(("model_", "_")) or hasattr(BaseModel, ident):
        ident = f"f_{ident}"
    return ident


def build_model(tool: ToolSpec, catalogue: Catalogue) -> type[BaseModel]:
    """The input model of one tool: its arguments by wire name, strictly typed."""
    fields: dict[str, Any] = {}
    prefix = "".join(part.title() for part in tool.name.removeprefix("xero_contacts_").split("_"))
    for param in tool.params:
        annotation = _annotate(param, catalogue.schemas, f"{prefix}_{_identifier(param.name)}",
                               header=param.in_ == "header", path=param.in_ == "path")
        fields[_identifier(param.name)] = _field(annotation, param.name, param.required)
    return create_model(f"{prefix}Arguments", __base__=Strict, **fields)
