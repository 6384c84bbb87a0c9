"""What ``/healthz`` decides, and the daemon state it decides from.

Healthy means three things at once: the daemon said it is ready, the
database accepts a write, and the last cycle finished within two poll
intervals. Anything else is unhealthy, with every reason spelled out so
whoever is paged knows where to look first.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from dqwatch.errors import StoreError
from dqwatch.store import Store

#: A cycle may take this many poll intervals before the daemon counts as stuck.
STALE_AFTER_INTERVALS = 2


@dataclass
class DaemonState:
    """What the daemon reports about itself; the web server only reads it.

    Times are Unix seconds from the same clock the web server is given.
    """

    started: float
    #: The poll interval, in seconds.
    interval: float
    last_cycle_finished: float | None = None
    last_cycle_seconds: float | None = None
    #: True once config, rules and store are loaded and polling has begun.
    ready: bool = False


@dataclass(frozen=True)
class Health:
    """The verdict of one health check."""

    ready: bool
    last_cycle_age: float | None
    outbox_backlog: int | None
    reasons: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.reasons

    def document(self) -> dict[str, object]:
        """The JSON body of ``/healthz``."""
        age = self.last_cycle_age
        return {
            "status": "ok" if self.ok else "unhealthy",
            "ready": self.ready,
            "last_cycle_age": None if age is None else round(age, 3),
            "outbox_backlog": self.outbox_backlog,
            "reasons": self.reasons,
        }


async def check_health(
    store: Store, state: DaemonState, now: float, probe_seconds: float
) -> Health:
    """Probe the store with a write and judge the daemon's state at ``now``."""
    reasons = [] if state.ready else ["the daemon has not reported ready yet"]
    reasons.extend(cycle_reasons(state, now))
    backlog: int | None = None
    try:
        backlog = await asyncio.wait_for(store.health_probe(now), probe_seconds)
    except TimeoutError:
        reasons.append(
            "the database did not take a one-row write within"
            f" {probe_seconds:g}s; it is overloaded or locked by another program"
        )
    except StoreError as exc:
        reasons.append(f"the database cannot be written: {exc}")
    finished = state.last_cycle_finished
    age = None if finished is None else max(0.0, now - finished)
    return Health(state.ready, age, backlog, reasons)


def cycle_reasons(state: DaemonState, now: float) -> list[str]:
    """Why the cycles look stuck at ``now``, or nothing when they do not."""
    limit = STALE_AFTER_INTERVALS * state.interval
    finished = state.last_cycle_finished
    if finished is None:
        waited = now - state.started
        if waited <= limit:
            return []  # the first cycle is still allowed to be running
        return [
            f"no cycle has finished in the {waited:.0f}s since the daemon started"
            f" (more than {STALE_AFTER_INTERVALS} poll intervals, {limit:.0f}s)"
        ]
    age = now - finished
    if age <= limit:
        return []
    return [
        f"the last cycle finished {age:.0f}s ago, more than {STALE_AFTER_INTERVALS}"
        f" poll intervals ({limit:.0f}s): polling is stuck or slower than the interval"
    ]
