"""Datasets and their events: the state the simulator answers from.

Scenario datasets are held as full event objects (see
:mod:`dqwatch.simulator.metrics`) that changes, :meth:`Simulator.set_value`
and :meth:`Simulator.remove` edit in place. Generated datasets hold nothing
until something edits one; it is then copied out of the pool into a
scenario-style dataset, which from then on takes precedence.

Each dataset counts its polls per source so that a scenario's
``[[dataset.change]]`` can fire at the n-th poll, or once a time has passed.
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dqwatch.simulator.generate import Generated
from dqwatch.simulator.metrics import (
    METRICS,
    remove_metric,
    set_diagnostic,
    set_metric,
    set_text,
)
from dqwatch.simulator.scenario import Scenario
from dqwatch.simulator.specs import ChangeSpec, DatasetSpec, ErrorSpec, EventSpec

__all__ = ["DatasetState", "Datasets", "EventState", "normalize_agent"]

_VERSION_SUFFIX = re.compile(r"(_\d+)+$")
SOURCES = ("web", "offline")


def normalize_agent(partner_agent: str) -> str:
    """``MyPlatform_2_1`` -> ``myplatform``: lower case, version suffix dropped.

    This is the documented example's rule; how the API treats other shapes
    (hyphens, dots, slashes) is unknown, so :class:`Simulator` takes another
    function when a test needs one.
    """
    return _VERSION_SUFFIX.sub("", partner_agent.strip().lower())


@dataclass
class EventState:
    """One event: its full API object and the agents that sent it."""

    data: dict[str, Any]
    agents: frozenset[str] = frozenset()


@dataclass
class _ArmedError:
    source: str
    error: ErrorSpec
    remaining: int


@dataclass
class DatasetState:
    """One dataset the simulator answers for, with its events by source."""

    id: str
    name: str = ""
    business: str | None = None
    clients: tuple[str, ...] = ()
    access: str = "ok"
    denied_code: int = 10
    events: dict[str, list[EventState]] = field(
        default_factory=lambda: {source: [] for source in SOURCES}
    )
    #: Rendered bodies by (selection, agent); emptied by every edit.
    cache: dict[tuple[str, str | None], bytes] = field(default_factory=dict)
    pending: list[ChangeSpec] = field(default_factory=list)
    polls: Counter[str] = field(default_factory=Counter)
    armed: list[_ArmedError] = field(default_factory=list)

    @classmethod
    def from_spec(
        cls, spec: DatasetSpec, normalize: Callable[[str], str]
    ) -> DatasetState:
        state = cls(
            spec.id,
            spec.name,
            spec.business,
            spec.clients,
            spec.access,
            spec.denied_code,
            pending=list(spec.change),
        )
        for event in spec.event:
            agents = frozenset(normalize(agent) for agent in event.agents)
            state.events[event.source].append(EventState(build_event(event), agents))
        return state

    def event(self, source: str, name: str) -> EventState:
        """The event named ``name``, added (carrying only its name) if missing."""
        for event in self.events[source]:
            if event.data["event_name"] == name:
                return event
        added = EventState({"event_name": name})
        self.events[source].append(added)
        return added

    def set_value(self, event: str, metric: str, key: str | None, value: Any) -> None:
        set_metric(self.event(METRICS[metric].source, event).data, metric, key, value)
        self.cache.clear()

    def remove(
        self, source: str, event: str | None, metric: str | None, key: str | None
    ) -> None:
        """Remove an event, a metric (of one event or all) or one key of it."""
        if metric is None:
            self.events[source] = [
                e
                for e in self.events[source]
                if event is not None and e.data["event_name"] != event
            ]
        else:
            for state in self.events[METRICS[metric].source]:
                if event is None or state.data["event_name"] == event:
                    remove_metric(state.data, metric, key)
        self.cache.clear()

    def poll(self, sources: tuple[str, ...], elapsed: float) -> ErrorSpec | None:
        """Count a poll of ``sources``, fire due changes, return an error to answer."""
        self.polls.update(sources)
        for change in list(self.pending):
            if change.poll is not None:
                due = (
                    change.source in sources
                    and self.polls[change.source] >= change.poll
                )
            else:
                due = elapsed >= (change.after or 0.0)
            if due:
                self.pending.remove(change)
                self._apply(change)
        for armed in self.armed:
            if armed.source in sources and armed.remaining > 0:
                armed.remaining -= 1
                return armed.error
        return None

    def _apply(self, change: ChangeSpec) -> None:
        for setting in change.set:
            self.set_value(setting.event, setting.metric, setting.key, setting.value)
        for removal in change.remove:
            source = (
                METRICS[removal.metric].source if removal.metric else removal.source
            )
            self.remove(source, removal.event, removal.metric, removal.key)
        if change.error is not None:
            self.armed = [a for a in self.armed if a.remaining > 0]
            self.armed.append(_ArmedError(change.source, change.error, change.times))

    def visible(self, agent: str | None) -> dict[str, list[dict[str, Any]]]:
        """Full event objects by source, only those ``agent`` sent if given."""
        return {
            source: [e.data for e in events if agent is None or agent in e.agents]
            for source, events in self.events.items()
        }


def build_event(spec: EventSpec) -> dict[str, Any]:
    """The full API object of a scenario event."""
    event: dict[str, Any] = {"event_name": spec.name}
    for metric in METRICS:
        if metric == "diagnostic":
            continue  # a list of tables with texts, added below
        value = getattr(spec, metric)
        if isinstance(value, dict):
            for key, number in value.items():
                set_metric(event, metric, key, number)
        elif value is not None:
            set_metric(event, metric, None, value)
    for diagnostic in spec.diagnostic:
        set_diagnostic(
            event,
            diagnostic.name,
            diagnostic.percentage,
            description=diagnostic.description,
            solution=diagnostic.solution,
            total=diagnostic.total_event_count,
            affected=diagnostic.affected_event_count,
        )
    for where, text in spec.texts.items():
        metric, _, key = where.partition(":")
        set_text(event, metric, key or None, text)
    return event


class Datasets:
    """Every dataset of a scenario, scenario-defined and generated."""

    def __init__(self, scenario: Scenario, normalize: Callable[[str], str]) -> None:
        self.defined = {
            d.id: DatasetState.from_spec(d, normalize) for d in scenario.dataset
        }
        self.business_names = {b.id: b.name for b in scenario.business}
        self.agents = {
            a for d in self.defined.values() for e in _all(d) for a in e.agents
        }
        self.generated: Generated | None = None
        #: The normalised agents every generated event is attributed to.
        self.generated_agents: frozenset[str] = frozenset()
        if scenario.generate is not None:
            self.generated = Generated(scenario.generate)
            self.generated_agents = frozenset(
                normalize(agent) for agent in scenario.generate.agents
            )
            self.agents.update(self.generated_agents)
            self.business_names.update(
                (b, f"Generated business {n}")
                for n, b in enumerate(self.generated.business_ids())
            )

    def find(self, dataset_id: str) -> DatasetState | int | None:
        """A defined dataset, a generated dataset's index, or None if unknown."""
        state = self.defined.get(dataset_id)
        if state is not None:
            return state
        return self.generated.index_of(dataset_id) if self.generated else None

    def business_of(self, found: DatasetState | int | None) -> str | None:
        if isinstance(found, DatasetState):
            return found.business
        if found is not None and self.generated is not None:
            return self.generated.business_of(found)
        return None

    def editable(self, dataset_id: str) -> DatasetState:
        """The dataset to edit; a generated one is copied out of the pool first."""
        found = self.find(dataset_id)
        if isinstance(found, DatasetState):
            return found
        if found is None or self.generated is None:
            raise KeyError(f"dataset {dataset_id} is not in the scenario")
        generated = self.generated
        state = DatasetState(
            dataset_id, generated.name(found), generated.business_of(found)
        )
        for source in SOURCES:
            for name, variant in generated.events(found, source):
                data = copy.deepcopy(generated.variant(source, name, variant))
                state.events[source].append(EventState(data, self.generated_agents))
        self.defined[dataset_id] = state
        return state

    def pixels(self, business_id: str, edge: str) -> Sequence[tuple[str, str]] | None:
        """(id, name) of a business's owned or client pixels; None if unknown."""
        if business_id not in self.business_names:
            return None
        generated = self.generated
        listed = [
            (d.id, d.name)
            for d in self.defined.values()
            if d.access != "unknown"
            and (
                d.business == business_id
                if edge == "owned_pixels"
                else business_id in d.clients
            )
            # Edited generated datasets stay listed in their generated place.
            and (generated is None or generated.index_of(d.id) is None)
        ]
        if generated is None or edge != "owned_pixels":
            return listed
        return _Chain(listed, _GeneratedPixels(generated, business_id))


def _all(state: DatasetState) -> list[EventState]:
    return [event for events in state.events.values() for event in events]


class _GeneratedPixels(Sequence[tuple[str, str]]):
    """A generated business's pixels, computed per position, never listed whole."""

    def __init__(self, generated: Generated, business_id: str) -> None:
        self._generated = generated
        self._indexes = generated.owned(business_id)

    def __len__(self) -> int:
        return len(self._indexes)

    def __getitem__(self, position: int) -> tuple[str, str]:  # type: ignore[override]
        index = self._indexes[position]
        return self._generated.dataset_id(index), self._generated.name(index)


class _Chain(Sequence[tuple[str, str]]):
    """Two sequences one after the other."""

    def __init__(
        self, first: Sequence[tuple[str, str]], second: Sequence[tuple[str, str]]
    ) -> None:
        self._first, self._second = first, second

    def __len__(self) -> int:
        return len(self._first) + len(self._second)

    def __getitem__(self, position: int) -> tuple[str, str]:  # type: ignore[override]
        if position < len(self._first):
            return self._first[position]
        return self._second[position - len(self._first)]
