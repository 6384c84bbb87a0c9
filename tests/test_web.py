"""The web endpoints: /healthz verdicts, /metrics contents, the status page.

Every test runs a real server on 127.0.0.1 (port 0) over a real store in
tmp_path, filled through the store's own write methods. Time comes from an
injected clock, never from sleeping.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dqwatch import telemetry
from dqwatch.alerts import Alert
from dqwatch.cycle import CycleReport
from dqwatch.errors import DqwatchError
from dqwatch.model import Observation, Snapshot
from dqwatch.poller import PollResult, Target
from dqwatch.store import DatasetRow, Intent, Store
from dqwatch.web import DaemonState, WebServer, split_listen

NOW = 1_800_000_000.0
INTERVAL = 900.0
HOSTILE_NAME = "<script>alert(1)</script>"
HOSTILE_EVENT = 'Buy &<> "now"\\'


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Site:
    """A running server and what it was built from."""

    url: str
    server: WebServer
    store: Store
    state: DaemonState
    clock: Clock
    http: aiohttp.ClientSession

    async def get(self, path: str) -> tuple[int, str, Mapping[str, str]]:
        async with self.http.get(self.url + path) as response:
            return response.status, await response.text(), response.headers

    async def metrics(self) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
        """Samples by name, then by sorted label pairs."""
        status, text, _ = await self.get("/metrics")
        assert status == 200
        found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = tuple(sorted(sample.labels.items()))
                found.setdefault(sample.name, {})[labels] = sample.value
        return found


@pytest.fixture
async def site(store: Store) -> AsyncIterator[Site]:
    """The server over ``store``, ready, with a cycle finished a minute ago."""
    clock = Clock(NOW)
    state = DaemonState(NOW - 3600, INTERVAL, NOW - 60, 42.0, ready=True)
    server = WebServer(store, state, "127.0.0.1:0", clock=clock)
    url = await server.start()
    async with aiohttp.ClientSession() as http:
        yield Site(url, server, store, state, clock, http)
    await server.stop()


def obs(event: str, metric: str, value: float, source: str = "web") -> Observation:
    return Observation(source, event, metric, "", value)


async def record(
    store: Store, dataset: str, *observations: Observation, source: str = "web"
) -> None:
    """Store one successful poll of ``dataset`` holding ``observations``."""
    events = tuple(sorted({o.event for o in observations}))
    raw = repr([(o.series, o.value) for o in observations])
    snapshot = Snapshot(dataset, source, NOW - 120, events, observations, raw)
    await store.record_poll(
        dataset, source, NOW - 121, NOW - 120, snapshot=snapshot, outcome="ok"
    )


def alert(dataset: str, rule: str, state: str, **fields: object) -> Alert:
    base = Alert(
        rule=rule,
        dataset_id=dataset,
        source="web",
        event="Purchase",
        key="",
        metric="emq",
        severity="warning",
        state=state,  # type: ignore[arg-type]
        count=1,
        active_since=NOW - 600,
        firing_since=NOW - 300 if state == "firing" else None,
        summary=f"{rule} on {dataset}",
        updated_at=NOW - 300,
    )
    return base.evolve(**fields)


async def fill(store: Store) -> None:
    """Three datasets (one with a hostile name), scores, and open alerts."""
    await store.sync_datasets(
        [
            DatasetRow("1001", "Acme shop", "acme"),
            DatasetRow("1002", HOSTILE_NAME, 'evil "co"'),
            DatasetRow("1003", "Quiet blog", "acme"),
        ],
        now=NOW - 3600,
    )
    await record(
        store,
        "1001",
        obs("Purchase", "emq", 7.8),
        obs("Lead", "emq", 6.1),
        obs("Purchase", "event_coverage", 82.0),
        obs("Purchase", "match_key_coverage", 50.0),
    )
    await record(
        store,
        "1001",
        obs("Purchase", "offline_composite", 8.9, "offline"),
        source="offline",
    )
    await record(store, "1002", obs(HOSTILE_EVENT, "emq", 5.0))
    await store.save_alerts(
        [
            alert(
                "1002",
                "emq-drop",
                "firing",
                event=HOSTILE_EVENT,
                severity="critical",
                summary="EMQ for <b>it</b> fell",
            ),
            alert("1001", "coverage-low", "pending"),
            alert(
                "",
                "token-invalid",
                "firing",
                source="",
                event="",
                severity="critical",
                summary="The access token is expired",
            ),
            alert("1003", "emq-drop", "resolved"),
        ],
        [],
    )


# -- /healthz -----------------------------------------------------------------------


async def test_healthz_is_ok_when_ready_writable_and_recent(site: Site) -> None:
    """A ready daemon with a writable store and a recent cycle answers 200."""
    status, _, _ = await site.get("/healthz")
    async with site.http.get(site.url + "/healthz") as response:
        body = await response.json()
    assert status == 200
    assert body == {
        "status": "ok",
        "ready": True,
        "last_cycle_age": 60.0,
        "outbox_backlog": 0,
        "reasons": [],
    }


async def test_healthz_fails_when_the_last_cycle_is_older_than_two_intervals(
    site: Site,
) -> None:
    """Past two poll intervals since the last cycle, /healthz answers 503 and why."""
    site.clock.now = NOW - 60 + 2 * INTERVAL  # exactly two intervals: still fine
    assert (await site.get("/healthz"))[0] == 200

    site.clock.now += 1
    async with site.http.get(site.url + "/healthz") as response:
        body = await response.json()
        assert response.status == 503
    assert body["status"] == "unhealthy"
    assert body["last_cycle_age"] == 2 * INTERVAL + 1
    assert body["reasons"] == [
        "the last cycle finished 1801s ago, more than 2 poll intervals (1800s):"
        " polling is stuck or slower than the interval"
    ]


async def test_healthz_gives_the_first_cycle_two_intervals(site: Site) -> None:
    """Before any cycle finished, the daemon is healthy for two intervals from start."""
    site.state.last_cycle_finished = None
    site.state.started = NOW - 2 * INTERVAL
    async with site.http.get(site.url + "/healthz") as response:
        assert response.status == 200
        assert (await response.json())["last_cycle_age"] is None

    site.clock.now += 10
    async with site.http.get(site.url + "/healthz") as response:
        body = await response.json()
    assert response.status == 503
    assert body["reasons"][0].startswith("no cycle has finished in the 1810s")


async def test_healthz_fails_until_the_daemon_is_ready(site: Site) -> None:
    """A daemon that has not said it is ready is unhealthy, whatever else holds."""
    site.state.ready = False
    async with site.http.get(site.url + "/healthz") as response:
        body = await response.json()
    assert response.status == 503
    assert body["ready"] is False
    assert body["reasons"] == ["the daemon has not reported ready yet"]


async def test_healthz_fails_when_the_store_cannot_be_written(site: Site) -> None:
    """A closed store fails the write probe: 503, saying it cannot be written."""
    site.store.close()
    async with site.http.get(site.url + "/healthz") as response:
        body = await response.json()
    assert response.status == 503
    assert body["outbox_backlog"] is None
    assert body["reasons"] == [
        "the database cannot be written: the store is closed; reopen it before writing"
    ]


async def test_healthz_fails_when_the_store_does_not_answer_in_time(
    store: Store,
) -> None:
    """A store stuck behind a long write fails the probe after its timeout."""
    state = DaemonState(NOW - 60, INTERVAL, NOW - 30, 1.0, ready=True)
    server = WebServer(store, state, "127.0.0.1:0", Clock(NOW), probe_timeout=0.2)
    url = await server.start()
    release = threading.Event()
    stuck = asyncio.ensure_future(store._run(lambda conn: release.wait(5)))
    try:
        async with aiohttp.ClientSession() as http, http.get(url + "/healthz") as r:
            body = await r.json()
        assert r.status == 503
        assert "did not take a one-row write within 0.2s" in body["reasons"][0]
    finally:
        release.set()
        await stuck
        await store.flush()  # let the abandoned probe finish while the loop runs
        await server.stop()


async def test_healthz_reports_the_outbox_backlog(site: Site) -> None:
    """Notifications waiting in the outbox are counted in /healthz and /metrics."""
    firing = alert("1001", "emq-drop", "firing")
    intents = [Intent(c, "firing", firing, NOW, "g") for c in ("oncall", "mail")]
    await site.store.save_alerts([firing], [], intents)

    async with site.http.get(site.url + "/healthz") as response:
        assert (await response.json())["outbox_backlog"] == 2
    depth = (await site.metrics())["dqwatch_outbox_depth"]
    assert depth == {
        (("state", "dead"),): 0.0,
        (("state", "pending"),): 2.0,
        (("state", "sent"),): 0.0,
    }


# -- /metrics -------------------------------------------------------------------------


async def test_metrics_expose_latest_scores_per_dataset_and_event(site: Site) -> None:
    """Scores, dataset info and alert counts parse, with hostile labels intact."""
    await fill(site.store)
    found = await site.metrics()

    assert found["dqwatch_emq"] == {
        (("dataset", "1001"), ("event", "Lead")): 6.1,
        (("dataset", "1001"), ("event", "Purchase")): 7.8,
        (("dataset", "1002"), ("event", HOSTILE_EVENT)): 5.0,
    }
    assert found["dqwatch_event_coverage"] == {
        (("dataset", "1001"), ("event", "Purchase")): 82.0
    }
    assert found["dqwatch_offline_composite"] == {
        (("dataset", "1001"), ("event", "Purchase")): 8.9
    }
    info = found["dqwatch_dataset_info"]
    assert info[(("dataset", "1002"), ("name", HOSTILE_NAME), ("owner", 'evil "co"'))]
    alerts = found["dqwatch_alerts"]
    assert alerts[(("severity", "critical"), ("state", "firing"))] == 2.0
    assert alerts[(("severity", "warning"), ("state", "pending"))] == 1.0
    assert alerts[(("severity", "info"), ("state", "firing"))] == 0.0
    assert found["dqwatch_store_up"] == {(): 1.0}


async def test_metrics_follow_the_store_without_stale_series(site: Site) -> None:
    """A changed score and a resolved alert show at the next scrape; old ones do not."""
    await fill(site.store)
    await record(
        site.store, "1001", obs("Purchase", "emq", 5.5), obs("Lead", "emq", 6.1)
    )
    await site.store.save_alerts(
        [alert("1002", "emq-drop", "resolved", event=HOSTILE_EVENT)], []
    )
    found = await site.metrics()
    assert found["dqwatch_emq"][(("dataset", "1001"), ("event", "Purchase"))] == 5.5
    assert found["dqwatch_alerts"][(("severity", "critical"), ("state", "firing"))] == 1


async def test_metrics_carry_the_registry_and_the_text_content_type(
    site: Site,
) -> None:
    """/metrics serves the process registry too, in the 0.0.4 text format."""
    telemetry.NOTIFICATIONS_SENT.labels("web-test").inc(3)
    _, _, headers = await site.get("/metrics")
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    found = await site.metrics()
    assert found["dqwatch_notifications_sent_total"][(("channel", "web-test"),)] >= 3
    assert all(name.startswith("dqwatch_") for name in found)


async def test_record_cycle_updates_duration_polls_and_usage(site: Site) -> None:
    """record_cycle counts the cycle, its polls by outcome, and sets usage gauges."""
    before = await site.metrics()
    results = [
        PollResult(Target("1001", "web"), "ok", NOW, NOW + 1),
        PollResult(Target("1002", "web"), "ok", NOW, NOW + 1),
        PollResult(Target("1003", "web"), "throttled", NOW, NOW + 1),
    ]
    report = CycleReport(NOW, NOW + 12.5, results, [], [])
    telemetry.record_cycle(report, {"app": 41.0, "555": 76.5})
    after = await site.metrics()

    def grew(name: str, labels: tuple[tuple[str, str], ...] = ()) -> float:
        return after[name][labels] - before.get(name, {}).get(labels, 0.0)

    assert grew("dqwatch_cycle_duration_seconds_count") == 1
    assert grew("dqwatch_cycle_duration_seconds_sum") == 12.5
    assert grew("dqwatch_polls_total", (("outcome", "ok"),)) == 2
    assert grew("dqwatch_polls_total", (("outcome", "throttled"),)) == 1
    usage = after["dqwatch_api_usage_percent"]
    assert usage[(("bucket", "555"),)] == 76.5
    assert usage[(("bucket", "app"),)] == 41.0


async def test_metrics_still_serve_the_registry_when_the_store_is_closed(
    site: Site,
) -> None:
    """Without a store, /metrics says dqwatch_store_up 0 and keeps the counters."""
    site.store.close()
    found = await site.metrics()
    assert found["dqwatch_store_up"] == {(): 0.0}
    assert "dqwatch_emq" not in found
    assert "dqwatch_cycle_duration_seconds_count" in found


async def test_metrics_scrape_covers_ten_thousand_datasets(
    site: Site, store: Store
) -> None:
    """10,000 datasets x 10 events give 200,000 samples in one scrape.

    How fast that is, is measured in bench/daemon.py, not here.
    """

    def seed(conn: sqlite3.Connection) -> None:
        # Generated inside SQLite: 10,000 record_poll calls take seconds to run.
        conn.execute(
            "WITH RECURSIVE d(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM d"
            " WHERE i < 9999), e(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM e"
            " WHERE j < 9), m(metric) AS (VALUES ('emq'), ('event_coverage'))"
            " INSERT INTO latest (dataset_id, source, event, metric, key, value_num,"
            " present, changed_at) SELECT CAST(1000000000 + i AS TEXT), 'web',"
            " 'Event' || j, metric, '', 5.0 + (i % 50) / 10.0, 1, 0 FROM d, e, m"
        )

    await store._run(seed)
    status, text, _ = await site.get("/metrics")
    assert status == 200
    assert text.count("\ndqwatch_emq{") == 100_000


# -- the status page ------------------------------------------------------------------


async def test_page_escapes_every_outside_text(site: Site) -> None:
    """Dataset names, owners, event names and summaries reach the page escaped."""
    await fill(site.store)
    status, page, headers = await site.get("/")
    assert status == 200
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Buy &amp;&lt;&gt; &quot;now&quot;\\" in page
    assert "<b>it</b>" not in page
    assert "EMQ for &lt;b&gt;it&lt;/b&gt; fell" in page
    assert "evil &quot;co&quot;" in page
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")


async def test_page_lists_firing_datasets_first_with_lowest_scores(site: Site) -> None:
    """Firing datasets come first, then pending, then the rest; lowest scores shown."""
    await fill(site.store)
    _, page, _ = await site.get("/")
    hostile = page.index("&lt;script&gt;")
    acme = page.index("Acme shop")
    quiet = page.index("Quiet blog")
    assert hostile < acme < quiet
    assert "6.1 <span class=muted>Lead</span>" in page  # lowest EMQ of 1001
    assert "82.0%" in page
    assert "8.9 <span class=muted>Purchase</span>" in page
    assert "Alerts not tied to a known dataset" in page
    assert "The access token is expired" in page
    assert "2 firing, 1 pending" in page


async def test_page_is_paginated(store: Store) -> None:
    """Large fleets are shown a page at a time, with links; bad pages are refused."""
    await store.sync_datasets(
        [DatasetRow(str(1000 + i), f"Shop {i}", "acme") for i in range(5)], now=NOW
    )
    state = DaemonState(NOW, INTERVAL)
    server = WebServer(store, state, "127.0.0.1:0", Clock(NOW), page_size=2)
    url = await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "/") as first:
                page = await first.text()
            assert "Datasets 1-2 of 5" in page
            assert '?page=2">next page' in page
            async with http.get(url + "/?page=99") as last:
                page = await last.text()
            assert "Datasets 5-5 of 5" in page
            assert "Shop 4" in page
            assert "next page" not in page
            async with http.get(url + "/?page=two") as bad:
                assert bad.status == 400
    finally:
        await server.stop()


# -- serving ---------------------------------------------------------------------------


async def test_server_binds_the_listen_address_only_once(
    site: Site, store: Store
) -> None:
    """start returns the real port; a taken address is an error naming web.listen."""
    host, port = split_listen(site.url.removeprefix("http://"))
    assert host == "127.0.0.1"
    assert port > 0
    other = WebServer(store, site.state, f"127.0.0.1:{port}")
    with pytest.raises(DqwatchError, match=r'web\.listen = "127\.0\.0\.1:\d+": cannot'):
        await other.start()
    assert (await site.get("/nowhere"))[0] == 404


def test_listen_addresses_are_parsed_or_refused() -> None:
    """IPv4, bracketed IPv6 and port 0 parse; anything else names the fix."""
    assert split_listen("127.0.0.1:8787") == ("127.0.0.1", 8787)
    assert split_listen("[::1]:0") == ("::1", 0)
    with pytest.raises(
        DqwatchError, match=r'"localhost" is not host:port; write e\.g\.'
    ):
        split_listen("localhost")
