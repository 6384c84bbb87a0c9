"""The ``/metrics`` body: the process's registry plus gauges read from the store.

The registry (counters, the cycle histogram, API usage) is rendered by
prometheus_client. The store-fed gauges are written here directly in the
text format (version 0.0.4): at 10,000 datasets of 10 events they are
about 250,000 samples, and building them as metric families for the
library to render took over two seconds per scrape, against under a
fifth of a second written as lines here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from prometheus_client import generate_latest

from dqwatch import telemetry
from dqwatch.rules import SEVERITIES
from dqwatch.store._web import OPEN, MetricsData
from dqwatch.telemetry import StoreGauge

#: Reported even when zero, so alerting on them never meets an absent series.
OUTBOX_STATES = ("pending", "sent", "dead")

_UNSAFE = re.compile(r'[\\"\n]')

#: A row of label values (texts) followed by other columns (a value).
Row = tuple[Any, ...]


def render_metrics(data: MetricsData | None) -> bytes:
    """The whole body; ``data`` None means the store could not be read."""
    up = telemetry.STORE_UP
    parts = [_family(up, [f"{up.name} {int(data is not None)}\n"])]
    if data is not None:
        parts.extend(_store_families(data))
    return generate_latest(telemetry.REGISTRY) + "".join(parts).encode()


def _store_families(data: MetricsData) -> Iterable[str]:
    for metric, gauge in telemetry.SCORE_GAUGES.items():
        rows = _escaped(data.scores.get(metric, []), 2)
        name = gauge.name
        # Every sample passes through here: one f-string, no calls (see above).
        lines = [f'{name}{{dataset="{d}",event="{e}"}} {v!r}\n' for d, e, v in rows]
        yield _family(gauge, lines)

    info = telemetry.DATASET_INFO
    datasets = _escaped(data.datasets, 3)
    yield _family(
        info,
        [
            f'{info.name}{{dataset="{i}",name="{n}",owner="{o}"}} 1\n'
            for i, n, o in datasets
        ],
    )
    yield _family(telemetry.ALERTS, _alert_lines(data.alerts))
    yield _family(telemetry.OUTBOX_DEPTH, _outbox_lines(data.outbox))


def _alert_lines(counts: Mapping[tuple[str, str], int]) -> list[str]:
    every: dict[tuple[str, str], int] = {
        (state, severity): 0 for state in OPEN for severity in SEVERITIES
    }
    every.update(counts)
    name = telemetry.ALERTS.name
    return [
        f'{name}{{state="{_escape(state)}",severity="{_escape(severity)}"}} {n}\n'
        for (state, severity), n in sorted(every.items())
    ]


def _outbox_lines(counts: Mapping[str, int]) -> list[str]:
    every = dict.fromkeys(OUTBOX_STATES, 0) | dict(counts)
    name = telemetry.OUTBOX_DEPTH.name
    return [f'{name}{{state="{_escape(s)}"}} {n}\n' for s, n in sorted(every.items())]


def _family(gauge: StoreGauge, lines: list[str]) -> str:
    help_text = gauge.help.replace("\\", "\\\\").replace("\n", "\\n")
    header = f"# HELP {gauge.name} {help_text}\n# TYPE {gauge.name} gauge\n"
    return header + "".join(lines)


def _escaped(rows: Sequence[Row], width: int) -> Sequence[Row]:
    """``rows`` with their first ``width`` columns escaped as label values.

    Ids, names and event names almost never hold a quote, backslash or
    newline, so the distinct texts are checked once and rows are only
    rebuilt when one of them needs it.
    """
    texts: set[str] = set()
    for i in range(width):
        texts.update(row[i] for row in rows)
    unsafe = {t: _escape(t) for t in texts if _UNSAFE.search(t)}
    if not unsafe:
        return rows
    return [(*(unsafe.get(t, t) for t in row[:width]), *row[width:]) for row in rows]


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
