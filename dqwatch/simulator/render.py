"""Turning events and a ``fields`` selection into a response body.

Parsed selections are cached by their text. Bodies of scenario datasets are
cached by the dataset (see :mod:`dqwatch.simulator.data`); generated
datasets are answered by joining cached JSON fragments, one per pool
variant and selection, so a body costs a few dictionary lookups and a join
however many datasets there are. The fragment cache is bounded in bytes.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dqwatch.simulator.fields import Field, format_fields, parse_fields
from dqwatch.simulator.schema import Plan, dataset_quality_node, plan, project
from dqwatch.simulator.specs import SimulatorSettings

__all__ = ["Renderer", "Selection", "dumps"]

#: How many distinct ``fields`` texts keep their parsed selection.
_SELECTIONS_KEPT = 1024


def dumps(value: Any) -> bytes:
    """Compact JSON, as the API writes it."""
    return json.dumps(value, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Selection:
    """A resolved ``fields`` parameter: its canonical text and its plan."""

    key: str
    steps: Plan

    @property
    def sources(self) -> tuple[str, ...]:
        """The top-level lists asked for: ``web``, ``offline`` or both."""
        return tuple(name for name, _ in self.steps)


class Renderer:
    """Builds ``dataset_quality`` bodies for one scenario's settings."""

    def __init__(self, settings: SimulatorSettings) -> None:
        self.root = dataset_quality_node(
            settings.web_default_fields, settings.offline_default_fields
        )
        self._keep_empty = settings.empty_dataset == "empty_list"
        self._selections: dict[str, Selection] = {}
        self._fragments: OrderedDict[tuple[str, str, int, str], bytes] = OrderedDict()
        self._fragment_bytes = 0
        self._budget = int(settings.render_cache_mb * 1024 * 1024)

    def selection(self, fields: str | None) -> Selection:
        """The selection for a ``fields`` text (None or empty: the defaults).

        Raises :class:`~dqwatch.simulator.fields.FieldSyntaxError` or
        :class:`~dqwatch.simulator.schema.SelectionError`.
        """
        text = fields or ""
        found = self._selections.get(text)
        if found is None:
            steps = plan(self.root, parse_fields(text))
            found = Selection(format_fields(_as_fields(steps)), steps)
            if len(self._selections) >= _SELECTIONS_KEPT:
                self._selections.clear()
            self._selections[text] = found
        return found

    def body(self, selection: Selection, events: Mapping[str, Sequence[Any]]) -> bytes:
        """The body for full event objects grouped by source."""
        out: dict[str, Any] = {}
        for source, steps in selection.steps:
            assert steps is not None  # web and offline are always objects
            items = [
                p for p in (project(e, steps) for e in events.get(source, ())) if p
            ]
            if items or self._keep_empty:
                out[source] = items
        return dumps(out)

    def joined_body(
        self,
        selection: Selection,
        variants: Callable[[str], Iterable[tuple[str, int]]],
        build: Callable[[str, str, int], dict[str, Any]],
    ) -> bytes:
        """The body of a generated dataset from its (event name, variant) pairs.

        ``variants(source)`` lists a dataset's events; ``build(source, name,
        variant)`` makes a variant's full event object on a cache miss.
        """
        parts = []
        for source, steps in selection.steps:
            assert steps is not None
            pieces = [
                piece
                for name, variant in variants(source)
                if (
                    piece := self._fragment(
                        selection, steps, source, name, variant, build
                    )
                )
            ]
            if pieces or self._keep_empty:
                parts.append(b'"' + source.encode() + b'":[' + b",".join(pieces) + b"]")
        return b"{" + b",".join(parts) + b"}"

    def _fragment(
        self,
        selection: Selection,
        steps: Plan,
        source: str,
        name: str,
        variant: int,
        build: Callable[[str, str, int], dict[str, Any]],
    ) -> bytes:
        key = (source, name, variant, selection.key)
        piece = self._fragments.get(key)
        if piece is not None:
            self._fragments.move_to_end(key)
            return piece
        projected = project(build(source, name, variant), steps)
        piece = dumps(projected) if projected else b""
        self._fragments[key] = piece
        self._fragment_bytes += len(piece) + 100  # the key and entry overhead
        while self._fragment_bytes > self._budget and self._fragments:
            _, dropped = self._fragments.popitem(last=False)
            self._fragment_bytes -= len(dropped) + 100
        return piece


def _as_fields(steps: Plan) -> tuple[Field, ...]:
    """A plan written back as fields, to give equal selections one key."""
    return tuple(
        Field(name, None if sub is None else _as_fields(sub)) for name, sub in steps
    )
