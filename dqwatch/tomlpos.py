"""Where each key of a TOML document is written, by line.

``tomllib`` parses values but forgets positions, so an error found while
validating the parsed data could not say which line to fix. :func:`key_lines`
reads the same text once more, only far enough to know every key path and
the line it starts on; :func:`line_for` then locates any path, falling back to
the nearest enclosing table when the path itself is absent (a missing key is
reported at its table's header).

Paths use the same shape as the parsed data: table and key names as ``str``,
positions in arrays and arrays of tables as ``int``::

    [[dataset]]          # ("dataset", 0)
    id = "1"             # ("dataset", 0, "id")
    to = ["a", "b"]      # ("dataset", 0, "to"), ("...", "to", 0), ("...", "to", 1)

The text is expected to be valid TOML (parse it with ``tomllib`` first); on
invalid text the scanner skips what it cannot read and never raises.
"""

from __future__ import annotations

import bisect
import re
import tomllib
from collections.abc import Mapping

from dqwatch.errors import Problem

__all__ = ["KeyPath", "key_lines", "line_for"]

KeyPath = tuple[str | int, ...]

_BARE_KEY = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
)
_VALUE_END = frozenset(",]}#\r\n")
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}


class _Unreadable(Exception):
    """The scanner met text it cannot read; the rest of that line is skipped."""


def key_lines(text: str) -> dict[KeyPath, int]:
    """Map every key path in the TOML ``text`` to the 1-based line it starts on.

    Table headers map to their own line (``("channel", "oncall")``), each
    ``[[x]]`` to ``("x", index)``, keys to the line of their name, array
    elements to the line they start on. Intermediate tables implied by dotted
    keys or headers map to the first line that implied them.
    """
    return _Scanner(text).scan()


def line_for(lines: Mapping[KeyPath, int], path: KeyPath) -> int | None:
    """Return the line of ``path`` or of its longest prefix that has one."""
    for end in range(len(path), 0, -1):
        line = lines.get(path[:end])
        if line is not None:
            return line
    return None


class _Scanner:
    """A reader of TOML structure that records positions and skips values."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.lines: dict[KeyPath, int] = {}
        self.table: KeyPath = ()
        # Arrays of tables seen so far, by resolved path, with their length.
        self.array_lengths: dict[KeyPath, int] = {}
        self._line_starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]

    def scan(self) -> dict[KeyPath, int]:
        while self.pos < len(self.text):
            start = self.pos
            try:
                self._statement()
            except (_Unreadable, IndexError):
                self.pos = max(self.pos, start)
                self._skip_rest_of_line()
        return self.lines

    # -- statements ---------------------------------------------------------

    def _statement(self) -> None:
        self._skip_blank()
        char = self._peek()
        if char in ("", "\n", "#", "\r"):
            self._skip_rest_of_line()
        elif char == "[":
            self._header()
        else:
            self._key_value(self.table)
            self._skip_rest_of_line()

    def _header(self) -> None:
        line = self._line()
        is_array = self.text.startswith("[[", self.pos)
        self.pos += 2 if is_array else 1
        parts = self._key()
        self._expect("]]" if is_array else "]")

        path = self._resolve(parts[:-1], line)
        path += (parts[-1],)
        if is_array:
            self.lines.setdefault(path, line)
            index = self.array_lengths.get(path, 0)
            self.array_lengths[path] = index + 1
            path += (index,)
            self.lines[path] = line
        else:
            path = self._resolve_last(path)
            self.lines.setdefault(path, line)
        self.table = path
        self._skip_rest_of_line()

    def _resolve(self, parts: list[str], line: int) -> KeyPath:
        """Turn header parts into a path, entering the last table of arrays."""
        path: KeyPath = ()
        for part in parts:
            path = self._resolve_last((*path, part))
            self.lines.setdefault(path, line)
        return path

    def _resolve_last(self, path: KeyPath) -> KeyPath:
        length = self.array_lengths.get(path)
        return (*path, length - 1) if length else path

    def _key_value(self, table: KeyPath) -> None:
        line = self._line()
        parts = self._key()
        path = table
        for part in parts:
            path = (*path, part)
            self.lines.setdefault(path, line)
        self._skip_blank()
        self._expect("=")
        self._skip_blank()
        self._value(path)

    # -- values -------------------------------------------------------------

    def _value(self, path: KeyPath) -> None:
        char = self._peek()
        if char == "{":
            self._inline_table(path)
        elif char == "[":
            self._array(path)
        elif char in ('"', "'"):
            self._string()
        else:
            self._scalar()

    def _inline_table(self, path: KeyPath) -> None:
        self.pos += 1
        self._skip_blank_lines()
        if self._peek() == "}":
            self.pos += 1
            return
        while True:
            self._key_value(path)
            self._skip_blank_lines()
            char = self._take()
            if char == "}":
                return
            if char != ",":
                raise _Unreadable
            self._skip_blank_lines()

    def _array(self, path: KeyPath) -> None:
        self.pos += 1
        index = 0
        while True:
            self._skip_blank_lines()
            if self._peek() == "]":
                self.pos += 1
                return
            self.lines[(*path, index)] = self._line()
            self._value((*path, index))
            index += 1
            self._skip_blank_lines()
            char = self._take()
            if char == "]":
                return
            if char != ",":
                raise _Unreadable

    def _scalar(self) -> None:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _VALUE_END:
            self.pos += 1
        if self.pos == start:
            raise _Unreadable

    def _string(self) -> str:
        quote = self._peek()
        if self.text.startswith(quote * 3, self.pos):
            return self._multiline_string(quote)
        self.pos += 1
        chars: list[str] = []
        while True:
            char = self._take()
            if char in ("", "\n"):
                raise _Unreadable
            if char == quote:
                return "".join(chars)
            if char == "\\" and quote == '"':
                chars.append(self._escape())
            else:
                chars.append(char)

    def _multiline_string(self, quote: str) -> str:
        self.pos += 3
        start = self.pos
        while self.pos < len(self.text):
            if self.text[self.pos] == "\\" and quote == '"':
                self.pos += 2
            elif self.text.startswith(quote * 3, self.pos):
                # Up to two quotes may sit right before the closing three.
                run = 3
                while run < 5 and self.text.startswith(quote, self.pos + run):
                    run += 1
                body = self.text[start : self.pos + run - 3]
                self.pos += run
                return body
            else:
                self.pos += 1
        raise _Unreadable

    def _escape(self) -> str:
        char = self._take()
        if char in _ESCAPES:
            return _ESCAPES[char]
        width = {"u": 4, "U": 8}.get(char)
        if width is None:
            raise _Unreadable
        digits = self.text[self.pos : self.pos + width]
        self.pos += width
        try:
            return chr(int(digits, 16))
        except ValueError as error:
            raise _Unreadable from error

    # -- keys ---------------------------------------------------------------

    def _key(self) -> list[str]:
        """Read a possibly dotted, possibly quoted key into its parts."""
        parts = []
        while True:
            self._skip_blank()
            parts.append(self._simple_key())
            self._skip_blank()
            if self._peek() != ".":
                return parts
            self.pos += 1

    def _simple_key(self) -> str:
        char = self._peek()
        if char in ('"', "'"):
            if self.text.startswith(char * 3, self.pos):
                raise _Unreadable  # multi-line strings cannot be keys
            return self._string()
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in _BARE_KEY:
            self.pos += 1
        if self.pos == start:
            raise _Unreadable
        return self.text[start : self.pos]

    # -- low level ----------------------------------------------------------

    def _line(self) -> int:
        return bisect.bisect_right(self._line_starts, self.pos)

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _take(self) -> str:
        char = self._peek()
        self.pos += 1
        return char

    def _expect(self, token: str) -> None:
        if not self.text.startswith(token, self.pos):
            raise _Unreadable
        self.pos += len(token)

    def _skip_blank(self) -> None:
        while self._peek() in (" ", "\t"):
            self.pos += 1

    def _skip_blank_lines(self) -> None:
        """Skip spaces, newlines and comments, as allowed inside arrays."""
        while True:
            self._skip_blank()
            char = self._peek()
            if char == "#":
                self._skip_rest_of_line()
            elif char in ("\n", "\r"):
                self.pos += 1
            else:
                return

    def _skip_rest_of_line(self) -> None:
        end = self.text.find("\n", self.pos)
        self.pos = len(self.text) if end < 0 else end + 1


_TOML_POSITION = re.compile(
    r"\s*\(at line (\d+), column (\d+)\)|\s*\(at end of document\)"
)


def syntax_problem(
    error: tomllib.TOMLDecodeError, text: str, file: str, fix: str
) -> Problem:
    """A TOML syntax error as a Problem on its line, with the column in words.

    tomllib of Python 3.11 gives the position only inside its message text.
    """
    position = _TOML_POSITION.search(str(error))
    line = text.count("\n") + 1
    column = ""
    if position and position.group(1):
        line, column = int(position.group(1)), f" at column {position.group(2)}"
    reason = _TOML_POSITION.sub("", str(error))
    return Problem(file, line, "", f"invalid TOML{column}: {reason}", fix)
