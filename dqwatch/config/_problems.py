"""Turning pydantic validation errors into located, fixable problems.

pydantic reports every error with a ``loc`` in terms of the models; a user
edits TOML. This module maps each ``loc`` back to a TOML key path (dropping
the discriminator pydantic inserts for tagged unions), finds its line, and
words the message for a config author: what is wrong, then the fix. It
works for any root model, so other TOML files validated by pydantic can
report problems the same way.
"""

from __future__ import annotations

import difflib
import json
import re
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from dqwatch.config._fields import ERROR_TYPE
from dqwatch.errors import Problem
from dqwatch.tomlpos import KeyPath, line_for

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def render_key(path: KeyPath) -> str:
    """Write a key path the way a reader finds it: ``route[1].to[0]``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            name = (
                part if _BARE.fullmatch(part) else json.dumps(part, ensure_ascii=False)
            )
            text += f".{name}" if text else name
    return text


def validation_problems(
    error: ValidationError,
    *,
    file: str,
    lines: Mapping[KeyPath, int],
    root: type[BaseModel],
    secret_keys: Iterable[str] = (),
    missing_hints: Mapping[tuple[str, ...], str] | None = None,
) -> list[Problem]:
    """One :class:`Problem` per error in ``error``, located in ``file``.

    ``secret_keys`` name keys whose values no message may quote;
    ``missing_hints`` give the fix for a missing key by path, ``"*"``
    standing for any array index or table name.
    """
    secrets = frozenset(secret_keys)
    problems = []
    for details in error.errors(include_url=False):
        where = _locate(root, details)
        secret = bool(where.path) and where.path[-1] in secrets
        message, fix = _words(details, where, secret, missing_hints or {})
        problems.append(
            Problem(
                file, line_for(lines, where.path), render_key(where.path), message, fix
            )
        )
    return problems


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice ``word`` was most likely meant to be, if one is close."""
    options = list(choices)
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return close[0]
    return next((c for c in options if c.lower() == word.lower()), None)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``did you mean "x"?`` for a close choice, else the list of choices."""
    options = sorted(choices)
    match = closest(word, options)
    if match is not None:
        return f'did you mean "{match}"?'
    return "valid: " + ", ".join(options) if options else "remove it"


@dataclass(frozen=True)
class _Where:
    """An error's TOML path, the model holding its last key, the type found there."""

    path: KeyPath
    parent: type[BaseModel] | None
    node: Any


def _locate(root: type[BaseModel], details: ErrorDetails) -> _Where:
    where = _walk(root, details["loc"])
    context = details.get("ctx") or {}
    if details["type"] == ERROR_TYPE and context.get("at"):
        return _Where((*where.path, context["at"]), _unwrap(where.node), None)
    if details["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return _Where((*where.path, "type"), where.parent, where.node)
    return where


def _walk(root: type[BaseModel], loc: tuple[int | str, ...]) -> _Where:
    path: list[str | int] = []
    node: Any = root
    parent: type[BaseModel] | None = root
    for part in loc:
        node = _unwrap(node)
        members = _tagged_members(node)
        if members and isinstance(part, str) and part in members:
            node = members[part]  # the discriminator pydantic adds to loc
            continue
        path.append(part)
        parent = node if _is_model(node) else None
        node = _child(node, part)
    return _Where(tuple(path), parent, node)


def _child(node: Any, part: int | str) -> Any:
    if _is_model(node):
        for name, field in node.model_fields.items():
            if (field.alias or name) == part:
                return field.annotation
        return None
    origin, args = get_origin(node), get_args(node)
    if origin is tuple and args:
        return args[0]
    if origin in (dict, Mapping) and len(args) == 2:
        return args[1]
    return None


def _unwrap(node: Any) -> Any:
    """Strip ``Annotated`` and ``| None`` until a model, container or union remains."""
    while True:
        if get_origin(node) is Annotated:
            node = get_args(node)[0]
            continue
        if get_origin(node) in (Union, types.UnionType):
            members = [a for a in get_args(node) if a is not type(None)]
            if len(members) == 1:
                node = members[0]
                continue
        return node


def _tagged_members(node: Any) -> dict[str, type[BaseModel]]:
    """For a union of models told apart by ``type``, each member by its tag."""
    if get_origin(node) not in (Union, types.UnionType):
        return {}
    members: dict[str, type[BaseModel]] = {}
    for member in get_args(node):
        tag = member.model_fields.get("type") if _is_model(member) else None
        if tag is not None and get_origin(tag.annotation) is Literal:
            members.update(dict.fromkeys(get_args(tag.annotation), member))
    return members


def _is_model(node: Any) -> bool:
    return isinstance(node, type) and issubclass(node, BaseModel)


def _keys_of(model: Any) -> list[str]:
    """The keys a user may write in ``model``'s table."""
    if not _is_model(model):
        return []
    filled: frozenset[str] = getattr(model, "filled_by_loader", frozenset())
    return [f.alias or n for n, f in model.model_fields.items() if n not in filled]


def _words(
    details: ErrorDetails,
    where: _Where,
    secret: bool,
    missing_hints: Mapping[tuple[str, ...], str],
) -> tuple[str, str]:
    """What is wrong and the fix, in a config author's words."""
    kind = details["type"]
    context = details.get("ctx") or {}
    path = where.path
    if kind == ERROR_TYPE:
        return str(context["message"]), str(context["fix"])
    if kind == "missing":
        return "is missing", _missing_fix(path, missing_hints)
    if kind == "extra_forbidden":
        return "unknown key", did_you_mean(str(path[-1]), _keys_of(where.parent))
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return _tag_words(details, sorted(_tagged_members(_unwrap(where.node))))
    if kind == "literal_error":
        return _literal_words(details, context, secret)
    if kind in ("tuple_type", "list_type"):
        return _list_words(details, path, secret)
    return _TYPE_WORDS.get(kind) or ("is not valid" if secret else details["msg"], "")


def _missing_fix(path: KeyPath, hints: Mapping[tuple[str, ...], str]) -> str:
    for pattern, hint in hints.items():
        if len(pattern) == len(path) and all(
            want in ("*", part) for want, part in zip(pattern, path, strict=True)
        ):
            return hint
    table = render_key(path[:-1])
    where = f" to [{table}]" if table else ""
    return f"add {path[-1]} = ...{where}" if path else "add it"


def _tag_words(details: ErrorDetails, tags: list[str]) -> tuple[str, str]:
    choices = ", ".join(f'"{tag}"' for tag in tags)
    if details["type"] == "union_tag_not_found":
        return "is missing", f"add type = one of {choices}"
    tag = str((details.get("ctx") or {}).get("tag", ""))
    return f'"{tag}" is not a valid type', f"use one of {choices}"


def _list_words(details: ErrorDetails, path: KeyPath, secret: bool) -> tuple[str, str]:
    value = details.get("input")
    if isinstance(value, dict) and path:
        return "must be a list of tables", f"write each table as [[{render_key(path)}]]"
    if isinstance(value, str) and not secret:
        return "must be a list", f"write it as a list: [{json.dumps(value)}]"
    return "must be a list", 'write it as ["a", "b"]'


def _literal_words(
    details: ErrorDetails, context: dict[str, Any], secret: bool
) -> tuple[str, str]:
    expected = str(context.get("expected", "")).replace("'", '"')
    value = details.get("input")
    if secret or not isinstance(value, str):
        return f"must be {expected}", "use one of those values"
    choices = re.findall(r'"([^"]*)"', expected)
    return f'"{value}" is not one of {expected}', did_you_mean(value, choices)


_TYPE_WORDS: dict[str, tuple[str, str]] = {
    "string_type": ("must be a string", 'put the value in double quotes, e.g. "text"'),
    "int_type": ("must be a whole number", "write digits without quotes, e.g. 4"),
    "int_parsing": ("must be a whole number", "write digits without quotes, e.g. 4"),
    "int_from_float": ("must be a whole number", "drop the fraction, e.g. 4"),
    "float_type": ("must be a number", "write digits without quotes, e.g. 0.5"),
    "float_parsing": ("must be a number", "write digits without quotes, e.g. 0.5"),
    "bool_type": ("must be true or false", "write true or false without quotes"),
    "bool_parsing": ("must be true or false", "write true or false without quotes"),
    "model_type": ("must be a table", "write it as a [table] or { key = value }"),
    "model_attributes_type": ("must be a table", "write it as a [table]"),
    "dict_type": ("must be a table", "write it as a [table] or { key = value }"),
    "mapping_type": ("must be a table", "write it as a [table]"),
    "path_type": ("must be a path", 'write it as a string, e.g. "data/dqwatch.db"'),
    "too_short": ("is empty", "list at least one value"),
}
