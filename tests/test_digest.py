"""Advertiser digests: built from a real store filled by polls, then rendered."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from dqwatch.alerts import Alert, State, Transition
from dqwatch.config import Config, EmailChannel, load_config
from dqwatch.digest import (
    DAY,
    Digest,
    EventDigest,
    build_digest,
    digests_for_channel,
    render_digest,
    sample_digest,
    sample_times,
    send_digests,
    sparkline,
)
from dqwatch.model import Observation, Snapshot
from dqwatch.notify.templates import Templates
from dqwatch.store import DatasetRow, Store
from tests.conftest import free_port

T0 = 1_800_000_000.0
SINCE = T0 + DAY / 2
NOW = SINCE + 7 * DAY

HOSTILE_NAME = "Acme <script>alert(1)</script> blog"
HOSTILE_EVENT = "<img src=x onerror=alert(2)>"

#: event -> metric -> value, or for keyed metrics key -> value.
Event = Mapping[str, Any]


def acr(value: float, text: str = "") -> tuple[float, str]:
    return (value, text or f"Similar advertisers saw {value}% more conversions.")


def observations(source: str, event: str, fields: Event) -> list[Observation]:
    """Observations of one event, the API's texts in details where it has them."""
    made = []
    for metric, value in fields.items():
        if metric == "match_key_acr":
            for key, (pct, text) in value.items():
                made.append(
                    Observation(source, event, metric, key, pct, {"description": text})
                )
        elif isinstance(value, tuple):
            pct, text = value
            made.append(
                Observation(source, event, metric, "", pct, {"description": text})
            )
        else:
            made.append(Observation(source, event, metric, "", value))
    return made


def snapshot(
    dataset: str, ts: float, events: Mapping[str, Event], source: str = "web"
) -> Snapshot:
    obs = tuple(o for name, f in events.items() for o in observations(source, name, f))
    raw = repr(sorted((o.series, o.value, sorted(o.details.items())) for o in obs))
    return Snapshot(dataset, source, ts, tuple(events), obs, raw)


async def poll(
    store: Store, dataset: str, ts: float, events: Mapping[str, Event], **kw: str
) -> None:
    snap = snapshot(dataset, ts, events, **kw)
    await store.record_poll(dataset, snap.source, ts, ts, snapshot=snap, outcome="ok")


def shop(day: float) -> dict[str, Event]:
    """Dataset 1001: Purchase EMQ falls on day 3; Lead appears on day 5."""
    events: dict[str, Event] = {
        "Purchase": {
            "emq": 7.8 if day < 3 else 5.9,
            "event_coverage": (82.0, "Share of browser events also sent by server."),
            "event_coverage_goal": 75.0,
            "freshness": "real_time" if day < 6 else "hourly",
            "match_key_acr": {
                "email": acr(58.96),
                "phone": acr(22.4),
                "ip_address": acr(20.65),
            },
            "coverage_acr": acr(35.8, "Send Purchase from the server too."),
        }
    }
    if day >= 5:
        events["Lead"] = {"emq": 6.0, "event_acr": acr(12.5)}
    return events


BLOG: dict[str, Event] = {
    HOSTILE_EVENT: {
        "emq": 5.0,
        "event_coverage": 41.5,
        "match_key_acr": {"email": acr(40.0)},
        "event_acr": acr(5.0),
    }
}
GLOBEX: dict[str, Event] = {
    "Purchase": {"emq": 9.1, "match_key_acr": {"email": acr(99.0)}}
}


def alert(dataset: str, rule: str, state: State, at: float, **kw: Any) -> Alert:
    fields: dict[str, Any] = {
        "source": "web",
        "event": "Purchase",
        "key": "",
        "metric": "emq",
        "severity": "warning",
        "count": 1,
        "active_since": at,
        "firing_since": at,
        "summary": f"{rule} on {dataset}",
        **kw,
    }
    return Alert(rule=rule, dataset_id=dataset, state=state, **fields)


async def save_resolved(store: Store, firing: Alert, at: float) -> None:
    resolved = firing.evolve(state="resolved", resolved_at=at, updated_at=at)
    await store.save_alerts([resolved], [Transition(resolved, "firing", at)])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(tmp_path / "dq.db")
    yield opened
    opened.close()


@pytest.fixture
async def filled(store: Store) -> Store:
    """Two acme datasets and one globex dataset, polled daily for eight days."""
    await store.sync_datasets(
        [
            DatasetRow("1001", "Acme shop", "acme"),
            DatasetRow("1002", HOSTILE_NAME, "acme"),
            DatasetRow("2001", "Globex store", "globex"),
        ],
        now=T0,
    )
    for day in range(8):
        ts = T0 + day * DAY + 3600
        await poll(store, "1001", ts, shop(day))
        await poll(store, "1002", ts, BLOG)
        await poll(store, "2001", ts, GLOBEX)
    await poll(
        store,
        "1001",
        T0 + 3600,
        {"Purchase": {"offline_composite": 8.9}},
        source="offline",
    )

    drop = alert("1001", "emq-drop", "firing", T0 + 3 * DAY + 3600, value=5.9)
    old = alert("1002", "coverage-low", "firing", T0 - DAY, event=HOSTILE_EVENT)
    flapped = alert(
        "1002",
        "emq-low",
        "firing",
        T0,
        event=HOSTILE_EVENT,
        summary=f"EMQ for {HOSTILE_EVENT} is low",
    )
    await store.save_alerts([drop], [Transition(drop, None, drop.active_since)])
    await store.save_alerts([alert("2001", "emq-drop", "firing", T0)], [])
    await save_resolved(store, old, T0 + 3600)  # before the period
    await save_resolved(store, flapped, T0 + 2 * DAY)
    await save_resolved(store, flapped, T0 + 4 * DAY)  # resolved twice in the period
    return store


def event_of(
    digest: Digest, dataset: str, name: str, source: str = "web"
) -> EventDigest:
    found = next(d for d in digest.datasets if d.id == dataset)
    return next(e for e in found.events if (e.event, e.source) == (name, source))


def rendered(digest: Digest) -> tuple[str, str, str]:
    return render_digest(digest, Templates())


# -- building -------------------------------------------------------------------


async def test_score_now_and_trend_sample_the_change_only_history(
    filled: Store,
) -> None:
    """A value holds until its next change: the trend steps on the day EMQ fell."""
    digest = await build_digest(filled, "acme", SINCE, NOW)
    purchase = event_of(digest, "1001", "Purchase")
    assert purchase.score == 5.9
    assert purchase.trend == (7.8, 7.8, 7.8, 5.9, 5.9, 5.9, 5.9, 5.9)
    assert purchase.start == 7.8
    assert purchase.change == pytest.approx(-1.9)
    offline = event_of(digest, "1001", "Purchase", "offline")
    assert offline.score_metric == "offline_composite"
    assert offline.trend == (8.9,) * 8


async def test_event_first_seen_mid_period_has_no_score_before(filled: Store) -> None:
    """An event that appeared on day 5 shows no score, and no change, before then."""
    lead = event_of(await build_digest(filled, "acme", SINCE, NOW), "1001", "Lead")
    assert lead.trend == (None,) * 5 + (6.0,) * 3
    assert lead.score == 6.0
    assert lead.change is None


async def test_coverage_goal_and_freshness_are_current(filled: Store) -> None:
    """Coverage, its goal and freshness are the latest values the API gave."""
    digest = await build_digest(filled, "acme", SINCE, NOW)
    purchase = event_of(digest, "1001", "Purchase")
    assert (purchase.coverage, purchase.coverage_goal) == (82.0, 75.0)
    assert purchase.freshness == "hourly"
    assert not purchase.below_goal
    assert event_of(digest, "1002", HOSTILE_EVENT).below_goal  # 41.5 < default 75


async def test_recommendations_rank_top_five_of_the_owner(filled: Store) -> None:
    """The five largest potential ACR of the owner's datasets, with the API's text."""
    digest = await build_digest(filled, "acme", SINCE, NOW)
    ranked = [
        (r.dataset_id, r.event, r.metric, r.key, r.percentage)
        for r in digest.recommendations
    ]
    assert ranked == [
        ("1001", "Purchase", "match_key_acr", "email", 58.96),
        ("1002", HOSTILE_EVENT, "match_key_acr", "email", 40.0),
        ("1001", "Purchase", "coverage_acr", "", 35.8),
        ("1001", "Purchase", "match_key_acr", "phone", 22.4),
        ("1001", "Purchase", "match_key_acr", "ip_address", 20.65),
    ]
    assert digest.recommendations[2].description == "Send Purchase from the server too."


async def test_alerts_firing_now_and_resolved_in_period(filled: Store) -> None:
    """Firing alerts and those resolved in the period, each once, owner's only."""
    digest = await build_digest(filled, "acme", SINCE, NOW)
    assert [(a.dataset_id, a.rule) for a in digest.firing] == [("1001", "emq-drop")]
    assert [(a.dataset_id, a.rule, a.resolved_at) for a in digest.resolved] == [
        ("1002", "emq-low", T0 + 4 * DAY)
    ]


async def test_owners_are_separated(filled: Store) -> None:
    """An owner's digest holds only its datasets; None holds every owner's."""
    acme = await build_digest(filled, "acme", SINCE, NOW)
    globex = await build_digest(filled, "globex", SINCE, NOW)
    everyone = await build_digest(filled, None, SINCE, NOW)
    assert [d.id for d in acme.datasets] == ["1002", "1001"]  # by name: "<" < "s"
    assert [d.id for d in globex.datasets] == ["2001"]
    assert [r.percentage for r in globex.recommendations] == [99.0]
    assert {d.id for d in everyone.datasets} == {"1001", "1002", "2001"}
    assert everyone.recommendations[0].dataset_id == "2001"
    assert len(everyone.firing) == 2


async def test_unknown_owner_gets_an_empty_digest(filled: Store) -> None:
    """An owner without datasets gets a digest with nothing in it: it is not sent."""
    digest = await build_digest(filled, "nobody", SINCE, NOW)
    assert digest.empty
    assert digest.recommendations == ()


def channel(*owners: str) -> EmailChannel:
    return EmailChannel.model_validate(
        {
            "type": "email",
            "host": "127.0.0.1",
            "from": "dq@agency.example",
            "to": ["team@acme.example"],
            "owners": list(owners),
            "digest": "0 8 * * MON",
        }
    )


async def test_channel_gets_one_digest_per_admitted_owner(filled: Store) -> None:
    """A channel's owners each get a digest; no owners means every owner."""
    named = await digests_for_channel(filled, channel("acme", "nobody"), NOW, 7 * DAY)
    everyone = await digests_for_channel(filled, channel(), NOW, 7 * DAY)
    assert [d.owner for d in named] == ["acme"]
    assert [d.owner for d in everyone] == ["acme", "globex"]
    assert named[0].since == NOW - 7 * DAY


async def test_trend_survives_pruned_history(filled: Store) -> None:
    """Once retention prunes history, the latest value still holds from its change."""
    await filled.prune(NOW)
    digest = await build_digest(filled, "acme", SINCE, NOW)
    assert event_of(digest, "1001", "Purchase").trend == (None,) * 3 + (5.9,) * 5
    assert event_of(digest, "1002", HOSTILE_EVENT).trend == (5.0,) * 8


def test_samples_are_daily_within_bounds() -> None:
    """A week gives 8 daily points; short and long periods are kept readable."""
    week = sample_times(0.0, 7 * DAY)
    assert week == tuple(i * DAY for i in range(8))
    assert len(sample_times(0.0, DAY)) == 7
    assert len(sample_times(0.0, 90 * DAY)) == 31


async def test_period_must_end_after_it_starts(store: Store) -> None:
    """A period that ends before it starts is refused, naming both ends."""
    with pytest.raises(ValueError, match="must end after it starts"):
        await build_digest(store, "acme", NOW, SINCE)


# -- rendering ------------------------------------------------------------------


async def test_html_escapes_hostile_text(filled: Store) -> None:
    """Dataset and event names are text in the HTML part, never markup."""
    _, text, html = rendered(await build_digest(filled, "acme", SINCE, NOW))
    assert "<script>" not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    assert HOSTILE_NAME in text  # the text part shows names as they are


async def test_chart_is_inline_table_markup(filled: Store) -> None:
    """Trends are table cells sized by score: no SVG, no images, no data: URIs."""
    _, _, html = rendered(await build_digest(filled, "acme", SINCE, NOW))
    for banned in ("<svg", "<img", "data:", "url("):
        assert banned not in html
    bars = re.findall(
        r'class="dq-bar" [^>]*height:(\d+)px;[^>]*background:(#\w+)', html
    )
    assert len(bars) == 4 * 8  # four events, eight points each
    # Datasets by name (1002 before 1001), then events: Lead, Purchase, offline.
    purchase = bars[16:24]
    assert int(purchase[0][0]) > int(purchase[-1][0])
    assert purchase[0][1] != purchase[-1][1]  # 7.8 and 5.9 fall in different bands


async def test_text_part_has_numbers_and_sparklines(filled: Store) -> None:
    """The text part gives each score, its change and a block sparkline."""
    subject, text, _ = rendered(await build_digest(filled, "acme", SINCE, NOW))
    assert "EMQ 5.9  ▆▆▆▂▂▂▂▂  down 1.9 from 7.8" in text
    assert "EMQ 6.0  ·····▄▄▄" in text
    assert "coverage 82% (goal 75%)" in text
    assert "1. +58.96%  Purchase on Acme shop (1001): send the email match key" in text
    assert "firing since 18 Jan 2027 09:00 UTC" in text  # T0 is 15 Jan 2027 08:00
    assert subject == (
        "Data quality digest for acme: 2 datasets, 1 alert firing "
        "(Fri 15 Jan to Fri 22 Jan)"
    )


def test_sparkline_shows_drops_not_wobbles() -> None:
    """A one-point drop spans several blocks; a 0.1 wobble stays flat."""
    assert sparkline((7.8, 7.8, 6.8, 6.8)) == "▅▅▃▃"
    assert sparkline((6.0, 6.1, 6.0, 6.1)) == "▄▄▄▄"
    assert sparkline((None, 5.0)) == "·▄"


def test_subject_is_one_line_whatever_the_owner() -> None:
    """A newline in an owner name cannot split the subject header."""
    digest = sample_digest()
    hostile = Digest(
        "acme\r\nBcc: victim@example.com",
        digest.since,
        digest.now,
        digest.sample_times,
        digest.datasets,
    )
    subject, _, _ = rendered(hostile)
    assert "\n" not in subject
    assert "\r" not in subject


def test_sample_digest_renders_with_packaged_templates() -> None:
    """The sample used by `dqwatch check` renders, its hostile text escaped."""
    subject, text, html = rendered(sample_digest())
    assert subject.startswith("Data quality digest for acme")
    assert "<script>" not in html
    assert "phish.example'>" not in html
    assert "&lt;/td&gt;" in html
    assert "TOP RECOMMENDATIONS" in text


# -- sending --------------------------------------------------------------------


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps every mail it receives."""

    mails: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.mails.append(parsed)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server on 127.0.0.1 that keeps what it receives."""
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def mail_channel(name: str, port: int, to: str, extra: str = "") -> str:
    """A [channel.NAME] table of an email channel on 127.0.0.1."""
    return (
        f'[channel.{name}]\ntype = "email"\nhost = "127.0.0.1"\nport = {port}\n'
        f'from = "dq@agency.example"\nto = ["{to}"]\n{extra}\n'
    )


def digest_config(tmp_path: Path, port: int, dead_port: int = 0) -> Config:
    """Channels: acme's digest, everyone's, an immediate one, one that may be down."""
    weekly = 'digest = "0 8 * * MON"\n'
    path = tmp_path / "dqwatch.toml"
    path.write_text(
        '[graph]\nbase_url = "http://127.0.0.1:9"\naccess_token = "token-for-tests"\n'
        '[[dataset]]\nid = "1001"\nowner = "acme"\n'
        + mail_channel("acme", port, "a@acme.example", 'owners = ["acme"]\n' + weekly)
        + mail_channel("all", port, "all@agency.example", weekly)
        + mail_channel("instant", port, "i@agency.example")
        + mail_channel("down", dead_port or port, "d@agency.example")
    )
    return load_config(path)


def recipients_and_subjects(inbox: Inbox) -> list[tuple[str, str]]:
    return sorted((str(m["To"]), str(m["Subject"])) for m in inbox.mails)


async def test_send_mails_one_digest_per_owner_and_channel(
    filled: Store, smtp: tuple[Inbox, int], tmp_path: Path
) -> None:
    """Each channel with a schedule mails each admitted owner's digest separately."""
    inbox, port = smtp
    config = digest_config(tmp_path, port)
    sent = await send_digests(filled, config, Templates(), NOW, 7 * DAY)
    assert (sent.sent, sent.failures) == (3, 0)
    assert [
        (to, subject.split(":")[0]) for to, subject in recipients_and_subjects(inbox)
    ] == [
        ("a@acme.example", "Data quality digest for acme"),
        ("all@agency.example", "Data quality digest for acme"),
        ("all@agency.example", "Data quality digest for globex"),
    ]
    mail = inbox.mails[0]
    html = mail.get_body(("html",))
    text = mail.get_body(("plain",))
    assert html is not None
    assert text is not None
    assert "&lt;script&gt;" in html.get_content()
    assert "EMQ 5.9" in text.get_content()


async def test_send_one_channel_and_owner(
    filled: Store, smtp: tuple[Inbox, int], tmp_path: Path
) -> None:
    """A named channel sends even without a schedule; an owner filter narrows it."""
    inbox, port = smtp
    config = digest_config(tmp_path, port)
    sent = await send_digests(
        filled, config, Templates(), NOW, 7 * DAY, "globex", channel="instant"
    )
    assert sent.sent == 1
    assert recipients_and_subjects(inbox)[0][1].startswith(
        "Data quality digest for globex"
    )
    refused = await send_digests(
        filled, config, Templates(), NOW, DAY, "globex", channel="acme"
    )
    assert refused.sent == 0
    assert refused.lines == ["acme: does not take owner 'globex'"]


async def test_send_failures_are_retried_then_counted(
    filled: Store, smtp: tuple[Inbox, int], tmp_path: Path
) -> None:
    """A down server gets each digest three times; each unsent one is a failure."""
    inbox, port = smtp
    config = digest_config(tmp_path, port, dead_port=free_port())
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    down = await send_digests(
        filled, config, Templates(), NOW, DAY, channel="down", sleep=sleep
    )
    missing = await send_digests(filled, config, Templates(), NOW, DAY, channel="nope")
    assert (down.sent, down.failures) == (0, 2)  # acme's and globex's
    assert waits == [2.0, 10.0, 2.0, 10.0]
    assert all("not sent" in line for line in down.lines)
    assert not any("will retry" in line for line in down.lines)
    assert missing.lines == ["nope: no email channel has this name"]
    assert inbox.mails == []


# -- scale ----------------------------------------------------------------------


async def test_thousand_datasets_build_quickly(store: Store) -> None:
    """1,000 datasets x 10 events for one owner build in well under two seconds."""
    ids = [str(5000 + i) for i in range(1000)]
    await store.sync_datasets([DatasetRow(i, f"Shop {i}", "big") for i in ids], now=T0)
    for day, emq in ((0, 7.5), (3, 6.5)):
        events = {
            f"Event{n}": {
                "emq": emq + n / 10,
                "match_key_acr": {"email": acr(10.0 + n)},
            }
            for n in range(10)
        }
        await asyncio.gather(*(poll(store, i, T0 + day * DAY, events) for i in ids))

    started = time.perf_counter()
    digest = await build_digest(store, "big", SINCE, NOW)
    elapsed = time.perf_counter() - started
    assert sum(len(d.events) for d in digest.datasets) == 10_000
    assert digest.datasets[0].events[0].trend[-1] == 6.5
    assert elapsed < 2.0, f"built in {elapsed:.2f}s"
