"""The SQLite store: schema, change-only history, poll log, retention, safety."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from pathlib import Path

import pytest

from dqwatch.errors import PermanentGraphError, StoreError
from dqwatch.model import Observation, Snapshot
from dqwatch.store import DatasetRow, Store


def snap(
    ts: float, *observations: Observation, events: tuple[str, ...] = ()
) -> Snapshot:
    names = events or tuple(sorted({o.event for o in observations}))
    raw = repr((names, [(o.series, o.value, o.details) for o in observations]))
    return Snapshot("1001", "web", ts, names, tuple(observations), raw)


def emq(value: float, event: str = "Purchase") -> Observation:
    return Observation("web", event, "emq", "", value)


def key_cov(key: str, value: float) -> Observation:
    return Observation("web", "Purchase", "match_key_coverage", key, value)


@pytest.fixture
def store(tmp_path: Path):
    opened = Store.open(tmp_path / "dq.db")
    yield opened
    opened.close()


async def test_file_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    """The database file is created 0600 and uses write-ahead logging."""
    path = tmp_path / "dq.db"
    store = Store.open(path)
    await store.sync_datasets([DatasetRow("1001", "Shop", "acme")], now=1.0)
    store.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] >= 1


async def test_first_poll_writes_latest_and_history(store: Store) -> None:
    """Every series of a first poll lands in latest and once in history."""
    changes = (
        await store.record_poll(
            "1001",
            "web",
            10.0,
            11.0,
            snapshot=snap(10.0, emq(7.8), key_cov("email", 100.0)),
            outcome="ok",
        )
    ).changes
    assert {(c.metric, c.key, c.before, c.after) for c in changes} == {
        ("emq", "", None, 7.8),
        ("match_key_coverage", "email", None, 100.0),
    }
    latest = await store.latest("1001")
    assert [(v.metric, v.value) for v in latest] == [
        ("emq", 7.8),
        ("match_key_coverage", 100.0),
    ]
    assert len(await store.history("1001")) == 2


async def test_unchanged_poll_writes_only_the_poll_log(store: Store) -> None:
    """A poll with the same body as the last one writes a single row."""
    body = snap(10.0, emq(7.8), key_cov("email", 100.0))
    await store.record_poll("1001", "web", 10.0, 11.0, snapshot=body, outcome="ok")
    before = store.rows_written
    same = Snapshot("1001", "web", 20.0, body.events, body.observations, body.raw)
    changes = (
        await store.record_poll("1001", "web", 20.0, 21.0, snapshot=same, outcome="ok")
    ).changes
    assert changes == []
    assert store.rows_written - before == 1
    assert len(await store.polls("1001")) == 2


async def test_changed_value_appends_history_and_reports_before(store: Store) -> None:
    """Only the series that changed get a history row; the change names before/after."""
    await store.record_poll(
        "1001",
        "web",
        10.0,
        11.0,
        snapshot=snap(10.0, emq(7.8), key_cov("email", 100.0)),
        outcome="ok",
    )
    changes = (
        await store.record_poll(
            "1001",
            "web",
            20.0,
            21.0,
            snapshot=snap(20.0, emq(5.9), key_cov("email", 100.0)),
            outcome="ok",
        )
    ).changes
    assert [(c.metric, c.before, c.after) for c in changes] == [("emq", 7.8, 5.9)]
    emq_points = [p for p in await store.history("1001") if p.metric == "emq"]
    assert [(p.ts, p.value) for p in emq_points] == [(10.0, 7.8), (20.0, 5.9)]


async def test_vanished_series_is_recorded_as_absent_not_zero(store: Store) -> None:
    """A key missing from a later response is stored as absent, then can return."""
    await store.record_poll(
        "1001",
        "web",
        10.0,
        11.0,
        snapshot=snap(10.0, emq(7.8), key_cov("phone", 80.0)),
        outcome="ok",
    )
    changes = (
        await store.record_poll(
            "1001", "web", 20.0, 21.0, snapshot=snap(20.0, emq(7.8)), outcome="ok"
        )
    ).changes
    assert [(c.key, c.before, c.after) for c in changes] == [("phone", 80.0, None)]
    phone = [v for v in await store.latest("1001") if v.key == "phone"]
    assert phone[0].value is None

    again = (
        await store.record_poll(
            "1001",
            "web",
            30.0,
            31.0,
            snapshot=snap(30.0, emq(7.8), key_cov("phone", 0.0)),
            outcome="ok",
        )
    ).changes
    assert [(c.key, c.before, c.after) for c in again] == [("phone", None, 0.0)]


async def test_text_values_and_details_are_kept(store: Store) -> None:
    """Text metrics keep their text; changed descriptions update latest, not history."""
    fresh = Observation(
        "web", "Lead", "freshness", "", "real_time", {"description": "a"}
    )
    await store.record_poll(
        "1001", "web", 1.0, 2.0, snapshot=snap(1.0, fresh), outcome="ok"
    )
    reworded = Observation(
        "web", "Lead", "freshness", "", "real_time", {"description": "b"}
    )
    changes = (
        await store.record_poll(
            "1001", "web", 2.0, 3.0, snapshot=snap(2.0, reworded), outcome="ok"
        )
    ).changes
    assert changes == []
    assert [p.value for p in await store.history("1001")] == ["real_time"]


async def test_failed_poll_is_logged_with_its_error(store: Store) -> None:
    """A failure is a poll row with outcome, code and message; values stay."""
    await store.record_poll(
        "1001", "web", 1.0, 2.0, snapshot=snap(1.0, emq(7.0)), outcome="ok"
    )
    error = PermanentGraphError("dataset does not exist", code=2044055, http_status=400)
    await store.record_poll(
        "1001", "web", 3.0, 4.0, error=error, outcome="permanent_error"
    )
    polls = await store.polls("1001")
    assert polls[-1]["outcome"] == "permanent_error"
    assert polls[-1]["error_code"] == 2044055
    assert polls[-1]["error_message"] == "dataset does not exist"
    assert [v.value for v in await store.latest("1001")] == [7.0]


async def test_raw_body_kept_per_dataset_and_source(store: Store) -> None:
    """The last raw response is kept verbatim, unknown fields included."""
    body = '{"web": [{"event_name": "Purchase", "brand_new_field": 1}]}'
    snapshot = Snapshot("1001", "web", 1.0, ("Purchase",), (), body)
    await store.record_poll("1001", "web", 1.0, 2.0, snapshot=snapshot, outcome="ok")
    assert await store.raw("1001") == body
    assert await store.raw("1001", "offline") is None


async def test_prune_removes_old_history_and_polls_only(store: Store) -> None:
    """Retention deletes history and polls older than the cut-off; latest stays."""
    await store.record_poll(
        "1001", "web", 1.0, 2.0, snapshot=snap(1.0, emq(7.0)), outcome="ok"
    )
    await store.record_poll(
        "1001", "web", 50.0, 51.0, snapshot=snap(50.0, emq(6.0)), outcome="ok"
    )
    removed = await store.prune(before=10.0)
    assert removed == 2
    assert [(p.ts, p.value) for p in await store.history("1001")] == [(50.0, 6.0)]
    assert [v.value for v in await store.latest("1001")] == [6.0]


async def test_sync_datasets_writes_only_changes(store: Store) -> None:
    """Known datasets with the same name and owner are not rewritten."""
    rows = [DatasetRow("1001", "Shop", "acme"), DatasetRow("1002", "Blog", "beta")]
    assert await store.sync_datasets(rows, now=1.0) == 2
    assert await store.sync_datasets(rows, now=2.0) == 0
    renamed = [DatasetRow("1001", "Shop EU", "acme"), rows[1]]
    assert await store.sync_datasets(renamed, now=3.0) == 1


async def test_concurrent_polls_group_into_transactions(store: Store) -> None:
    """Many polls submitted at once are all stored (group commit keeps them apart)."""

    async def one(i: int) -> None:
        s = Snapshot(str(i), "web", 1.0, ("Purchase",), (emq(float(i % 10)),), f"b{i}")
        await store.record_poll(str(i), "web", 1.0, 2.0, snapshot=s, outcome="ok")

    await asyncio.gather(*(one(i) for i in range(300)))
    counts = await store.count_rows(("latest", "history", "polls"))
    assert counts == {"latest": 300, "history": 300, "polls": 300}


async def test_one_failing_operation_does_not_undo_the_others(store: Store) -> None:
    """An operation that fails inside a group commit rolls back alone."""

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO datasets (id, name) VALUES ('x', 'y')")
        conn.execute("INSERT INTO no_such_table VALUES (1)")

    good = store.sync_datasets([DatasetRow("1001", "Shop", "acme")], now=1.0)
    results = await asyncio.gather(store._run(broken), good, return_exceptions=True)
    assert isinstance(results[0], StoreError)
    assert results[1] == 1
    counts = await store.count_rows(("datasets",))
    assert counts == {"datasets": 1}


def test_unwritable_location_is_a_clear_error(tmp_path: Path) -> None:
    """Opening a database in a missing folder names the path and the fix."""
    with pytest.raises(StoreError, match=r"storage\.path"):
        Store.open(tmp_path / "missing" / "dq.db")


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    """A database from a newer dqwatch is refused instead of being guessed at."""
    path = tmp_path / "dq.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="newer"):
        Store.open(path)


async def test_vanished_event_is_unknown_and_keeps_its_last_values(
    store: Store,
) -> None:
    """An event missing from a response writes nothing: its values stay last known."""
    await store.record_poll(
        "1001",
        "web",
        1.0,
        2.0,
        snapshot=snap(1.0, emq(7.8), emq(6.0, event="Lead")),
        outcome="ok",
    )
    recorded = await store.record_poll(
        "1001", "web", 3.0, 4.0, snapshot=snap(3.0, emq(7.8)), outcome="ok"
    )
    assert recorded.changes == []
    lead = [v for v in await store.latest("1001") if v.event == "Lead"]
    assert [v.value for v in lead] == [6.0]


async def test_unkeyed_metric_missing_from_present_event_is_unknown(
    store: Store,
) -> None:
    """A missing unkeyed metric (the API omits fields without data) is not zero."""
    coverage = Observation("web", "Purchase", "event_coverage", "", 80.0)
    await store.record_poll(
        "1001", "web", 1.0, 2.0, snapshot=snap(1.0, emq(7.8), coverage), outcome="ok"
    )
    recorded = await store.record_poll(
        "1001", "web", 3.0, 4.0, snapshot=snap(3.0, emq(7.8)), outcome="ok"
    )
    assert recorded.changes == []
    assert 80.0 in [v.value for v in await store.latest("1001")]


async def test_first_poll_is_flagged_as_the_baseline(store: Store) -> None:
    """The first poll with values is marked first; later ones are not."""
    first = await store.record_poll(
        "1001", "web", 1.0, 2.0, snapshot=snap(1.0, emq(7.8)), outcome="ok"
    )
    second = await store.record_poll(
        "1001", "web", 3.0, 4.0, snapshot=snap(3.0, emq(7.0)), outcome="ok"
    )
    assert first.first
    assert not second.first


async def test_a_failed_deferred_write_is_raised_by_flush(store: Store) -> None:
    """Poll log rows are written without waiting; a failure surfaces at flush."""
    await store.record_poll("1001", "web", 1.0, 2.0, outcome=None)  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="NOT NULL"):
        await store.flush()
    await store.flush()  # reported once
