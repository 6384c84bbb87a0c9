"""The daemon as a real process: notify protocol, signals, crashes, throttling.

The simulator and the Slack stand-in run in the test process on 127.0.0.1;
``dqwatch run`` runs as a child process, exactly as systemd would start it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import sys
import textwrap
import time
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from dqwatch.simulator import Scenario, Simulator
from tests.conftest import TOKEN, free_port, scenario_dict
from tests.slack_standin import TOKEN as SLACK_TOKEN
from tests.slack_standin import SlackStandIn

RULES = """
[[rule]]
name = "emq-low"
kind = "threshold"
metric = "emq"
below = 5.5
severity = "warning"
"""


class DaemonProcess:
    """``dqwatch run`` as a child process, with its output captured to files."""

    def __init__(self, tmp_path: Path, config: Path) -> None:
        self.tmp_path = tmp_path
        self.config = config
        self.notify_path = tmp_path / "notify.sock"
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(self.notify_path))
        self.notify.setblocking(False)
        self.datagrams: list[str] = []
        self.process: asyncio.subprocess.Process | None = None
        self.runs = 0

    def _logs(self) -> tuple[Any, Any]:
        self.runs += 1
        out = open(self.tmp_path / f"stdout-{self.runs}.txt", "wb")  # noqa: SIM115
        err = open(self.tmp_path / f"stderr-{self.runs}.txt", "wb")  # noqa: SIM115
        return out, err

    async def start(self) -> None:
        out, err = self._logs()
        env = {
            **os.environ,
            "NOTIFY_SOCKET": str(self.notify_path),
            "WATCHDOG_USEC": "2000000",
            "PYTHONUNBUFFERED": "1",
        }
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "dqwatch.cli",
            "run",
            "-c",
            str(self.config),
            stdout=out,
            stderr=err,
            env=env,
        )

    def output(self) -> str:
        return (self.tmp_path / f"stdout-{self.runs}.txt").read_text()

    def log(self) -> str:
        return (self.tmp_path / f"stderr-{self.runs}.txt").read_text()

    def read_notify(self) -> list[str]:
        while True:
            try:
                self.datagrams.append(self.notify.recv(4096).decode())
            except BlockingIOError:
                return self.datagrams

    async def wait_for(
        self, condition: Callable[[], bool], what: str, within: float = 40.0
    ) -> None:
        deadline = time.monotonic() + within
        while not condition():
            assert self.process is not None
            if self.process.returncode is not None:
                raise AssertionError(
                    f"the daemon exited while waiting for {what}:\n"
                    + self.log()[-3000:]
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {what}:\n" + self.log()[-3000:]
                )
            await asyncio.sleep(0.2)

    async def signal(self, number: int) -> None:
        assert self.process is not None
        self.process.send_signal(number)

    async def wait_exit(self) -> int:
        assert self.process is not None
        return await asyncio.wait_for(self.process.wait(), 30.0)

    def close(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
        self.notify.close()


def write_daemon_config(
    tmp_path: Path, sim_url: str, web_port: int, channels: str, graph: str = ""
) -> Path:
    (tmp_path / "rules.toml").write_text(RULES)
    path = tmp_path / "dqwatch.toml"
    path.write_text(
        textwrap.dedent(f"""\
        [graph]
        base_url = "{sim_url}"
        access_token = "{TOKEN}"
        max_retries = 1
        {graph}
        [storage]
        path = "dq.db"

        [poll]
        interval = "10s"
        jitter = "0s"

        [[dataset]]
        id = "1001"
        name = "Acme shop"
        owner = "acme"

        [[dataset]]
        id = "1002"
        name = "Acme blog"
        owner = "acme"

        [rules]
        paths = ["rules.toml"]

        [web]
        listen = "127.0.0.1:{web_port}"
        """)
        + textwrap.dedent(channels)
    )
    return path


CONSOLE = """
[[route]]
to = ["console"]

[channel.console]
type = "console"
"""


def slack_channel(slack: SlackStandIn) -> str:
    return f"""
        [[route]]
        to = ["oncall"]

        [channel.oncall]
        type = "slack"
        token = "{SLACK_TOKEN}"
        channel = "#dq"
        api_url = "{slack.api_url}"
        """


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def rows(db: Path, query: str) -> list[Any]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(query).fetchall()


def firing_events(db: Path) -> int:
    """How many times any alert went to firing, from the transition log."""
    return int(
        rows(db, "SELECT count(*) FROM alert_events WHERE state = 'firing'")[0][0]
    )


def datasets_polled(db: Path) -> int:
    found = rows(db, "SELECT count(DISTINCT dataset_id) FROM polls WHERE outcome='ok'")
    return int(found[0][0])


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(Scenario.from_dict(scenario_dict(), source="<test>"))
    async with simulator.running():
        yield simulator


async def test_daemon_serves_notifies_and_drains_on_sigterm(
    tmp_path: Path, sim: Simulator
) -> None:
    """READY, alerts on the console, /healthz and /metrics, STOPPING, exit 0."""
    web = free_port()
    assert sim.url is not None
    daemon = DaemonProcess(
        tmp_path, write_daemon_config(tmp_path, sim.url, web, CONSOLE)
    )
    try:
        await daemon.start()
        await daemon.wait_for(
            lambda: any("READY=1" in d for d in daemon.read_notify()), "READY=1"
        )
        await daemon.wait_for(lambda: "emq-low" in daemon.output(), "the alert")
        assert "Acme blog" in daemon.output()
        status, body = get(f"http://127.0.0.1:{web}/healthz")
        assert status == 200, body
        assert json.loads(body)["ready"] is True
        status, metrics = get(f"http://127.0.0.1:{web}/metrics")
        assert "dqwatch_polls_total" in metrics
        status, page = get(f"http://127.0.0.1:{web}/")
        assert "Acme blog" in page
        await daemon.wait_for(
            lambda: any("WATCHDOG=1" in d for d in daemon.read_notify()),
            "a watchdog ping",
        )
        await daemon.signal(signal.SIGTERM)
        assert await daemon.wait_exit() == 0
        assert any("STOPPING=1" in d for d in daemon.read_notify())
        assert TOKEN not in daemon.log() + daemon.output()
    finally:
        daemon.close()


async def test_kill_9_then_restart_loses_no_notification_and_sends_none_twice(
    tmp_path: Path, sim: Simulator
) -> None:
    """Notices committed before a kill -9 are delivered once after the restart."""
    slack = SlackStandIn()
    await slack.start()
    await slack.go_down()
    web = free_port()
    assert sim.url is not None
    config = write_daemon_config(tmp_path, sim.url, web, slack_channel(slack))
    daemon = DaemonProcess(tmp_path, config)
    db = tmp_path / "dq.db"
    try:
        await daemon.start()
        await daemon.wait_for(
            lambda: (
                db.exists()
                and bool(rows(db, "SELECT 1 FROM outbox WHERE attempts > 0"))
            ),
            "a failed delivery attempt",
        )
        assert daemon.process is not None
        daemon.process.kill()  # SIGKILL: no drain, no goodbye
        await daemon.wait_exit()
        fired = firing_events(db)
        await slack.come_back()
        await daemon.start()
        await daemon.wait_for(
            lambda: len(slack.calls("chat.postMessage")) >= 1,
            "the delivery after restart",
        )
        await asyncio.sleep(12)  # a full poll interval more: nothing may repeat
        assert len(slack.calls("chat.postMessage")) == 1
        assert firing_events(db) == fired  # nothing re-fired after the restart
        outbox = rows(db, "SELECT state, count(*) FROM outbox GROUP BY state")
        assert outbox == [("sent", 1)]
        await daemon.signal(signal.SIGTERM)
        assert await daemon.wait_exit() == 0
    finally:
        daemon.close()
        await slack.stop()


async def test_sighup_with_a_broken_rule_file_keeps_the_old_rules(
    tmp_path: Path, sim: Simulator
) -> None:
    """A bad reload is refused and the old rules keep working; a good one applies."""
    web = free_port()
    assert sim.url is not None
    daemon = DaemonProcess(
        tmp_path, write_daemon_config(tmp_path, sim.url, web, CONSOLE)
    )
    try:
        await daemon.start()
        await daemon.wait_for(lambda: "emq-low" in daemon.output(), "the first alert")
        (tmp_path / "rules.toml").write_text('[[rule]]\nname = "x"\nkind = "nope"\n')
        await daemon.signal(signal.SIGHUP)
        await daemon.wait_for(lambda: "reload refused" in daemon.log(), "the refusal")
        assert "rules.toml:3" in daemon.log()
        sim.set_value("1001", "Lead", "emq", 3.0)  # the old rule must still see this
        await daemon.wait_for(
            lambda: daemon.output().count("emq-low") >= 2, "an alert from the old rules"
        )
        (tmp_path / "rules.toml").write_text(  # a good reload takes effect
            RULES.replace("emq-low", "emq-very-low").replace("5.5", "4.0")
        )
        await daemon.signal(signal.SIGHUP)
        await daemon.wait_for(lambda: "reloaded" in daemon.log(), "the reload")
        await daemon.wait_for(
            lambda: "emq-very-low" in daemon.output(), "an alert from the new rules"
        )
        await daemon.signal(signal.SIGTERM)
        assert await daemon.wait_exit() == 0
    finally:
        daemon.close()


async def test_throttling_slows_the_daemon_down_without_an_error_storm(
    tmp_path: Path,
) -> None:
    """With a tight budget the daemon keeps under it; a throttle pauses, not hammers."""
    scenario = scenario_dict(
        rate_limit={"window": "20s", "business_calls": 12, "headers_after": 1}
    )
    scenario["dataset"].extend(
        {"id": str(5000 + i), "business": "555", "event": [{"name": "Lead", "emq": 7}]}
        for i in range(10)
    )
    sim = Simulator(Scenario.from_dict(scenario, source="<test>"))
    async with sim.running() as url:
        web = free_port()
        datasets = "".join(f'[[dataset]]\nid = "{5000 + i}"\n' for i in range(10))
        config = write_daemon_config(
            tmp_path, url, web, datasets + CONSOLE, graph='usage_window = "20s"'
        )
        daemon = DaemonProcess(tmp_path, config)
        try:
            await daemon.start()
            await daemon.wait_for(
                lambda: (
                    (tmp_path / "dq.db").exists()
                    and datasets_polled(tmp_path / "dq.db") == 12
                ),
                "every dataset polled once",
                within=90,
            )
            # 12 datasets every 10 s is 24 calls per 20 s window against a budget of
            # 12: the daemon must pace itself rather than collect throttling errors.
            assert sim.stats.throttled <= 2
            await daemon.signal(signal.SIGTERM)
            assert await daemon.wait_exit() == 0
        finally:
            daemon.close()
