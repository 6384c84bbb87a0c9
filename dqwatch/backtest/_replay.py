"""Replaying stored polls through a rule set, one poll at a time.

Each stored poll becomes the :class:`~dqwatch.poller.PollResult` the daemon
evaluated when it happened: an ok poll carries the history rows it wrote as
its changes and a snapshot of the values known after them; a failed poll
carries its error rebuilt from the poll log. The results go through a real
:class:`~dqwatch.evaluate.Evaluator` with an alert book of its own, so the
replay moves alerts exactly as the daemon did, and nothing is written.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Mapping, Sequence

from dqwatch.alerts import Alert, AlertBook, Silence, Transition, fingerprint
from dqwatch.backtest._attention import Attention, TargetKey
from dqwatch.backtest._errors import rebuild_error
from dqwatch.backtest._timelines import Timelines
from dqwatch.builtin_alerts import TOKEN_INVALID, UNREACHABLE
from dqwatch.evaluate import Evaluator, Outcome
from dqwatch.model import Details, Observation, Snapshot, Value
from dqwatch.poller import OK, PollResult, Target
from dqwatch.rules import RuleSet
from dqwatch.store import SeriesChange
from dqwatch.store._backtest import Change, PollRow, Series

#: The values of one event, by (metric, key); None marks a key known gone.
EventValues = dict[tuple[str, str], Observation | None]
#: What is known of one dataset and source, by event.
State = dict[str, EventValues]

_TOKEN_FP = fingerprint(TOKEN_INVALID, "", "", "", "")


class Replay:
    """Values per target, open alerts and transitions of one replay.

    Feed it the values in force at ``since`` (:meth:`seed`) and the targets
    polled in the replayed period (:meth:`meet`); then, slice by slice in
    time order, the history rows (:meth:`queue`) and the polls
    (:meth:`replay`). Only series of the metrics the rules read need be
    fed: a change of any other metric cannot move an alert.
    """

    def __init__(
        self,
        rules: RuleSet,
        series: Mapping[int, Series],
        names: Mapping[str, tuple[str, str]],
        births: Mapping[TargetKey, float],
        since: float,
        silences: Sequence[Silence] = (),
    ) -> None:
        self.since = since
        self.book = AlertBook()
        self.attention = Attention()
        self.transitions: list[Transition] = []
        self.timelines = Timelines(
            series, {r.metric for r in rules.rules if r.baseline is not None}
        )
        self._evaluator = Evaluator(rules, self.book, silences=silences)
        self._thresholds = RuleSet(
            tuple(r for r in rules.rules if r.kind == "threshold"), rules.files
        )
        self._silences = list(silences)
        self._series = series
        self._names = names
        self._births = births
        self._states: dict[TargetKey, State] = {}
        self._queued: dict[TargetKey, deque[Change]] = {}
        self._targets: dict[TargetKey, Target] = {}
        self._details: dict[int, Details] = {}

    @property
    def datasets(self) -> int:
        """How many datasets the replay followed."""
        return len({dataset for dataset, _ in self._targets})

    def open_alerts(self) -> list[Alert]:
        """Alerts still pending or firing where the replay stopped."""
        return sorted(self.book, key=lambda a: (a.active_since, a.fingerprint))

    # -- feeding ------------------------------------------------------------

    def seed(self, values: Mapping[int, Value | None]) -> None:
        """Set the values in force when the replay starts."""
        for sid, value in values.items():
            series = self._series[sid]
            state = self._states.setdefault((series.dataset_id, series.source), {})
            values_of_event = state.setdefault(series.event, {})
            values_of_event[(series.metric, series.key)] = self._observe(
                sid, series, value
            )

    def meet(self, key: TargetKey) -> Target:
        """Start following a target; judge thresholds on its values at ``since``."""
        name, owner = self._names.get(key[0], (key[0], ""))
        target = self._targets[key] = Target(key[0], key[1], name, owner)
        self.attention.meet(key)
        state = self._states.setdefault(key, {})
        if state and self._thresholds.rules:
            self._open(target, state)
        return target

    def queue(self, rows: Iterable[Change]) -> None:
        """History rows, oldest first, for the polls that wrote them."""
        for row in rows:
            series = self._series[row.series_id]
            target = (series.dataset_id, series.source)
            self._queued.setdefault(target, deque()).append(row)
            self.timelines.record(row)

    def replay(self, row: PollRow) -> None:
        """Evaluate one stored poll as the daemon did when it happened."""
        key = (row.dataset_id, row.source)
        target = self._targets.get(key) or self.meet(key)
        if row.outcome == OK:
            result = self._ok_result(target, self._states[key], row)
            if result is None:
                return  # nothing changed and no open alert could move
        else:
            failure, error = rebuild_error(
                row.outcome, row.error_code, row.error_subcode, row.error_message
            )
            result = PollResult(target, failure, row.started, row.finished, error)
        baselines = {
            key: self.timelines.median(key, result.finished)
            for key in self._evaluator.baselines_needed(result)
        }
        self._note(self._evaluator.evaluate(result, baselines))

    def _note(self, outcome: Outcome) -> None:
        """Keep the transitions of one evaluation; follow the alerts it moved."""
        self.transitions.extend(outcome.transitions)
        self.attention.note(outcome.updates)

    # -- one target ---------------------------------------------------------

    def _open(self, target: Target, state: State) -> None:
        """Report thresholds that already held at ``since`` as firing then.

        This is what the daemon does for a newly added threshold rule: the
        values in force are judged once, as if each had just been seen.
        """
        snapshot = _snapshot(target, state, self.since, state)
        changes = [_unchanged(target, o) for o in snapshot.observations]
        result = PollResult(
            target, OK, self.since, self.since, snapshot=snapshot, changes=changes
        )
        # A book of its own: this opening pass is not a poll, so it must not
        # resolve the token or unreachable alerts of the real book.
        scratch = AlertBook()
        opening = Evaluator(self._thresholds, scratch, silences=self._silences)
        self._note(opening.evaluate(result))
        for alert in scratch:
            self.book.put(alert)

    def _ok_result(
        self, target: Target, state: State, row: PollRow
    ) -> PollResult | None:
        key = (target.dataset_id, target.source)
        # As the store decides: a poll is first while nothing was stored.
        first = row.started <= self._births.get(key, float("inf"))
        changes = self._apply(key, state, row.started)
        if not changes:
            if self._quiet(key):
                return None
            # Like a response identical to the stored one: nothing to read.
            return PollResult(target, OK, row.started, row.finished, unchanged=True)
        # The evaluator reads a snapshot only for the events a poll changed
        # (coverage goals) and those of alerts waiting for more polls; a copy
        # of every event for each changed poll would make a replay's cost
        # follow the datasets' size instead of their changes.
        events = {c.event for c in changes}
        events.update(self.attention.pending_events(key))
        snapshot = _snapshot(target, state, row.started, events)
        return PollResult(
            target,
            OK,
            row.started,
            row.finished,
            snapshot=snapshot,
            changes=changes,
            first=first,
        )

    def _apply(
        self, key: TargetKey, state: State, started: float
    ) -> list[SeriesChange]:
        """Apply the history rows a poll wrote; return them as changes."""
        queued = self._queued.get(key)
        changes: dict[int, SeriesChange] = {}
        while queued and queued[0].ts <= started:
            row = queued.popleft()
            series = self._series[row.series_id]
            values = state.setdefault(series.event, {})
            old = values.get((series.metric, series.key))
            # Rows of several polls reach one poll only when the poll log
            # lost a poll: keep the value before the first of them.
            earlier = changes.get(row.series_id)
            before = earlier.before if earlier else old.value if old else None
            new = self._observe(row.series_id, series, row.value)
            values[(series.metric, series.key)] = new
            changes[row.series_id] = SeriesChange(
                series.dataset_id,
                series.source,
                series.event,
                series.metric,
                series.key,
                before,
                row.value,
                new.details if new else {},
            )
        return list(changes.values())

    def _quiet(self, key: TargetKey) -> bool:
        """True when an unchanged ok poll of ``key`` cannot move any alert.

        Such a poll only counts towards a pending alert's ``for`` and ends
        the built-in alerts; firing alerts stay as they are.
        """
        if self.attention.has_pending(key):
            return False
        unreachable = fingerprint(UNREACHABLE, key[0], "", "", "")
        return not (self.book.get(_TOKEN_FP) or self.book.get(unreachable))

    def _observe(
        self, sid: int, series: Series, value: Value | None
    ) -> Observation | None:
        if value is None:
            return None
        details = self._details.get(sid)
        if details is None:
            # The history keeps values only; these are the texts stored last.
            details = self._details[sid] = (
                json.loads(series.details) if series.details else {}
            )
        return Observation(
            series.source, series.event, series.metric, series.key, value, details
        )


def _snapshot(
    target: Target, state: State, at: float, events: Iterable[str]
) -> Snapshot:
    observations = tuple(
        o for event in events for o in state.get(event, {}).values() if o is not None
    )
    names = tuple(dict.fromkeys(o.event for o in observations))
    return Snapshot(target.dataset_id, target.source, at, names, observations, "")


def _unchanged(target: Target, o: Observation) -> SeriesChange:
    return SeriesChange(
        target.dataset_id,
        target.source,
        o.event,
        o.metric,
        o.key,
        o.value,
        o.value,
        o.details,
    )
