"""The daemon's web endpoints: the status page, ``/metrics`` and ``/healthz``.

```python
state = DaemonState(started=time.time(), interval=900.0)
server = WebServer(store, state, config.web.listen)
url = await server.start()          # "http://127.0.0.1:8787"
state.ready = True

report = await run_cycle(runtime)   # after each cycle:
state.last_cycle_finished = report.finished
state.last_cycle_seconds = report.finished - report.started
record_cycle(report, runtime.client.governor.snapshot())

await server.stop()
```

See docs/operations.md for every endpoint and metric.
"""

from __future__ import annotations

from dqwatch.telemetry import record_cycle, record_usage
from dqwatch.web._health import DaemonState, Health, check_health
from dqwatch.web._server import PAGE_SIZE, PROBE_TIMEOUT, WebServer, split_listen

__all__ = [
    "PAGE_SIZE",
    "PROBE_TIMEOUT",
    "DaemonState",
    "Health",
    "WebServer",
    "check_health",
    "record_cycle",
    "record_usage",
    "split_listen",
]
