"""Backtests: stored polls replayed through the current rules, nothing written."""

from __future__ import annotations

import hashlib
import json
import random
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dqwatch.alerts import Alert, AlertBook, Transition
from dqwatch.backtest import (
    SLICE,
    BacktestReport,
    backtest,
    backtest_json,
    backtest_table,
    error_type,
    parse_since,
    rebuild_error,
)
from dqwatch.baseline import weighted_median
from dqwatch.errors import (
    GraphError,
    MalformedResponseError,
    PermanentGraphError,
    ThrottledError,
    TokenError,
    TransientGraphError,
)
from dqwatch.evaluate import Evaluator
from dqwatch.model import Details, Observation, Snapshot
from dqwatch.poller import OK, PollResult, Target, outcome_of
from dqwatch.rules import RuleSet, load_rules, packaged_rule_paths
from dqwatch.store import DatasetRow, Store, digest

T0 = 1_750_000_000.0
STEP = 900.0  # a poll every 15 minutes
DEFAULTS = load_rules(packaged_rule_paths())


def obs(
    metric: str,
    value: float | str,
    *,
    event: str = "Purchase",
    key: str = "",
    details: Details | None = None,
) -> Observation:
    return Observation("web", event, metric, key, value, details or {})


async def ok(
    store: Store, at: float, *observations: Observation, dataset: str = "1001"
) -> None:
    """Record a successful poll that started at ``at`` and took one second."""
    events = tuple(sorted({o.event for o in observations}))
    raw = repr([(o.series, o.value, o.details) for o in observations])
    snap = Snapshot(dataset, "web", at, events, observations, raw)
    await store.record_poll(dataset, "web", at, at + 1, snapshot=snap, outcome="ok")


async def failed(
    store: Store, at: float, error: GraphError, dataset: str = "1001"
) -> None:
    """Record a failed poll that started at ``at``."""
    outcome = outcome_of(error)
    await store.record_poll(dataset, "web", at, at + 1, error=error, outcome=outcome)


@pytest.fixture
async def named(store: Store) -> Store:
    """The store, with two datasets named as the config would name them."""
    rows = [DatasetRow("1001", "Acme shop", "acme"), DatasetRow("1002", "Blog", "b")]
    await store.sync_datasets(rows, now=T0 - 1)
    return store


def rules_path(tmp_path: Path, text: str, name: str = "rules.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def rules_from(tmp_path: Path, text: str, name: str = "rules.toml") -> RuleSet:
    return load_rules([rules_path(tmp_path, text, name)])


def changes(report: BacktestReport) -> list[tuple[float, str, str, str, str]]:
    """(time, state, rule, event, key) of every transition."""
    return [
        (t.at, t.state, t.alert.rule, t.alert.event, t.alert.key)
        for t in report.transitions
    ]


def tallied(report: BacktestReport, rule: str) -> tuple[int, int, int]:
    (found,) = [t for t in report.rules if t.rule == rule]
    return found.fired, found.datasets, found.firing_at_end


async def test_drop_fires_then_resolves_across_slices(named: Store) -> None:
    """An EMQ drop fires once and resolves on recovery, with polls hours apart."""
    step = SLICE / 2 + 60  # polls fall into different read slices
    for i, emq in enumerate([7.8, 7.8, 5.9, 5.9, 7.8]):
        await ok(named, T0 + i * step, obs("emq", emq))

    report = await backtest(named, DEFAULTS, T0, T0 + 5 * step)

    assert changes(report) == [
        (T0 + 2 * step + 1, "firing", "emq-drop", "Purchase", ""),
        (T0 + 4 * step + 1, "resolved", "emq-drop", "Purchase", ""),
    ]
    fired = report.transitions[0].alert
    assert fired.summary == "EMQ for Purchase fell from 7.8 to 5.9"
    assert fired.dataset_name == "Acme shop"
    assert (report.polls, report.failed_polls, report.datasets) == (5, 0, 1)
    assert tallied(report, "emq-drop") == (1, 1, 0)


async def test_disappeared_match_key_fires_per_key(named: Store) -> None:
    """A match key no longer sent fires for that key and resolves when it is back."""
    email = obs("match_key_coverage", 100.0, key="email")
    phone = obs("match_key_coverage", 80.0, key="phone")
    await ok(named, T0, email, phone)
    await ok(named, T0 + STEP, email)
    await ok(named, T0 + 2 * STEP, email)
    await ok(named, T0 + 3 * STEP, email, phone)

    report = await backtest(named, DEFAULTS, T0, T0 + 4 * STEP)

    assert changes(report) == [
        (T0 + STEP + 1, "firing", "match-key-lost", "Purchase", "phone"),
        (T0 + 3 * STEP + 1, "resolved", "match-key-lost", "Purchase", "phone"),
    ]
    assert report.transitions[0].alert.before == 80.0


async def test_new_diagnostic_quotes_the_stored_texts(named: Store) -> None:
    """A diagnostic absent at the previous poll fires, with its description."""
    known = obs("diagnostic", 3.0, key="bad_email_format")  # first poll: baseline
    texts = {"description": "IP addresses do not match"}
    diagnostic = obs("diagnostic", 12.0, key="ip_mismatch", details=texts)
    await ok(named, T0, known)
    await ok(named, T0 + STEP, known, diagnostic)

    report = await backtest(named, DEFAULTS, T0, T0 + 2 * STEP)

    assert changes(report) == [
        (T0 + STEP + 1, "firing", "new-diagnostic", "Purchase", "ip_mismatch")
    ]
    alert = report.transitions[0].alert
    assert alert.severity == "info"
    assert alert.summary == "New diagnostic for Purchase: ip_mismatch (12% of events)"
    assert alert.details["description"] == "IP addresses do not match"


async def test_threshold_holding_from_the_first_poll_fires_once(named: Store) -> None:
    """A threshold true at the very first poll fires then and keeps firing."""
    for i in range(4):
        await ok(named, T0 + i * STEP, obs("event_coverage", 60.0))

    report = await backtest(named, DEFAULTS, T0, T0 + 4 * STEP)

    assert changes(report) == [(T0 + 1, "firing", "event-coverage-low", "Purchase", "")]
    assert tallied(report, "event-coverage-low") == (1, 1, 1)
    assert [a.rule for a in report.open_alerts] == ["event-coverage-low"]


async def test_for_counts_unchanged_polls_but_not_throttled_ones(
    named: Store, tmp_path: Path
) -> None:
    """A pending alert counts identical responses; a throttled poll counts nothing."""
    rules = rules_from(
        tmp_path,
        """
        [[rule]]
        name = "emq-low"
        kind = "threshold"
        metric = "emq"
        below = 6
        for = 3
        """,
    )
    await ok(named, T0, obs("emq", 5.0))
    await failed(named, T0 + STEP, ThrottledError("busy", retry_after=60, code=4))
    await ok(named, T0 + 2 * STEP, obs("emq", 5.0))
    await ok(named, T0 + 3 * STEP, obs("emq", 5.0))

    report = await backtest(named, rules, T0, T0 + 4 * STEP)

    assert [(at, state) for at, state, *_ in changes(report)] == [
        (T0 + 1, "pending"),
        (T0 + 3 * STEP + 1, "firing"),
    ]
    assert report.failed_polls == 1


async def test_alerts_wait_on_unchanged_polls_across_slices(
    named: Store, tmp_path: Path
) -> None:
    """Polls that change nothing still count and resolve when read slices apart."""
    rules = rules_from(
        tmp_path,
        """
        [[rule]]
        name = "emq-low"
        kind = "threshold"
        metric = "emq"
        below = 6
        for = 3
        """,
    )
    step = SLICE * 0.6
    for i in range(4):
        await ok(named, T0 + i * step, obs("emq", 5.0))
    await ok(named, T0, obs("emq", 8.0), dataset="1002")
    expired = TokenError("Session has expired", code=190)
    await failed(named, T0 + SLICE - 60, expired, dataset="1002")
    await ok(named, T0 + SLICE + 60, obs("emq", 8.0), dataset="1002")

    report = await backtest(named, rules, T0, T0 + 4 * step)

    assert [(t.at, t.state, t.alert.rule) for t in report.transitions] == [
        (T0 + 1, "pending", "emq-low"),
        (T0 + SLICE - 59, "firing", "token-invalid"),
        (T0 + SLICE + 61, "resolved", "token-invalid"),
        (T0 + 2 * step + 1, "firing", "emq-low"),
    ]


async def test_unreachable_dataset_fires_once_and_resolves(named: Store) -> None:
    """Permanent failures fire one dataset-unreachable alert; an ok poll ends it."""
    gone = PermanentGraphError("Unknown dataset", code=2044055)
    await ok(named, T0, obs("emq", 7.0), dataset="1002")
    await failed(named, T0 + STEP, gone, dataset="1002")
    await failed(named, T0 + 2 * STEP, gone, dataset="1002")
    await ok(named, T0 + 3 * STEP, obs("emq", 7.0), dataset="1002")

    report = await backtest(named, DEFAULTS, T0, T0 + 4 * STEP)

    assert changes(report) == [
        (T0 + STEP + 1, "firing", "dataset-unreachable", "", ""),
        (T0 + 3 * STEP + 1, "resolved", "dataset-unreachable", "", ""),
    ]
    alert = report.transitions[0].alert
    assert alert.severity == "critical"
    assert alert.summary == (
        "Dataset Blog (1002) cannot be polled: error 2044055: Unknown dataset"
    )
    assert report.failed_polls == 2


async def test_without_rule_files_only_built_in_alerts_replay(named: Store) -> None:
    """An empty rule set still replays dataset-unreachable, and nothing else."""
    gone = PermanentGraphError("Unknown dataset", code=2044055)
    await ok(named, T0, obs("emq", 7.8))
    await ok(named, T0 + STEP, obs("emq", 1.0))
    await failed(named, T0 + 2 * STEP, gone)

    report = await backtest(named, RuleSet((), ()), T0, T0 + 3 * STEP)

    assert changes(report) == [
        (T0 + 2 * STEP + 1, "firing", "dataset-unreachable", "", "")
    ]
    assert [t.rule for t in report.rules] == ["dataset-unreachable", "token-invalid"]


async def test_token_failure_is_one_alert_for_all_datasets(named: Store) -> None:
    """Error 190 on every dataset is a single token-invalid alert, not one each."""
    expired = TokenError("Session has expired", code=190, subcode=463)
    await ok(named, T0, obs("emq", 7.0), dataset="1001")
    for dataset in ("1001", "1002"):
        await failed(named, T0 + STEP, expired, dataset=dataset)
    # The same answer as before the failure: no history, yet it ends the alert.
    await ok(named, T0 + 2 * STEP, obs("emq", 7.0), dataset="1001")

    report = await backtest(named, DEFAULTS, T0, T0 + 3 * STEP)

    assert changes(report) == [
        (T0 + STEP + 1, "firing", "token-invalid", "", ""),
        (T0 + 2 * STEP + 1, "resolved", "token-invalid", "", ""),
    ]
    assert "expired" in report.transitions[0].alert.summary
    assert tallied(report, "token-invalid") == (1, 0, 0)


async def test_since_starts_from_the_values_in_force_then(named: Store) -> None:
    """History before --since is the baseline: no replay of it, no first-poll pass."""
    low = obs("event_coverage", 60.0)
    for i, emq in enumerate([7.8, 5.0, 7.8]):  # a drop and recovery before since
        await ok(named, T0 + i * STEP, obs("emq", emq), low)
    await ok(named, T0, low, dataset="1002")  # polled again, unchanged, below
    await ok(named, T0, low, dataset="1003")  # no longer polled: not reported
    since = T0 + 5 * STEP
    await ok(named, since + STEP, obs("emq", 5.9), low)
    await ok(named, since + STEP + 5, low, dataset="1002")
    await ok(named, since + 2 * STEP, obs("emq", 5.9), obs("event_coverage", 80.0))

    report = await backtest(named, DEFAULTS, since, since + 3 * STEP)

    assert [
        (t.at, t.state, t.alert.rule, t.alert.dataset_id) for t in report.transitions
    ] == [
        (since, "firing", "event-coverage-low", "1001"),
        (since, "firing", "event-coverage-low", "1002"),
        (since + STEP + 1, "firing", "emq-drop", "1001"),
        (since + 2 * STEP + 1, "resolved", "event-coverage-low", "1001"),
    ]
    assert report.transitions[2].alert.before == 7.8
    assert (report.polls, report.datasets) == (3, 2)
    assert [(a.rule, a.dataset_id) for a in report.open_alerts] == [
        ("event-coverage-low", "1002"),
        ("emq-drop", "1001"),
    ]


async def test_baseline_window_reaches_back_before_since(
    named: Store, tmp_path: Path
) -> None:
    """A baseline: drop compares with the median of history older than --since."""
    rules = rules_from(
        tmp_path,
        """
        [[rule]]
        name = "emq-slide"
        kind = "drop"
        metric = "emq"
        by = 1.0
        compare_to = "baseline:1h"

        [[rule]]
        name = "emq-step"
        kind = "drop"
        metric = "emq"
        by = 1.0
        """,
    )
    for i, emq in enumerate([8.0, 8.0, 8.0, 8.0, 8.0, 7.5, 6.9]):
        await ok(named, T0 + i * STEP, obs("emq", emq))
    since = T0 + 5 * STEP + 10  # after the 7.5 poll: only the 6.9 poll is replayed

    report = await backtest(named, rules, since, T0 + 7 * STEP)

    assert changes(report) == [
        (T0 + 6 * STEP + 1, "firing", "emq-slide", "Purchase", "")
    ]
    assert report.transitions[0].alert.before == 8.0


async def test_a_rule_edited_afterwards_fires_in_the_backtest(
    named: Store, tmp_path: Path
) -> None:
    """Replaying with a tightened rule shows what it would have caught."""
    before_edit = """
        [[rule]]
        name = "emq-drop"
        kind = "drop"
        metric = "emq"
        by = 1.0
        """
    for i, emq in enumerate([7.8, 7.2, 6.5]):
        await ok(named, T0 + i * STEP, obs("emq", emq))

    loose = await backtest(named, rules_from(tmp_path, before_edit), T0, T0 + 3 * STEP)
    edited = rules_from(tmp_path, before_edit.replace("by = 1.0", "by = 0.5"))
    tight = await backtest(named, edited, T0, T0 + 3 * STEP)

    assert changes(loose) == []
    assert changes(tight) == [(T0 + STEP + 1, "firing", "emq-drop", "Purchase", "")]
    assert tight.transitions[0].alert.before == 7.8


async def test_stored_silences_mark_what_they_cover(named: Store) -> None:
    """An alert inside a stored silence is reported as silenced."""
    await named.add_silence({"rule": "emq-drop"}, T0, T0 + 10 * STEP, "deploy", "ana")
    await ok(named, T0, obs("emq", 7.8))
    await ok(named, T0 + STEP, obs("emq", 5.0))

    report = await backtest(named, DEFAULTS, T0, T0 + 2 * STEP)

    assert [t.alert.silenced for t in report.transitions] == [True]
    assert "firing (silenced)" in backtest_table(report)


async def test_backtest_changes_nothing_stored(tmp_path: Path) -> None:
    """The database file is byte-for-byte the same after a backtest."""
    path = tmp_path / "dq.db"
    store = Store.open(path)
    await store.sync_datasets([DatasetRow("1001", "Acme shop", "acme")], now=T0)
    for i, emq in enumerate([7.8, 5.0, 5.0, 7.9]):
        await ok(store, T0 + i * STEP, obs("emq", emq))
    await failed(store, T0 + 4 * STEP, TokenError("expired", code=190))
    old = _alert("emq-drop", T0)
    await store.save_alerts([old], [Transition(old, None, T0)])
    store.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()

    store = Store.open(path)
    try:
        report = await backtest(store, DEFAULTS, T0, T0 + 5 * STEP)
        stored = await store.alerts(["pending", "firing", "resolved", "inactive"])
        logged = await store.transitions(0.0)
    finally:
        store.close()

    assert len(report.transitions) == 3
    assert [a.fingerprint for a in stored] == [old.fingerprint]
    assert len(logged) == 1
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


async def test_empty_period_reports_every_rule_as_quiet(named: Store) -> None:
    """With no polls in the period, nothing changes and every rule shows zero."""
    await ok(named, T0, obs("emq", 7.8))

    report = await backtest(named, DEFAULTS, T0 + STEP, T0 + 2 * STEP)

    assert report.transitions == []
    assert {t.rule for t in report.rules} >= {"emq-drop", "dataset-unreachable"}
    assert all(t.fired == 0 for t in report.rules)
    assert "No alert would have changed state." in backtest_table(report)


async def test_table_and_json_show_each_change_and_each_rule(named: Store) -> None:
    """The table lists time, state, rule, dataset and summary; JSON carries the same."""
    for i, emq in enumerate([7.8, 5.9, 7.8]):
        await ok(named, T0 + i * STEP, obs("emq", emq))
    report = await backtest(named, DEFAULTS, T0, T0 + 3 * STEP)

    text = backtest_table(report)
    lines = text.splitlines()
    (fired,) = [line for line in lines if " firing " in line]
    assert fired.startswith("2025-06-15 15:21:41  firing")
    assert "Acme shop (1001)" in fired
    assert fired.endswith("EMQ for Purchase fell from 7.8 to 5.9")
    (resolved,) = [line for line in lines if " resolved " in line]
    assert "resolved: EMQ for Purchase fell from 7.8 to 5.9 (value 7.8)" in resolved
    (tally_line,) = [line for line in lines if line.startswith("emq-drop ")]
    assert tally_line.split() == ["emq-drop", "warning", "1", "1", "0"]

    document = json.loads(backtest_json(report))
    assert [(a["rule"], a["state"]) for a in document["alerts"]] == [
        ("emq-drop", "firing"),
        ("emq-drop", "resolved"),
    ]
    first = document["alerts"][0]
    assert first["time"] == "2025-06-15T15:21:41Z"
    assert (first["dataset"], first["dataset_name"]) == ("1001", "Acme shop")
    (rule,) = [r for r in document["rules"] if r["rule"] == "emq-drop"]
    assert (rule["fired"], rule["datasets"]) == (1, 1)
    assert document["polls"] == 3


EXTRA_RULES = """
    [[rule]]
    name = "emq-low"
    kind = "threshold"
    metric = "emq"
    below = 6
    for = 2

    [[rule]]
    name = "coverage-below-goal"
    kind = "threshold"
    metric = "event_coverage"
    below = "goal"

    [[rule]]
    name = "emq-slide"
    kind = "drop"
    metric = "emq"
    by_percent = 10
    compare_to = "baseline:2h"

    [[rule]]
    name = "mostly-hourly"
    kind = "threshold"
    metric = "freshness"
    equals = "hourly"
    for = 3
    """


CYCLES = 150


class Daemon:
    """The daemon's path for each poll: store it, then evaluate what it stored."""

    def __init__(self, store: Store, rules: RuleSet) -> None:
        self.store = store
        self.evaluator = Evaluator(rules, AlertBook())
        self.transitions: list[Transition] = []

    async def poll(
        self, target: Target, at: float, body: Snapshot | GraphError
    ) -> None:
        store, ids = self.store, (target.dataset_id, target.source)
        if isinstance(body, GraphError):
            outcome = outcome_of(body)
            await store.record_poll(*ids, at, at + 1, error=body, outcome=outcome)
            result = PollResult(target, outcome, at, at + 1, body)
        elif store.same_body(*ids, digest(body.raw)):
            await store.record_poll(*ids, at, at + 1, outcome=OK)
            result = PollResult(target, OK, at, at + 1, unchanged=True)
        else:
            stored = await store.record_poll(
                *ids, at, at + 1, snapshot=body, outcome=OK
            )
            result = PollResult(
                target,
                OK,
                at,
                at + 1,
                snapshot=body,
                changes=stored.changes,
                first=stored.first,
            )
        baselines = {}
        for key in self.evaluator.baselines_needed(result):
            start = result.finished - key[5]
            points = await store.series_history(*key[:5], since=start)
            baselines[key] = weighted_median(points, start, result.finished)
        self.transitions += self.evaluator.evaluate(result, baselines).transitions


def wander(
    rng: random.Random, values: dict[tuple[str, str, str], float | str], rate: float
) -> None:
    """Move some values the way scores move between polls; keys come and go."""
    for series in list(values):
        if rng.random() > rate:
            continue
        event, metric, key = series
        if metric == "freshness":
            values[series] = rng.choice(["real_time", "real_time", "hourly"])
        elif metric == "event_coverage_goal":
            values[series] = rng.choice([75.0, 80.0])
        elif key:
            values.pop(series)
        else:
            limit = 10.0 if metric == "emq" else 100.0
            values[series] = round(
                min(limit, max(0.0, rng.gauss(7.0, 1.5) * limit / 10)), 1
            )
    for event in ("Purchase", "Lead"):
        for metric, key in (("match_key_coverage", "phone"), ("diagnostic", "ip")):
            if (event, metric, key) not in values and rng.random() < rate:
                values[(event, metric, key)] = 50.0


def response(
    dataset: str, at: float, values: dict[tuple[str, str, str], float | str]
) -> Snapshot:
    observations = tuple(
        Observation("web", e, m, k, v, {"description": f"about {k}"} if k else {})
        for (e, m, k), v in sorted(values.items())
    )
    raw = repr(sorted(values.items()))
    return Snapshot(dataset, "web", at, ("Lead", "Purchase"), observations, raw)


def alert_values(alert: Alert) -> tuple[object, ...]:
    return (alert.value, alert.before, alert.threshold, alert.summary, alert.count)


def failure(rng: random.Random) -> GraphError | None:
    roll = rng.random()
    if roll < 0.04:
        return PermanentGraphError("Unknown dataset", code=2044055)
    if roll < 0.06:
        return TokenError("Session has expired", code=190)
    if roll < 0.10:
        return ThrottledError("Too many calls", retry_after=60.0, code=4)
    return None


@pytest.mark.parametrize("rate", [0.25, 0.03])
async def test_replay_matches_what_the_daemon_did(
    named: Store, tmp_path: Path, rate: float
) -> None:
    """Random polls, evaluated live as stored, replay to the very same transitions.

    At the low rate of change most polls change nothing, so the replay must
    find the unchanged polls that pending and built-in alerts wait on.
    """
    rules = load_rules(
        [*packaged_rule_paths(), rules_path(tmp_path, EXTRA_RULES, "extra.toml")]
    )
    rng = random.Random(20250615)
    daemon = Daemon(named, rules)
    values: dict[str, dict[tuple[str, str, str], float | str]] = {}
    for dataset in ("1001", "1002", "1003"):
        values[dataset] = {
            (event, metric, key): start
            for event in ("Purchase", "Lead")
            for metric, key, start in (
                ("emq", "", 7.5),
                ("event_coverage", "", 80.0),
                ("event_coverage_goal", "", 75.0),
                ("freshness", "", "real_time"),
                ("match_key_coverage", "email", 90.0),
                ("match_key_coverage", "phone", 60.0),
            )
        }
    names = await named.dataset_names()
    for cycle in range(CYCLES):
        for i, (dataset, now) in enumerate(values.items()):
            at = T0 + cycle * STEP + i * 10
            target = Target(dataset, "web", *names.get(dataset, (dataset, "")))
            wander(rng, now, rate)
            await daemon.poll(target, at, failure(rng) or response(dataset, at, now))

    report = await backtest(named, rules, T0, T0 + CYCLES * STEP)

    def seen(transitions: list[Transition]) -> list[tuple[object, ...]]:
        return [
            (t.at, t.previous, t.state, t.alert.fingerprint, *alert_values(t.alert))
            for t in transitions
        ]

    assert len(daemon.transitions) > 40
    assert {t.alert.rule for t in daemon.transitions} >= {
        "emq-low",
        "coverage-below-goal",
        "emq-slide",
        "mostly-hourly",
        "match-key-lost",
        "new-diagnostic",
        "dataset-unreachable",
        "token-invalid",
    }
    assert seen(report.transitions) == seen(daemon.transitions)


@pytest.mark.parametrize(
    ("outcome", "code", "kind"),
    [
        ("token_error", 190, TokenError),
        ("permanent_error", 2044055, PermanentGraphError),
        ("permanent_error", 200, PermanentGraphError),
        ("transient_error", 0, TransientGraphError),
        ("transient_error", 2, TransientGraphError),
        ("throttled", 4, ThrottledError),
        ("malformed", 0, MalformedResponseError),
    ],
)
def test_failed_polls_become_the_errors_they_were(
    outcome: str, code: int, kind: type[GraphError]
) -> None:
    """The stored outcome picks the error class, with code and message kept."""
    again, error = rebuild_error(outcome, code, None, "what the API said")
    assert again == outcome
    assert type(error) is kind
    assert (error.code, error.message) == (code, "what the API said")


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (190, TokenError),
        (10, PermanentGraphError),
        (100, PermanentGraphError),
        (299, PermanentGraphError),
        (2044055, PermanentGraphError),
        (1, TransientGraphError),
        (80004, ThrottledError),
        (613, ThrottledError),
        (12345, GraphError),
    ],
)
def test_api_codes_map_to_error_classes(code: int, kind: type[GraphError]) -> None:
    """An outcome this version does not know falls back to the API code."""
    assert error_type(code) is kind
    again, error = rebuild_error("some_future_outcome", code, None, None)
    assert type(error) is kind
    assert again == outcome_of(error)
    assert error.message == "no error message was recorded"


def test_since_reads_durations_and_dates() -> None:
    """--since takes a duration back from now, or a UTC date or time."""
    now = T0
    assert parse_since("30d", now) == now - 30 * 86400
    assert parse_since("1h30m", now) == now - 5400
    day = datetime(2025, 5, 1, tzinfo=UTC).timestamp()
    assert parse_since("2025-05-01", now) == day
    assert parse_since("2025-05-01T08:00", now) == day + 8 * 3600
    assert parse_since("2025-05-01T08:00+02:00", now) == day + 6 * 3600


@pytest.mark.parametrize(
    ("text", "says"),
    [("last week", 'such as "30d"'), ("2030-01-01", "not in the past")],
)
def test_since_refuses_what_it_cannot_use(text: str, says: str) -> None:
    """A bad --since names the option, the value and how to write it."""
    with pytest.raises(ValueError, match="--since") as caught:
        parse_since(text, T0)
    assert says in str(caught.value)
    assert text in str(caught.value)


def _alert(rule: str, at: float) -> Alert:
    return Alert(
        rule=rule,
        dataset_id="1001",
        source="web",
        event="Purchase",
        key="",
        metric="emq",
        severity="warning",
        state="firing",
        count=1,
        active_since=at,
        firing_since=at,
        updated_at=at,
    )
