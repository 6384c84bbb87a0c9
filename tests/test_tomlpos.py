"""key_lines and line_for: finding the line of any key in a TOML file."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from typing import Any

import pytest

from dqwatch.tomlpos import KeyPath, key_lines, line_for

TRICKY = """\
# [commented.table]
title = "a # not a comment"   # a comment
[graph]
base_url = "http://127.0.0.1:1"
"quoted.key" = 1
'literal' = 'C:\\path\\'
a.b . c = 2
escaped = "say \\"hi\\" [x]"
text = \"\"\"
[not.a.table]
fake = 1
\"\"\"\"\"
raw = '''
also = "not a key" '''
list = [
  1,   # a comment inside
  [2, 3],
  { k = "v", n.m = 1 },
]

[[dataset]]
id = "1"
[[dataset]]
id = "2"
[dataset.extra]
z = 1
[[route]]
to = ["a"]
[[route]]
match = { severity = ["critical", "warning"] }
[route.more]
q = 1
[[route.step]]
w = 1
[[route.step]]
w = 2
[ channel . "on call" ]
type = "slack"
"""


def _paths(value: Any, path: KeyPath = ()) -> Iterator[KeyPath]:
    """Every key path of parsed TOML data, containers and leaves."""
    if path:
        yield path
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*path, index))


def test_every_parsed_path_has_a_line() -> None:
    """Each key, table and array element tomllib sees is found by key_lines."""
    lines = key_lines(TRICKY)
    missing = [p for p in _paths(tomllib.loads(TRICKY)) if p not in lines]
    assert missing == []


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (("title",), 2),
        (("graph",), 3),
        (("graph", "base_url"), 4),
        (("graph", "quoted.key"), 5),
        (("graph", "literal"), 6),
        (("graph", "a", "b", "c"), 7),
        (("graph", "escaped"), 8),
        (("graph", "text"), 9),
        (("graph", "raw"), 13),
        (("graph", "list", 0), 16),
        (("graph", "list", 1, 1), 17),
        (("graph", "list", 2, "n", "m"), 18),
        (("dataset", 0), 21),
        (("dataset", 1, "id"), 24),
        (("dataset", 1, "extra", "z"), 26),
        (("route", 1, "match", "severity", 1), 30),
        (("route", 1, "more", "q"), 32),
        (("route", 1, "step", 1, "w"), 36),
        (("channel", "on call", "type"), 38),
    ],
)
def test_lines_of_tricky_toml(path: KeyPath, line: int) -> None:
    """Quoted, dotted, nested and array keys map to the line they start on."""
    assert key_lines(TRICKY)[path] == line


def test_strings_that_look_like_toml_are_not_keys() -> None:
    """Headers and keys inside multi-line strings and comments are ignored."""
    lines = key_lines(TRICKY)
    assert not {("not", "a", "table"), ("fake",), ("also",), ("commented",)} & set(
        lines
    )


def test_array_of_tables_index_restarts_under_each_parent() -> None:
    """[[a.b]] is counted per [[a]], as tomllib builds it."""
    text = "[[a]]\n[[a.b]]\n[[a.b]]\n[[a]]\n[[a.b]]\n"
    lines = key_lines(text)
    assert tomllib.loads(text) == {"a": [{"b": [{}, {}]}, {"b": [{}]}]}
    assert lines[("a", 0, "b", 1)] == 3
    assert lines[("a", 1, "b", 0)] == 5
    assert ("a", 1, "b", 1) not in lines


def test_windows_line_endings() -> None:
    """CRLF files are numbered like LF files."""
    lines = key_lines('[graph]\r\nx = 1\r\n\r\n[web]\r\nlisten = "a"\r\n')
    assert lines[("graph", "x")] == 2
    assert lines[("web", "listen")] == 5


def test_line_for_falls_back_to_the_longest_known_prefix() -> None:
    """A missing key is located at its table; an unknown table at nothing."""
    lines = key_lines("[graph]\nx = 1\n[[dataset]]\nid = 1\n")
    assert line_for(lines, ("graph", "access_token")) == 1
    assert line_for(lines, ("dataset", 0, "sources", 2)) == 3
    assert line_for(lines, ("graph", "x")) == 2
    assert line_for(lines, ("web", "listen")) is None
    assert line_for(lines, ()) is None


def test_invalid_toml_never_raises() -> None:
    """On text tomllib rejects, unreadable lines are skipped, the rest found."""
    text = 'a = "unterminated\n= 5\n[[x]\nb = [1,\n  }\nc = 3\n[ok]\nd = 1\n'
    lines = key_lines(text)
    assert lines[("a",)] == 1
    assert lines[("ok", "d")] == 8
