"""The :class:`Simulator`: a local Graph API server driven by a scenario.

Tests start it on port 0 and talk to it over real HTTP; between requests
they edit what it answers (:meth:`Simulator.set_value`,
:meth:`Simulator.remove`, :meth:`Simulator.inject_fault`) and read what it
saw (:attr:`Simulator.stats`, :attr:`Simulator.requests`). Time comes from
injectable clocks, so rate-limit windows, token expiry and timed changes
can be tested without sleeping.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

from dqwatch.simulator.app import HttpFront, RecordedRequest
from dqwatch.simulator.data import normalize_agent
from dqwatch.simulator.engine import Engine, SimStats
from dqwatch.simulator.errors import graph_error
from dqwatch.simulator.faults import Fault
from dqwatch.simulator.metrics import METRICS
from dqwatch.simulator.scenario import Scenario, load_scenario, packaged_scenario
from dqwatch.simulator.specs import check_metric_value

__all__ = ["ManualClock", "Simulator", "serve"]

log = logging.getLogger("dqwatch.simulator")


class ManualClock:
    """A clock for tests: it stands still until advanced.

    Pass it as ``clock`` (or ``wall_clock``) and move time with
    :meth:`advance` instead of sleeping.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Simulator:
    """A faithful local stand-in for the Graph API, answering from a scenario.

    ``clock`` (monotonic seconds) drives rate-limit windows, token expiry
    and timed changes; ``wall_clock`` (Unix seconds) checks
    ``appsecret_time`` and dates tokens; ``normalize_agent`` turns an
    ``agent_name`` or partner agent into the value events are matched on;
    ``sleep`` waits out the scenario's latency.
    """

    def __init__(
        self,
        scenario: Scenario,
        clock: Callable[[], float] = time.monotonic,
        *,
        wall_clock: Callable[[], float] = time.time,
        normalize_agent: Callable[[str], str] = normalize_agent,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.scenario = scenario
        self.engine = Engine(scenario, clock, wall_clock, normalize_agent)
        self._recorded: deque[RecordedRequest] = deque(
            maxlen=scenario.simulator.record_requests
        )
        self._front = HttpFront(self.engine, self._recorded, sleep)
        self._runner: web.AppRunner | None = None
        self.url: str | None = None

    @property
    def stats(self) -> SimStats:
        """Requests, calls per business, errors by code, throttled answers."""
        return self.engine.stats

    @property
    def requests(self) -> list[RecordedRequest]:
        """The most recent requests (as many as ``record_requests``), oldest first."""
        return list(self._recorded)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start serving; return the base URL, e.g. ``http://127.0.0.1:43123``."""
        if self._runner is not None:
            raise RuntimeError("the simulator is already running")
        runner = web.AppRunner(
            self._front.application(), access_log=None, handle_signals=False
        )
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        self.url = f"http://{bound_host}:{bound_port}"
        return self.url

    async def stop(self) -> None:
        """Stop serving; a stopped simulator may be started again."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @asynccontextmanager
    async def running(
        self, host: str = "127.0.0.1", port: int = 0
    ) -> AsyncIterator[str]:
        """``async with sim.running() as url:`` serves for the block's duration."""
        url = await self.start(host, port)
        try:
            yield url
        finally:
            await self.stop()

    def set_value(
        self,
        dataset_id: str,
        event: str,
        metric: str,
        value: float | str,
        key: str | None = None,
        source: str | None = None,
    ) -> None:
        """Give a catalogue metric a value; the event is added if it is missing.

        ``source`` follows from the metric (``offline_*`` metrics are offline);
        giving a different one is an error. Raises ``KeyError`` for a dataset
        the scenario does not have and ``ValueError`` for a value that does not
        fit the metric.
        """
        check_metric_value(metric, key, value)
        _check_source(metric, source)
        self.engine.datasets.editable(dataset_id).set_value(event, metric, key, value)

    def remove(
        self,
        dataset_id: str,
        event: str | None = None,
        metric: str | None = None,
        key: str | None = None,
        source: str | None = None,
    ) -> None:
        """Make something absent from the answers.

        With only ``dataset_id`` the dataset itself disappears (error 2044055
        or as configured). With ``event`` that event goes; with ``metric`` that
        metric goes from the event, or from every event when ``event`` is None;
        with ``key`` only that key of a keyed metric goes. ``source`` picks web
        or offline events when no metric says it (default web).
        """
        state = self.engine.datasets.editable(dataset_id)
        if event is None and metric is None:
            state.access = "unknown"
            state.cache.clear()
            return
        if metric is not None:
            if metric not in METRICS:
                raise ValueError(
                    f"unknown metric {metric!r}; use one of {', '.join(METRICS)}"
                )
            if key is not None and not METRICS[metric].keyed:
                raise ValueError(f"{metric} has no key")
            _check_source(metric, source)
        state.remove(source or "web", event, metric, key)

    def inject_fault(
        self,
        code: int,
        *,
        dataset_id: str | None = None,
        times: int = 1,
        http_status: int | None = None,
        html: bool = False,
        subcode: int | None = None,
        message: str | None = None,
        every: int = 1,
    ) -> None:
        """Answer the next ``times`` matching requests with error ``code``.

        A fault for a dataset matches its ``dataset_quality`` requests; one
        without matches every API request. ``times=0`` never runs out;
        ``every=n`` answers only each n-th matching request. ``html=True``
        answers an HTML error page (HTTP 502 unless ``http_status`` says).
        """
        answer = graph_error(
            code, subcode, message=message, http_status=http_status, html=html
        )
        self.engine.faults.add(Fault(answer, dataset_id, times or None, every))

    def inject_timeout(self, *, dataset_id: str | None = None, times: int = 1) -> None:
        """Answer the next ``times`` matching batch items with ``null``."""
        self.engine.faults.add(Fault(None, dataset_id, times or None))

    def advance_epoch(self, fraction: float) -> int:
        """Change the values of ``fraction`` of the generated datasets.

        Returns how many changed. The choice depends only on the seed and how
        many epochs came before, so it is the same on every run.
        """
        generated = self.engine.datasets.generated
        if generated is None:
            raise ValueError("the scenario has no [generate] section")
        if not 0 <= fraction <= 1:
            raise ValueError(f"fraction must be from 0 to 1, got {fraction}")
        return generated.advance(fraction)


def _check_source(metric: str, source: str | None) -> None:
    expected = METRICS[metric].source
    if source is not None and source != expected:
        raise ValueError(f"{metric} is a {expected} metric, not a {source} one")


def serve(scenario_path: Path | None, host: str, port: int) -> None:
    """Run a simulator until SIGINT or SIGTERM; the packaged ``basic`` scenario
    when ``scenario_path`` is None. Prints the base URL on stdout once ready.
    """
    scenario = (
        load_scenario(scenario_path) if scenario_path else packaged_scenario("basic")
    )
    asyncio.run(_serve(scenario, host, port))


async def _serve(scenario: Scenario, host: str, port: int) -> None:
    simulator = Simulator(scenario)
    url = await simulator.start(host, port)
    log.info("simulator for %s listening on %s", scenario.source, url)
    sys.stdout.write(f"{url}\n")
    sys.stdout.flush()

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    try:
        await stopping.wait()
    finally:
        await simulator.stop()
        log.info("simulator stopped after %d requests", simulator.stats.requests)
