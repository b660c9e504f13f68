"""Xero's `where` and `order` query syntax: the subset the API documents, strictly.

Supported: `Field == value` (also `=`, `!=`), `AND`/`OR` (also `&&`/`||`), parentheses,
`Field.Contains("x")`, `.StartsWith("x")`, `.EndsWith("x")`, string literals, `true`/`false`,
`null`, and `Guid("...")`. String comparison is case-insensitive like Xero's SQL collation.
Anything else raises `QueryError` naming the part that is not supported, so a client that relies on
an unsupported form fails in the sandbox instead of silently getting an unfiltered list.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["string", "enum", "bool", "guid", "date"]
Row = Mapping[str, Any]
Predicate = Callable[[Row], bool]


class QueryError(ValueError):
    """A `where`/`order` expression (or query parameter) the sandbox, like Xero, cannot evaluate."""


@dataclass(frozen=True)
class FieldSpec:
    """A filterable field: its kind, and for enums the allowed values."""

    kind: Kind
    values: tuple[str, ...] = ()


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op>==|!=|<>|>=|<=|&&|\|\||[=<>!])
      | (?P<punct>[().,\[\]])
    )""",
    re.VERBOSE,
)
_METHODS: dict[str, Callable[[str, str], bool]] = {
    "contains": lambda hay, needle: needle in hay,
    "startswith": str.startswith,
    "endswith": str.endswith,
}


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            stripped = len(text) - len(text[pos:].lstrip())
            raise QueryError(f"Syntax error: unexpected character {text[stripped]!r} at position {stripped}")
        kind = match.lastgroup or "punct"
        tokens.append(_Tok(kind, match.group(kind), match.start(kind)))
        pos = match.end()
    return tokens


def _unquote(literal: str) -> str:
    return re.sub(r"\\(.)", r"\1", literal[1:-1])


def _canon(value: str) -> str:
    return value.casefold()


class _Parser:
    def __init__(self, text: str, fields: Mapping[str, FieldSpec], type_name: str) -> None:
        self.tokens = _tokenize(text)
        self.i = 0
        self.fields = {name.casefold(): (name, spec) for name, spec in fields.items()}
        self.type_name = type_name

    def peek(self) -> _Tok | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise QueryError("Syntax error: the expression ends unexpectedly")
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        if self.peek() is None:
            raise QueryError(f"Syntax error: expected {text!r} but the expression ended")
        tok = self.take()
        if tok.text != text:
            raise QueryError(f"Syntax error: expected {text!r} at position {tok.pos}, found {tok.text!r}")

    def parse(self) -> Predicate:
        predicate = self.parse_or()
        tok = self.peek()
        if tok is not None:
            raise QueryError(f"Syntax error: unexpected {tok.text!r} at position {tok.pos}")
        return predicate

    def _is(self, *words: str) -> bool:
        tok = self.peek()
        return tok is not None and (tok.text.casefold() in words)

    def parse_or(self) -> Predicate:
        parts = [self.parse_and()]
        while self._is("or", "||"):
            self.take()
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else (lambda row: any(p(row) for p in parts))

    def parse_and(self) -> Predicate:
        parts = [self.parse_atom()]
        while self._is("and", "&&"):
            self.take()
            parts.append(self.parse_atom())
        return parts[0] if len(parts) == 1 else (lambda row: all(p(row) for p in parts))

    def parse_atom(self) -> Predicate:
        tok = self.take()
        if tok.text == "(":
            inner = self.parse_or()
            self.expect(")")
            return inner
        if tok.text == "!" or tok.text.casefold() == "not":
            raise QueryError(f"The operator {tok.text!r} is not supported in where; use != instead")
        if tok.kind != "ident":
            raise QueryError(f"Syntax error: expected a field name at position {tok.pos}, found {tok.text!r}")
        entry = self.fields.get(tok.text.casefold())
        if entry is None:
            raise QueryError(f"No property or field '{tok.text}' exists in type '{self.type_name}'")
        name, spec = entry
        if spec.kind == "date":
            raise QueryError(
                f"Filtering on '{name}' is not supported; use the If-Modified-Since header for changes since a date"
            )
        nxt = self.peek()
        if nxt is not None and nxt.text == ".":
            return self.parse_method(name, spec)
        if nxt is not None and nxt.text == "[":
            raise QueryError(f"Indexing '{name}[...]' is not supported in where")
        op = self.take()
        if op.kind != "op":
            raise QueryError(f"Syntax error: expected an operator after '{name}', found {op.text!r}")
        if op.text not in ("==", "=", "!="):
            raise QueryError(f"The operator '{op.text}' is not supported in where; only ==, = and != are")
        value = self.parse_value(name, spec)
        test = self.equality(name, spec, value)
        return test if op.text != "!=" else (lambda row: not test(row))

    def parse_method(self, name: str, spec: FieldSpec) -> Predicate:
        self.take()  # the dot
        method = self.take()
        func = _METHODS.get(method.text.casefold())
        if method.kind != "ident" or func is None:
            raise QueryError(
                f"The method '{method.text}' is not supported in where; use Contains, StartsWith or EndsWith"
            )
        if spec.kind not in ("string", "enum"):
            raise QueryError(f"The method '{method.text}' applies to text fields, not to '{name}'")
        self.expect("(")
        arg = self.take()
        if arg.kind != "string":
            raise QueryError(f"'{name}.{method.text}' needs a quoted string argument, found {arg.text!r}")
        self.expect(")")
        needle = _canon(_unquote(arg.text))
        return lambda row: row.get(name) is not None and func(_canon(str(row[name])), needle)

    def parse_value(self, name: str, spec: FieldSpec) -> Any:
        tok = self.take()
        word = tok.text.casefold()
        if tok.kind == "string":
            return _unquote(tok.text)
        if tok.kind == "ident" and word in ("true", "false"):
            return word == "true"
        if tok.kind == "ident" and word == "null":
            return None
        if tok.kind == "ident" and word == "guid":
            self.expect("(")
            arg = self.take()
            if arg.kind != "string":
                raise QueryError(f"Guid(...) needs a quoted string, found {arg.text!r}")
            self.expect(")")
            return _GuidLiteral(_unquote(arg.text))
        raise QueryError(f"Unsupported value {tok.text!r} for '{name}' at position {tok.pos}")

    def equality(self, name: str, spec: FieldSpec, value: Any) -> Predicate:
        if value is None:
            if spec.kind != "string":
                raise QueryError(f"'{name}' cannot be compared with null")
            return lambda row: row.get(name) in (None, "")
        if spec.kind == "bool":
            if not isinstance(value, bool):
                raise QueryError(f"Operator '==' incompatible with operand types 'Boolean' and '{_type(value)}'")
            return lambda row: bool(row.get(name)) is value
        if spec.kind == "guid":
            if isinstance(value, bool) or not isinstance(value, str):
                raise QueryError(f"Operator '==' incompatible with operand types 'Guid' and '{_type(value)}'")
            try:
                wanted = str(uuid.UUID(str(value)))
            except ValueError:
                raise QueryError(f"'{value}' is not a valid Guid for '{name}'") from None
            return lambda row: str(row.get(name) or "").lower() == wanted
        if not isinstance(value, str) or isinstance(value, _GuidLiteral):
            raise QueryError(f"Operator '==' incompatible with operand types 'String' and '{_type(value)}'")
        if spec.kind == "enum" and value.upper() not in spec.values:
            raise QueryError(f"'{value}' is not a valid value for '{name}' (one of {', '.join(spec.values)})")
        wanted_text = _canon(value)
        return lambda row: _canon(str(row.get(name) or "")) == wanted_text


class _GuidLiteral(str):
    """A `Guid("...")` literal: only comparable with GUID fields."""

    __slots__ = ()


def _type(value: Any) -> str:
    if isinstance(value, _GuidLiteral):
        return "Guid"
    if isinstance(value, bool):
        return "Boolean"
    return "String" if isinstance(value, str) else type(value).__name__


def compile_where(text: str | None, fields: Mapping[str, FieldSpec], type_name: str) -> Predicate:
    """Turn a `where` parameter into a predicate over rows keyed by canonical field names."""
    if text is None or not text.strip():
        return lambda row: True
    return _Parser(text, fields, type_name).parse()


def compile_order(text: str | None, fields: Mapping[str, FieldSpec], type_name: str) -> list[tuple[str, bool]]:
    """Parse `order` (`Name`, `Name DESC, UpdatedDateUTC ASC`) into (field, descending) pairs."""
    if text is None or not text.strip():
        return []
    lookup = {name.casefold(): name for name in fields}
    keys: list[tuple[str, bool]] = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2:
            raise QueryError(f"Cannot order by {part.strip()!r}: expected 'Field' or 'Field ASC|DESC'")
        name = lookup.get(words[0].casefold())
        if name is None:
            raise QueryError(f"No property or field '{words[0]}' exists in type '{type_name}' to order by")
        direction = words[1].upper() if len(words) == 2 else "ASC"
        if direction not in ("ASC", "DESC"):
            raise QueryError(f"Unknown sort direction '{words[1]}' in order; use ASC or DESC")
        keys.append((name, direction == "DESC"))
    return keys


def sort_rows(rows: Sequence[Row], keys: Sequence[tuple[str, bool]], fields: Mapping[str, FieldSpec]) -> list[Row]:
    """Stable multi-key sort; text sorts case-insensitively, missing values first."""
    result = list(rows)
    for name, descending in reversed(keys):
        kind = fields[name].kind

        def key(row: Row, name: str = name, kind: Kind = kind) -> Any:
            value = row.get(name)
            if kind == "bool":
                return bool(value)
            if kind == "date":
                return value
            return _canon(str(value or ""))

        result.sort(key=key, reverse=descending)
    return result
