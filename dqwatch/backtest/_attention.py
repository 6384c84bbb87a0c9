"""Which polls can still move an alert, so a replay reads no others.

An ok poll that changed nothing moves an alert in three cases only: it
counts towards a pending alert's ``for``; it is the next ok poll of a
dataset that could not be polled (``dataset-unreachable`` may resolve); or
it is the first ok poll after the token failed (``token-invalid``
resolves). :class:`Attention` follows the alerts of a replay and names the
datasets and moments for which such polls must be read.
"""

from __future__ import annotations

from collections.abc import Iterable

from dqwatch.alerts import Alert
from dqwatch.builtin_alerts import TOKEN_INVALID, UNREACHABLE

TargetKey = tuple[str, str]  # (dataset, source)


class Attention:
    """Pending alerts per target, and the datasets whose next polls matter."""

    def __init__(self) -> None:
        #: Whether the token alert is open: the next ok poll of any dataset ends it.
        self.token_open = False
        self._events: dict[TargetKey, dict[str, str]] = {}
        self._waits: dict[str, set[str]] = {}
        self._sources: dict[str, set[str]] = {}
        self._new: set[str] = set()

    def meet(self, target: TargetKey) -> None:
        """Know that ``target`` is polled, so its polls can be asked for."""
        self._sources.setdefault(target[0], set()).add(target[1])

    def note(self, alerts: Iterable[Alert]) -> None:
        """Follow alerts an evaluation changed."""
        for alert in alerts:
            if alert.rule == TOKEN_INVALID:
                self.token_open = alert.is_open
                continue
            fp, dataset = alert.fingerprint, alert.dataset_id
            waits = self._waits.setdefault(dataset, set())
            events = self._events.setdefault((dataset, alert.source), {})
            pending = alert.state == "pending"
            if pending or (alert.rule == UNREACHABLE and alert.is_open):
                if not waits:
                    self._new.add(dataset)
                waits.add(fp)
            else:
                waits.discard(fp)
            if pending:
                events[fp] = alert.event
            else:
                events.pop(fp, None)

    def pending_events(self, target: TargetKey) -> Iterable[str]:
        """Events of the target's pending alerts."""
        return self._events.get(target, {}).values()

    def has_pending(self, target: TargetKey) -> bool:
        return bool(self._events.get(target))

    def waiting(self) -> list[TargetKey]:
        """Every target whose next ok polls matter (and forget who was new)."""
        self._new.clear()
        return self._targets(d for d, waits in self._waits.items() if waits)

    def take_new(self) -> list[TargetKey]:
        """Targets whose next ok polls began to matter since the last call."""
        new = [d for d in self._new if self._waits.get(d)]
        self._new.clear()
        return self._targets(new)

    def _targets(self, datasets: Iterable[str]) -> list[TargetKey]:
        return [
            (d, s) for d in sorted(datasets) for s in sorted(self._sources.get(d, ()))
        ]
