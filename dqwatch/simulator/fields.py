"""The Graph API's field-expansion syntax: ``web{event_name,acr{percentage}}``.

A selection is a comma-separated list of field names, each optionally
followed by a braced sub-selection, nested to any depth. Whitespace around
names, commas and braces is ignored, as the API does. A field named twice is
merged (``a{b},a{c}`` is ``a{b,c}``), keeping the order of first mention,
because the API answers fields in the order they were asked for.

Modifiers such as ``.limit(5)`` or ``.as(x)`` are not part of this grammar:
``dataset_quality`` has no edges to page through, so they are reported as
syntax errors.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Field", "FieldSyntaxError", "format_fields", "parse_fields"]

_NAME_CHARS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"
)
_SPACE = frozenset(" \t\r\n")


@dataclass(frozen=True, slots=True)
class Field:
    """One requested field; ``children`` is None when no braces followed it."""

    name: str
    children: tuple[Field, ...] | None = None

    def __str__(self) -> str:
        if self.children is None:
            return self.name
        return f"{self.name}{{{format_fields(self.children)}}}"


class FieldSyntaxError(ValueError):
    """The ``fields`` text is not valid field-expansion syntax.

    ``position`` is the 0-based index of the offending character. The
    message copies the wording the API uses for the same mistake.
    """

    def __init__(self, text: str, position: int, expected: str) -> None:
        found = f'"{text[position]}"' if position < len(text) else "end of string"
        self.position = position
        super().__init__(
            f'Syntax error "Expected {expected} instead of {found}." '
            f"at character {position}: {text}"
        )


def parse_fields(text: str) -> tuple[Field, ...]:
    """Parse a ``fields`` parameter into a tuple of :class:`Field`.

    ``parse_fields("web{event_name, acr}")`` gives one ``Field("web", ...)``
    whose children are ``event_name`` and ``acr``, both without braces.
    An empty or blank text is an empty selection (the API's defaults apply).
    Raises :class:`FieldSyntaxError` for anything else that does not parse.
    """
    parser = _Parser(text)
    if parser.at_end():
        return ()
    fields = parser.field_list()
    if not parser.at_end():
        raise FieldSyntaxError(text, parser.pos, "end of string")
    return fields


def format_fields(fields: tuple[Field, ...]) -> str:
    """Write a selection back in canonical form (no spaces): a stable cache key."""
    return ",".join(str(field) for field in fields)


class _Parser:
    """A recursive-descent reader over one ``fields`` text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def at_end(self) -> bool:
        self._skip_space()
        return self.pos >= len(self.text)

    def field_list(self) -> tuple[Field, ...]:
        merged: dict[str, Field] = {}
        while True:
            field = self._field()
            previous = merged.get(field.name)
            merged[field.name] = field if previous is None else _merge(previous, field)
            self._skip_space()
            if self._peek() != ",":
                return tuple(merged.values())
            self.pos += 1

    def _field(self) -> Field:
        self._skip_space()
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in _NAME_CHARS:
            self.pos += 1
        if self.pos == start:
            raise FieldSyntaxError(self.text, self.pos, "field name")
        name = self.text[start : self.pos]

        self._skip_space()
        if self._peek() != "{":
            return Field(name)
        self.pos += 1
        children = self.field_list()
        self._skip_space()
        if self._peek() != "}":
            raise FieldSyntaxError(self.text, self.pos, '"}"')
        self.pos += 1
        return Field(name, children)

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _SPACE:
            self.pos += 1


def _merge(first: Field, second: Field) -> Field:
    """Combine two mentions of the same field into one."""
    if first.children is None:
        return second
    if second.children is None:
        return first
    merged = {child.name: child for child in first.children}
    for child in second.children:
        previous = merged.get(child.name)
        merged[child.name] = child if previous is None else _merge(previous, child)
    return Field(first.name, tuple(merged.values()))
