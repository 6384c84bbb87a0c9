"""Notifications end to end: simulator, Slack stand-in, a real SMTP server, SQLite.

Each cycle runs like ``poll-once``: a fresh Runtime over the same database,
poll, evaluate, write notices with the alert changes, deliver the outbox.
"""

from __future__ import annotations

import email
import email.policy
import textwrap
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from dqwatch.config import load_config
from dqwatch.cycle import Runtime, configured_rules, run_cycle
from dqwatch.notify.outbox import DeliveryReport
from dqwatch.simulator import Scenario, Simulator
from dqwatch.store import Store
from tests.conftest import free_port, scenario_dict, write_config
from tests.slack_standin import TOKEN as SLACK_TOKEN
from tests.slack_standin import SlackStandIn

DIAGNOSTIC = "Update your IPv4 IP addresses to IPv6 IP addresses"


class Inbox:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(
            envelope.original_content, policy=email.policy.default
        )
        self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"


class World:
    """The simulator, Slack, an SMTP server, and cycles run against them."""

    def __init__(self, tmp_path: Path, sim: Simulator, slack: SlackStandIn) -> None:
        self.tmp_path = tmp_path
        self.sim = sim
        self.slack = slack
        self.inbox = Inbox()
        self.smtp_port = free_port()
        self.smtp = Controller(self.inbox, hostname="127.0.0.1", port=self.smtp_port)
        self.now = 1_800_000_000.0
        self.mail_send_resolved = "true"

    def start_smtp(self) -> None:
        self.smtp = Controller(self.inbox, hostname="127.0.0.1", port=self.smtp_port)
        self.smtp.start()

    def config(self) -> Path:
        return write_config(
            self.tmp_path,
            self.sim.url,
            textwrap.dedent(f"""
                [[dataset]]
                id = "1001"
                name = "Acme shop"
                owner = "acme"
                sources = ["web", "offline"]

                [[dataset]]
                id = "1002"
                name = "Acme blog"
                owner = "acme"

                [[route]]
                match = {{ severity = ["warning", "critical"] }}
                to = ["oncall"]
                continue = true

                [[route]]
                to = ["acme-mail", "beta-mail"]

                [channel.oncall]
                type = "slack"
                token = "{SLACK_TOKEN}"
                channel = "#dq"
                api_url = "{self.slack.api_url}"
                repeat_interval = "4h"

                [channel.acme-mail]
                type = "email"
                host = "127.0.0.1"
                port = {self.smtp_port}
                from = "dqwatch@agency.example"
                to = ["marketing@acme.example"]
                owners = ["acme"]
                send_resolved = {self.mail_send_resolved}

                [channel.beta-mail]
                type = "email"
                host = "127.0.0.1"
                port = 1
                from = "dqwatch@agency.example"
                to = ["beta@example.com"]
                owners = ["beta"]
                """),
        )

    async def cycle(
        self, advance: float = 900.0, deliver: bool = True
    ) -> DeliveryReport:
        """One poll-once; returns what the outbox sender did."""
        self.now += advance
        config = load_config(self.config())
        store = Store.open(config.storage.path)
        report = DeliveryReport()
        try:
            async with Runtime(
                config, configured_rules(config), store, clock=lambda: self.now
            ) as runtime:
                await runtime.adopt_rules()
                await run_cycle(runtime)
                if deliver:
                    report = await runtime.sender.deliver()
        finally:
            store.close()
        return report

    async def outbox(self) -> dict[str, int]:
        store = Store.open(self.tmp_path / "dq.db")
        try:
            return await store.outbox_depth()
        finally:
            store.close()

    def degrade(self) -> None:
        """The six problems of the default rules, all on dataset 1001."""
        self.sim.set_value("1001", "Purchase", "emq", 5.9)
        self.sim.remove("1001", "Purchase", "match_key_coverage", key="phone")
        self.sim.set_value("1001", "Purchase", "event_coverage", 58.0)
        self.sim.set_value("1001", "Purchase", "freshness", "hourly")
        self.sim.set_value("1001", "Purchase", "diagnostic", 59.5, key=DIAGNOSTIC)
        self.sim.set_value("1001", "Purchase", "offline_composite", 7.4)

    def recover(self) -> None:
        self.sim.set_value("1001", "Purchase", "emq", 7.8)
        self.sim.set_value("1001", "Purchase", "match_key_coverage", 80.0, key="phone")
        self.sim.set_value("1001", "Purchase", "event_coverage", 82.0)
        self.sim.set_value("1001", "Purchase", "freshness", "real_time")
        self.sim.remove("1001", "Purchase", "diagnostic", key=DIAGNOSTIC)
        self.sim.set_value("1001", "Purchase", "offline_composite", 8.9)


def healthy_scenario() -> dict[str, Any]:
    scenario = scenario_dict()
    scenario["dataset"][0]["event"][1] = {"name": "Lead", "emq": 8.1}
    scenario["dataset"][1]["event"] = [{"name": "ViewContent", "emq": 8.0}]
    return scenario


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    sim = Simulator(Scenario.from_dict(healthy_scenario(), source="<test>"))
    slack = SlackStandIn()
    await slack.start()
    async with sim.running():
        made = World(tmp_path, sim, slack)
        made.start_smtp()
        try:
            yield made
        finally:
            made.smtp.stop()
            await slack.stop()


def posted(slack: SlackStandIn) -> list[dict[str, Any]]:
    return [r.body for r in slack.calls("chat.postMessage")]


async def test_healthy_problems_quiet_recovery(world: World) -> None:
    """Healthy: nothing; six problems: one Slack message and one email; quiet;
    recovery: resolutions in the thread, the original updated, and one email."""
    await world.cycle()
    assert posted(world.slack) == []
    assert world.inbox.messages == []

    world.degrade()
    report = await world.cycle()
    assert report.sent == 11  # six alerts by email; Slack takes warning and up
    messages = posted(world.slack)
    assert len(messages) == 1  # one message for the dataset, listing all five
    text = str(messages[0])
    for rule in (
        "emq-drop",
        "match-key-lost",
        "event-coverage-low",
        "freshness-not-realtime",
        "offline-composite-low",
    ):
        assert rule in text
    assert "new-diagnostic" not in text  # severity info: email only
    assert "Acme shop" in text
    assert "1001" in text
    assert len(world.inbox.messages) == 1
    mail = world.inbox.messages[0]
    assert "Acme shop" in str(mail.get_body(("plain",)).get_content())
    assert mail.get_body(("html",)) is not None

    assert (await world.cycle()).sent == 0  # no change, nothing sent
    assert len(posted(world.slack)) == 1
    assert len(world.inbox.messages) == 1

    world.recover()
    report = await world.cycle()
    assert report.sent == 11
    replies = [m for m in posted(world.slack) if m.get("thread_ts")]
    assert len(replies) >= 1
    assert world.slack.calls("chat.update")
    assert len(world.inbox.messages) == 2
    assert (
        "resolved"
        in str(world.inbox.messages[1].get_body(("plain",)).get_content()).lower()
    )
    assert await world.outbox() == {"sent": 22}


async def test_slack_down_then_up_delivers_once(world: World) -> None:
    """An outage keeps the notices pending; once Slack is back each arrives once."""
    await world.cycle()
    world.degrade()
    await world.slack.go_down()
    report = await world.cycle()
    assert report.retrying == 5
    assert report.sent == 6  # email went, Slack waits
    assert (await world.outbox()).get("pending") == 5
    await world.slack.come_back()
    report = await world.cycle(advance=3600)
    assert report.sent == 5
    assert len(posted(world.slack)) == 1
    assert (await world.outbox()).get("pending") is None


async def test_smtp_down_then_up_delivers_once(world: World) -> None:
    """With the SMTP server down mail waits in the outbox, then arrives once."""
    await world.cycle()
    world.degrade()
    world.smtp.stop()
    report = await world.cycle()
    assert report.retrying == 6
    world.start_smtp()
    await world.cycle(advance=3600)
    assert len(world.inbox.messages) == 1
    assert (await world.outbox()) == {"sent": 11}


async def test_crash_between_commit_and_delivery_loses_nothing(world: World) -> None:
    """Notices committed by a process that died unsent arrive after a restart."""
    await world.cycle()
    world.degrade()
    await world.cycle(deliver=False)  # the process ends before its sender runs
    assert (await world.outbox()) == {"pending": 11}
    await world.cycle()  # the next run delivers them, once
    assert len(posted(world.slack)) == 1
    assert len(world.inbox.messages) == 1
    assert (await world.outbox()) == {"sent": 11}


async def test_slack_429_waits_the_time_slack_names(world: World) -> None:
    """A 429 records the attempt and waits for Retry-After before trying again."""
    await world.cycle()
    world.degrade()
    world.slack.fail(status=429, retry_after=1200, error="ratelimited")
    report = await world.cycle()
    assert report.retrying == 5
    assert (await world.cycle(advance=600)).sent == 0  # not yet: Retry-After 1200
    assert (await world.cycle(advance=700)).sent == 5


async def test_firing_alerts_repeat_after_the_interval(world: World) -> None:
    """A firing alert is announced again every repeat_interval, not more often."""
    await world.cycle()
    world.degrade()
    await world.cycle()
    assert (await world.cycle(advance=3600)).sent == 0
    report = await world.cycle(advance=4 * 3600)
    assert report.sent == 11  # both channels repeat every 4h
    assert len(posted(world.slack)) == 2


async def test_silenced_alerts_are_not_sent(world: World) -> None:
    """An alert matching a silence is recorded but no channel hears of it."""
    await world.cycle()
    store = Store.open(world.tmp_path / "dq.db")
    try:
        await store.add_silence({"dataset": "1001"}, 0, world.now + 86400, "", "ops")
    finally:
        store.close()
    world.degrade()
    assert (await world.cycle()).sent == 0
    assert posted(world.slack) == []


async def test_owners_and_send_resolved_filter_channels(world: World) -> None:
    """beta-mail admits only owner beta: it hears nothing of acme's alerts; with
    send_resolved = false the mail channel hears firing but not resolutions."""
    world.mail_send_resolved = "false"
    await world.cycle()
    world.degrade()
    assert (await world.cycle()).sent == 11  # Slack and acme-mail, not beta-mail
    world.recover()
    assert (await world.cycle()).sent == 5  # only Slack hears the resolutions
    assert len(world.inbox.messages) == 1
