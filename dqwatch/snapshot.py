"""Normalise one ``dataset_quality`` response into a snapshot of observations.

``REQUEST_FIELDS`` says what to ask the API for, per source; ``parse_response``
turns the answer into one :class:`~dqwatch.model.Observation` per row of the
metric catalogue (DESIGN.md 2.4) and keeps the body verbatim in ``raw``.

How answers are read:

* A field the API omitted gives no observation, never a zero; JSON ``null``
  counts as omitted too, since it carries no more information. An event that
  carries only its name is still listed in ``Snapshot.events``. ``{}`` and
  ``{"web": []}`` both mean "no events".
* Fields dqwatch does not know are ignored wherever they appear; they stay in
  ``raw``. Offline match key coverage is read for ``email`` and ``phone``.
* Numbers may be ints or floats (never booleans) and are stored as floats;
  ``freshness`` is a text. The API's own texts (description, solution,
  recommendation) and the diagnostic counts travel in ``details``.
* Within one snapshot each series (event, metric, key) has at most one
  observation. When the body repeats one (an event name listed twice, a match
  key, diagnostic or dedupe key listed twice within an event, or both spellings
  of the dedupe list), the first value in the body wins, the rest are dropped
  and a warning names the first repeated series. Repeats are still checked for
  shape.
* Anything else that is not the documented shape raises
  :class:`~dqwatch.errors.MalformedResponseError` naming the JSON path, such as
  ``web[2].event_coverage.percentage: expected a number, got a string "34.1"``.
  Quoted values are cut short so a message never carries the body wholesale.

This runs once per dataset and source every cycle (10,000 datasets x 10 events
x ~30 values), so it is plain loops over one ``json.loads``; JSON paths are
only assembled when something is wrong.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NoReturn

from dqwatch.errors import MalformedResponseError
from dqwatch.model import SOURCES, Details, Observation, Snapshot

__all__ = ["REQUEST_FIELDS", "parse_response"]

log = logging.getLogger(__name__)

_PERCENT = "{percentage,description}"

# Diagnostics and the per-key ACR arrive only when asked for by name, so every
# sub-field is spelled out. The dedupe list must be spelled `dedupe_key_feedback`:
# the API rejects `dedup_key_feedback` with error 100.
_WEB_FIELDS = (
    "web{event_name,"
    "event_match_quality{composite_score,"
    f"match_key_feedback{{identifier,coverage{{percentage}},"
    f"potential_aly_acr_increase{_PERCENT}}},"
    "diagnostics{name,description,solution,percentage,"
    "affected_event_count,total_event_count}},"
    "event_coverage{percentage,goal_percentage,description,"
    f"potential_aly_acr_increase{_PERCENT}}},"
    f"dedupe_key_feedback{{dedupe_key,browser_events_with_dedupe_key{_PERCENT},"
    f"server_events_with_dedupe_key{_PERCENT},"
    f"overall_browser_coverage_from_dedupe_key{_PERCENT}}},"
    "data_freshness{upload_frequency,description},"
    f"event_potential_aly_acr_increase{_PERCENT},"
    f"acr{_PERCENT}}}"
)

# Match key coverage is requested whole: its members (email, phone) are
# documented only as what a bare `match_key` returns.
_OFFLINE_FIELDS = (
    "offline{event_name,composite{score,recommendation},"
    "match_key{score,recommendation,coverage},"
    "frequency{score,recommendation},freshness{score,recommendation}}"
)

#: The ``fields`` parameter to send for each source (``web``, ``offline``).
REQUEST_FIELDS: Mapping[str, str] = MappingProxyType(
    {"web": _WEB_FIELDS, "offline": _OFFLINE_FIELDS}
)

_QUOTE_LIMIT = 60
_FLOAT_BITS = 1024  # ints this wide can overflow a float, so they are refused
_FIX = (
    "not the documented dataset_quality shape; if this persists, the API has "
    "changed: check for a dqwatch update"
)
_ERROR_FIX = "the Graph client should have raised it before parsing"

_Node = dict[str, Any]
_Series = tuple[str, str, str]


def parse_response(
    dataset_id: str, source: str, polled_at: float, body: str | bytes
) -> Snapshot:
    """Read one ``dataset_quality`` answer for ``source`` into a snapshot.

    ``body`` is the HTTP body as received; it is kept as ``Snapshot.raw``.
    Raises :class:`MalformedResponseError` when the body is not the
    documented shape, and ``ValueError`` for a ``source`` other than
    ``"web"`` or ``"offline"``.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, not {source!r}")
    try:
        text = _decode(body)
        items = _events_of(_load(text), source)
        collector = _Collector(source)
        _read_events(items, source, collector)
    except _Bad as bad:
        raise MalformedResponseError(str(bad)) from None

    if collector.repeated:
        log.warning(
            "dataset %s (%s): %d repeated series ignored, the first value kept; "
            "first repeat: event %r, metric %s, key %r",
            dataset_id,
            source,
            len(collector.repeated),
            *collector.repeated[0],
        )
    return Snapshot(
        dataset_id=dataset_id,
        source=source,
        polled_at=polled_at,
        events=tuple(collector.events),
        observations=tuple(collector.series.values()),
        raw=text,
    )


class _Bad(Exception):
    """A shape problem at a JSON path; outer levels prepend their part."""

    def __init__(self, problem: str, *parts: str | int, fix: str = _FIX) -> None:
        super().__init__(problem)
        self.problem = problem
        self.parts: list[str | int] = list(parts)
        self.fix = fix

    def within(self, *outer: str | int) -> _Bad:
        self.parts[:0] = outer
        return self

    def __str__(self) -> str:
        path = ""
        for part in self.parts:
            if isinstance(part, int):
                path += f"[{part}]"
            else:
                path += f".{part}" if path else part
        return f"{path or 'body'}: {self.problem}; {self.fix}"


class _Collector:
    """Gathers observations, first value per series, and the events seen."""

    __slots__ = ("events", "repeated", "series", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.events: dict[str, None] = {}
        self.series: dict[_Series, Observation] = {}
        self.repeated: list[_Series] = []

    def add(
        self, event: str, metric: str, key: str, value: float | str, details: Details
    ) -> None:
        series = (event, metric, key)
        if series in self.series:
            self.repeated.append(series)
            return
        self.series[series] = Observation(
            self.source, event, metric, key, value, details
        )


_Reader = Callable[[_Node, str, _Collector], None]


# -- the body and its list of events -------------------------------------------


def _decode(body: str | bytes) -> str:
    if isinstance(body, str):
        return body
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _Bad(f"not UTF-8 text (bad byte at offset {error.start})") from None


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def _load(text: str) -> object:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError as error:
        problem = f"not JSON ({error})"
    except RecursionError:
        problem = "not JSON dqwatch can read (nested too deeply)"
    raise _Bad(f"{problem}; it begins {text[:_QUOTE_LIMIT]!r}")


def _events_of(root: object, source: str) -> list[Any]:
    if type(root) is not dict:
        raise _Bad(f"expected a JSON object, got {_describe(root)}")
    error = root.get("error")
    if type(error) is dict:
        raise _Bad(_describe_api_error(error), fix=_ERROR_FIX)
    items = root.get(source)
    if items is None:
        return []
    if type(items) is not list:
        raise _Bad(f"expected a list of events, got {_describe(items)}", source)
    return items


def _describe_api_error(error: _Node) -> str:
    # Only the codes are named: reading the API's message is the Graph client's job.
    codes = [error.get("code"), error.get("error_subcode")]
    number = "/".join(str(code) for code in codes if type(code) is int) or "none"
    return f"a Graph API error (code {number}), not data"


def _read_events(items: list[Any], source: str, out: _Collector) -> None:
    read_event = _EVENT_READERS[source]
    for index, item in enumerate(items):
        try:
            if type(item) is not dict:
                raise _Bad(f"expected an object, got {_describe(item)}")
            event = _key(item, "event_name")
            out.events[event] = None
            read_event(item, event, out)
        except _Bad as bad:
            raise bad.within(source, index) from None


# -- web events ----------------------------------------------------------------

# (field under a dedupe key, metric), each a {percentage, description} node.
_DEDUPE_PARTS = (
    ("browser_events_with_dedupe_key", "dedupe_browser"),
    ("server_events_with_dedupe_key", "dedupe_server"),
    ("overall_browser_coverage_from_dedupe_key", "dedupe_overall"),
)

# The API's spelling first; the reference's field table spells it without the e.
_DEDUPE_LISTS = ("dedupe_key_feedback", "dedup_key_feedback")


def _read_web_event(item: _Node, event: str, out: _Collector) -> None:
    _nested(_read_emq, item, "event_match_quality", event, out)
    _nested(_read_coverage, item, "event_coverage", event, out)
    for field in _DEDUPE_LISTS:
        _each(_read_dedupe_key, item, field, event, out)
    _nested(_read_freshness, item, "data_freshness", event, out)
    _scored(out, event, "event_acr", "", item, "event_potential_aly_acr_increase")
    _scored(out, event, "acr", "", item, "acr")


def _read_emq(node: _Node, event: str, out: _Collector) -> None:
    score = _number(node, "composite_score")
    if score is not None:
        out.add(event, "emq", "", score, {})
    _each(_read_match_key, node, "match_key_feedback", event, out)
    _each(_read_diagnostic, node, "diagnostics", event, out)


def _read_match_key(node: _Node, event: str, out: _Collector) -> None:
    key = _key(node, "identifier")
    _scored(out, event, "match_key_coverage", key, node, "coverage")
    _scored(out, event, "match_key_acr", key, node, "potential_aly_acr_increase")


def _read_diagnostic(node: _Node, event: str, out: _Collector) -> None:
    key = _key(node, "name")
    value = _number(node, "percentage")
    details: Details = {}
    for field in ("description", "solution"):
        text = _text(node, field)
        if text is not None:
            details[field] = text
    for field in ("affected_event_count", "total_event_count"):
        count = _count(node, field)
        if count is not None:
            details[field] = count

    if value is not None:
        out.add(event, "diagnostic", key, value, details)


def _read_coverage(node: _Node, event: str, out: _Collector) -> None:
    value = _number(node, "percentage")
    goal = _number(node, "goal_percentage")
    text = _text(node, "description")

    if value is not None:
        out.add(event, "event_coverage", "", value, _described(text))
    if goal is not None:
        out.add(event, "event_coverage_goal", "", goal, {})
    _scored(out, event, "coverage_acr", "", node, "potential_aly_acr_increase")


def _read_dedupe_key(node: _Node, event: str, out: _Collector) -> None:
    key = _key(node, "dedupe_key")
    for field, metric in _DEDUPE_PARTS:
        _scored(out, event, metric, key, node, field)


def _read_freshness(node: _Node, event: str, out: _Collector) -> None:
    value = _text(node, "upload_frequency")
    text = _text(node, "description")
    if value is not None:
        out.add(event, "freshness", "", value, _described(text))


# -- offline events ------------------------------------------------------------

# (field, metric), each a {score, recommendation} node.
_OFFLINE_SCORES = (
    ("composite", "offline_composite"),
    ("match_key", "offline_match_key"),
    ("frequency", "offline_frequency"),
    ("freshness", "offline_freshness"),
)

_OFFLINE_MATCH_KEYS = ("email", "phone")


def _read_offline_event(item: _Node, event: str, out: _Collector) -> None:
    for field, metric in _OFFLINE_SCORES:
        _scored(out, event, metric, "", item, field, "score", "recommendation")
    _nested(_read_offline_match_key, item, "match_key", event, out)


def _read_offline_match_key(node: _Node, event: str, out: _Collector) -> None:
    _nested(_read_offline_coverage, node, "coverage", event, out)


def _read_offline_coverage(node: _Node, event: str, out: _Collector) -> None:
    for key in _OFFLINE_MATCH_KEYS:
        value = _number(node, key)
        if value is not None:
            out.add(event, "offline_match_key_coverage", key, value, {})


_EVENT_READERS: dict[str, _Reader] = {
    "web": _read_web_event,
    "offline": _read_offline_event,
}


# -- walking nested nodes --------------------------------------------------------


def _nested(
    read: _Reader, node: _Node, field: str, event: str, out: _Collector
) -> None:
    """Run ``read`` on the object ``node[field]`` when the API sent one."""
    child = _object(node, field)
    if child is None:
        return
    try:
        read(child, event, out)
    except _Bad as bad:
        raise bad.within(field) from None


def _each(read: _Reader, node: _Node, field: str, event: str, out: _Collector) -> None:
    """Run ``read`` on every object of the list ``node[field]``."""
    children = node.get(field)
    if children is None:
        return
    if type(children) is not list:
        raise _Bad(f"expected a list, got {_describe(children)}", field)
    for index, child in enumerate(children):
        try:
            if type(child) is not dict:
                raise _Bad(f"expected an object, got {_describe(child)}")
            read(child, event, out)
        except _Bad as bad:
            raise bad.within(field, index) from None


def _scored(
    out: _Collector,
    event: str,
    metric: str,
    key: str,
    node: _Node,
    field: str,
    value_field: str = "percentage",
    text_field: str = "description",
) -> None:
    """Add ``node[field][value_field]``, with its text, when the API sent it."""
    child = _object(node, field)
    if child is None:
        return
    try:
        value = _number(child, value_field)
        text = _text(child, text_field)
    except _Bad as bad:
        raise bad.within(field) from None
    if value is not None:
        out.add(event, metric, key, value, {text_field: text} if text else {})


def _described(text: str | None) -> Details:
    return {"description": text} if text else {}


# -- typed reads of one field --------------------------------------------------


def _object(node: _Node, field: str) -> _Node | None:
    value = node.get(field)
    if value is None or isinstance(value, dict):
        return value
    raise _Bad(f"expected an object, got {_describe(value)}", field)


def _number(node: _Node, field: str) -> float | None:
    value = _count(node, field)
    return None if value is None else float(value)


def _count(node: _Node, field: str) -> int | float | None:
    """A JSON number as the API wrote it: int or float, never a boolean."""
    value = node.get(field)
    if isinstance(value, float):
        if math.isfinite(value):  # json.loads reads 1e999 as inf
            return value
    elif isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() < _FLOAT_BITS:
            return value
    elif value is None:
        return None
    raise _Bad(f"expected a number, got {_describe(value)}", field)


def _text(node: _Node, field: str) -> str | None:
    value = node.get(field)
    if value is None or isinstance(value, str):
        return value
    raise _Bad(f"expected a string, got {_describe(value)}", field)


def _key(node: _Node, field: str) -> str:
    """A non-empty string that names an event or keys a series."""
    value = node.get(field)
    if type(value) is str and value:
        return value
    if value is None:
        raise _Bad("missing; every item needs one", field)
    raise _Bad(f"expected a non-empty string, got {_describe(value)}", field)


# -- quoting values in messages --------------------------------------------------

_KINDS: dict[type, str] = {
    bool: "a boolean",
    int: "a number",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "an object",
}


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, float) and not math.isfinite(value):
        return f"a number out of range ({value})"
    if type(value) is int and value.bit_length() >= _FLOAT_BITS:
        return f"a number out of range ({value.bit_length()} bits)"
    return f"{_KINDS.get(type(value), 'a value')} {_quote(value)}"


def _quote(value: object) -> str:
    """``value`` as JSON, cut to a length safe to show in one message."""
    if isinstance(value, str) and len(value) > _QUOTE_LIMIT:
        value = value[:_QUOTE_LIMIT]  # bounds the work on a huge body
    text = json.dumps(value, ensure_ascii=False, default=str)
    if len(text) > _QUOTE_LIMIT:
        text = text[: _QUOTE_LIMIT - 1] + "…"
    return text
