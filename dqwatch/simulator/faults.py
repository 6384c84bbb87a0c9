"""Errors and timeouts injected into the answers, by scenario or by a test.

A fault answers its error to the requests it matches (one dataset's, or
every API request when it names none) a number of times, optionally only
every n-th matching request. A timeout makes matching batch items come back
as ``null``, the API's way of saying a batch was cut short.
"""

from __future__ import annotations

from dataclasses import dataclass

from dqwatch.simulator.errors import GraphFault, graph_error
from dqwatch.simulator.specs import FaultSpec

__all__ = ["Fault", "Faults"]


@dataclass
class Fault:
    """One injected error and how many more times it answers."""

    answer: GraphFault | None  # None: a timeout (a null batch item)
    dataset: str | None = None
    remaining: int | None = 1  # None: no end
    every: int = 1
    _seen: int = 0

    @classmethod
    def from_spec(cls, spec: FaultSpec) -> Fault:
        answer = graph_error(
            spec.code,
            spec.subcode,
            message=spec.message,
            http_status=spec.http_status,
            html=spec.html,
        )
        return cls(answer, spec.dataset, spec.times or None, spec.every)

    def fires(self, dataset_id: str | None) -> bool:
        """Count a request; True when this fault answers it."""
        if self.dataset is not None and self.dataset != dataset_id:
            return False
        self._seen += 1
        if self._seen % self.every:
            return False
        if self.remaining is not None:
            self.remaining -= 1
        return True

    @property
    def spent(self) -> bool:
        return self.remaining is not None and self.remaining <= 0


class Faults:
    """The pending faults, first added first used."""

    def __init__(self, specs: tuple[FaultSpec, ...] = ()) -> None:
        self._faults = [Fault.from_spec(spec) for spec in specs]

    def add(self, fault: Fault) -> None:
        self._faults.append(fault)

    def error_for(self, dataset_id: str | None) -> GraphFault | None:
        """The error to answer a request for ``dataset_id`` with, if any."""
        return self._take(dataset_id, timeouts=False)

    def times_out(self, dataset_id: str | None) -> bool:
        """Whether a batch item for ``dataset_id`` should come back ``null``."""
        return self._take(dataset_id, timeouts=True) is not None

    def _take(self, dataset_id: str | None, *, timeouts: bool) -> GraphFault | None:
        for fault in self._faults:
            if (fault.answer is None) != timeouts or not fault.fires(dataset_id):
                continue
            if fault.spent:
                self._faults.remove(fault)
            return fault.answer or _TIMEOUT
        return None


# A stand-in answer that only says "a timeout fired".
_TIMEOUT = GraphFault(0, "timeout")
