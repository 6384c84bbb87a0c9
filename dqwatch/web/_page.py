"""The status page: plain HTML, inline CSS, no script and no outside assets.

Dataset names, owners, event names and alert summaries come from outside
(the API, config files, rule files), so every one of them goes through
``_text`` (HTML escaping, quotes included) on its way into the page.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from html import escape

from dqwatch.alerts import EVENTS_MANAGER_URL
from dqwatch.store._web import DatasetLine, OpenAlert, PageData, Score
from dqwatch.web._health import DaemonState

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em;margin:0 0 .3em}h2{font-size:1.1em;margin:1.2em 0 .4em}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #ddd;padding:.35em .5em;text-align:left;
vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;white-space:nowrap}
.muted{color:#777}.sev{font-weight:600;padding:0 .3em;border-radius:3px}
.critical{background:#fdd;color:#900}.warning{background:#ffe7c2;color:#840}
.info{background:#e3efff;color:#135}.pending{opacity:.7}
ul{margin:0;padding-left:1.1em}dl{display:grid;grid-template-columns:max-content auto;
gap:.2em 1em;margin:0}dt{font-weight:600}nav{margin:.8em 0}
"""

#: Score columns: (store metric, heading, suffix after the value).
_COLUMNS = (
    ("emq", "Lowest EMQ", ""),
    ("event_coverage", "Lowest coverage", "%"),
    ("offline_composite", "Lowest offline composite", ""),
)


def render_page(data: PageData, state: DaemonState, now: float) -> str:
    """The whole status page for one page of datasets."""
    parts = [
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>",
        "<title>dqwatch status</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>dqwatch status</h1>",
        _summary(data, state, now),
    ]
    if data.general:
        parts.append("<h2>Alerts not tied to a known dataset</h2>")
        parts.append(_alert_list(data.general))
    parts.append(f"<h2>Datasets</h2>{_navigation(data)}")
    parts.append(_table(data.lines))
    parts.append(_navigation(data))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def render_error(message: str) -> str:
    """A page saying the database could not be read."""
    return (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        f"<title>dqwatch status</title><style>{_STYLE}</style></head><body>"
        "<h1>dqwatch status</h1>"
        f"<p>The database cannot be read: {_text(message)}</p></body></html>\n"
    )


def _summary(data: PageData, state: DaemonState, now: float) -> str:
    if state.last_cycle_finished is None:
        last = "none finished yet"
    else:
        ago = _duration(now - state.last_cycle_finished)
        took = state.last_cycle_seconds
        last = f"{_when(state.last_cycle_finished)} ({ago} ago"
        last += f", took {_duration(took)})" if took is not None else ")"
    rows = [
        ("Started", _when(state.started)),
        ("Ready", "yes" if state.ready else "no"),
        ("Poll interval", _duration(state.interval)),
        ("Last cycle", last),
        ("Datasets", f"{data.datasets:,}"),
        ("Open alerts", f"{data.firing:,} firing, {data.pending:,} pending"),
        ("Notifications waiting", f"{data.outbox_pending:,}"),
    ]
    body = "".join(f"<dt>{_text(k)}</dt><dd>{_text(v)}</dd>" for k, v in rows)
    return f"<dl>{body}</dl>"


def _navigation(data: PageData) -> str:
    if data.pages <= 1:
        return ""
    last = min(data.first + len(data.lines), data.datasets)
    links = [f"Datasets {data.first + 1:,}-{last:,} of {data.datasets:,}"]
    if data.page > 1:
        links.append(f'<a href="?page={data.page - 1}">previous page</a>')
    if data.page < data.pages:
        links.append(f'<a href="?page={data.page + 1}">next page</a>')
    return f"<nav>{' · '.join(links)}</nav>"


def _table(lines: Iterable[DatasetLine]) -> str:
    heads = "".join(f"<th>{_text(head)}</th>" for _, head, _ in _COLUMNS)
    rows = [
        f"<table><thead><tr><th>Dataset</th><th>Owner</th>{heads}"
        "<th>Open alerts</th></tr></thead><tbody>"
    ]
    rows.extend(_row(line) for line in lines)
    rows.append("</tbody></table>")
    return "\n".join(rows)


def _row(line: DatasetLine) -> str:
    url = EVENTS_MANAGER_URL.format(line.id)
    name = line.name or line.id
    cells = [
        f'<td>{_text(name)}<br><a class=muted href="{_text(url)}">{_text(line.id)}</a>'
        "</td>",
        f"<td>{_text(line.owner)}</td>",
    ]
    for metric, _, suffix in _COLUMNS:
        cells.append(f"<td class=num>{_score(line.scores.get(metric), suffix)}</td>")
    alerts = (
        _alert_list(line.alerts) if line.alerts else "<span class=muted>none</span>"
    )
    cells.append(f"<td>{alerts}</td>")
    return f"<tr>{''.join(cells)}</tr>"


def _score(score: Score | None, suffix: str) -> str:
    if score is None:
        return "<span class=muted>-</span>"
    value = f"{score.value:.1f}{suffix}"
    return f"{_text(value)} <span class=muted>{_text(score.event)}</span>"


def _alert_list(alerts: Iterable[OpenAlert]) -> str:
    items = []
    for alert in alerts:
        where = " · ".join(
            _text(x) for x in (alert.source, alert.event, alert.key) if x
        )
        notes = [alert.state] + (["silenced"] if alert.silenced else [])
        items.append(
            f'<li class="{_text(alert.state)}">'
            f'<span class="sev {_text(alert.severity)}">{_text(alert.severity)}</span> '
            f"<b>{_text(alert.rule)}</b> {where} "
            f"<span class=muted>({_text(', '.join(notes))} since"
            f" {_text(_when(alert.since))})</span><br>{_text(alert.summary)}</li>"
        )
    return f"<ul>{''.join(items)}</ul>"


def _text(value: object) -> str:
    return escape(str(value), quote=True)


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"
