"""The dqwatch command as a user runs it: real processes, the simulator, SQLite."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.conftest import free_port

SIM_TOKEN = "sim-token"  # the packaged basic scenario's token


def dqwatch(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``dqwatch ARGS`` in a fresh process and capture what it printed."""
    return subprocess.run(
        [sys.executable, "-m", "dqwatch.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def simulator_url() -> Iterator[str]:
    """``dqwatch simulate`` with the packaged basic scenario, as its own process."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dqwatch.cli",
            "--log-level",
            "WARNING",
            "simulate",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/_simulator/stats", timeout=1).read()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    try:
        yield url
    finally:
        process.terminate()
        process.wait()


def config(tmp_path: Path, url: str, extra: str = "", token: str = SIM_TOKEN) -> Path:
    path = tmp_path / "dqwatch.toml"
    path.write_text(
        textwrap.dedent(f"""\
            [graph]
            base_url = "{url}"
            access_token = "${{DQ_TOKEN}}"
            max_retries = 1

            [[dataset]]
            id = "1001"
            name = "Acme web shop"
            owner = "acme"
            sources = ["web", "offline"]

            [[dataset]]
            id = "2002"
            name = "Retired"
            """)
        + textwrap.dedent(extra)
    )
    os.environ["DQ_TOKEN"] = token
    return path


def test_help_of_every_command_ends_with_an_example() -> None:
    """Each command's --help closes with an example line."""
    for command in (
        "check",
        "poll-once",
        "silence",
        "test-rules",
        "backtest",
        "simulate",
        "demo",
    ):
        out = dqwatch(command, "--help")
        assert out.returncode == 0
        assert "Example:\n  dqwatch " in out.stdout, command


def test_check_accepts_a_good_config(tmp_path: Path) -> None:
    """check exits 0 and summarises what it loaded."""
    out = dqwatch("check", "-c", str(config(tmp_path, "http://127.0.0.1:9")))
    assert out.returncode == 0, out.stderr
    assert "2 datasets" in out.stdout
    assert "rules: OK (6 rules" in out.stdout


def test_check_reports_every_problem_with_its_line(tmp_path: Path) -> None:
    """Bad keys are listed as FILE:LINE: key: problem; exit 2."""
    path = tmp_path / "bad.toml"
    path.write_text('[graph]\nbase_url = "ftp://x"\naccess_tokn = "t"\n')
    out = dqwatch("check", "-c", str(path))
    assert out.returncode == 2
    assert f"{path}:2: graph.base_url" in out.stderr
    assert f"{path}:3: graph.access_tokn" in out.stderr


def test_check_reports_bad_rule_files(tmp_path: Path) -> None:
    """A rule problem names the rule file and line; exit 2."""
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nname = "x"\nkind = "drop"\nmetric = "emqq"\nby = 1\n')
    path = config(tmp_path, "http://127.0.0.1:9", '[rules]\npaths = ["rules.toml"]\n')
    out = dqwatch("check", "-c", str(path))
    assert out.returncode == 2
    assert f"{rules}:4:" in out.stderr
    assert "emq" in out.stderr  # the did-you-mean


def test_poll_once_prints_the_table_and_stores(
    tmp_path: Path, simulator_url: str
) -> None:
    """poll-once polls every dataset and source, prints one row each, exit 0."""
    out = dqwatch("poll-once", "-c", str(config(tmp_path, simulator_url)))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[:4] == ["DATASET", "NAME", "SOURCE", "EVENTS"]
    assert any(line.startswith("1001") and " web " in line for line in lines)
    assert any(line.startswith("1001") and " offline " in line for line in lines)
    assert any("2044055" in line for line in lines)
    assert "3 polls" in out.stdout
    with sqlite3.connect(tmp_path / "dqwatch.db") as conn:
        assert conn.execute("SELECT count(*) FROM polls").fetchone()[0] == 3


def test_poll_once_json_has_polls_and_alert_changes(
    tmp_path: Path, simulator_url: str
) -> None:
    """--json prints one document with polls and the alerts that changed."""
    out = dqwatch(
        "poll-once",
        "--log-level",
        "ERROR",
        "-c",
        str(config(tmp_path, simulator_url)),
        "--json",
    )
    assert out.returncode == 0, out.stderr
    document = json.loads(out.stdout)
    polls = {(p["dataset"], p["source"]): p for p in document["polls"]}
    assert polls[("1001", "web")]["outcome"] == "ok"
    assert polls[("1001", "web")]["events"] >= 2
    assert polls[("2002", "web")]["error_code"] == 2044055
    alert = next(a for a in document["alerts"] if a["rule"] == "dataset-unreachable")
    assert alert == alert | {
        "dataset": "2002",
        "state": "firing",
        "severity": "critical",
    }
    assert {
        "rule",
        "dataset",
        "source",
        "event",
        "key",
        "state",
        "severity",
        "value",
        "before",
        "summary",
    } <= alert.keys()


def test_bad_rules_stop_poll_once_before_anything_is_stored(
    tmp_path: Path, simulator_url: str
) -> None:
    """Exit 2 and no database file when a rule file is broken."""
    (tmp_path / "rules.toml").write_text('[[rule]]\nname = "x"\nkind = "nope"\n')
    path = config(tmp_path, simulator_url, '[rules]\npaths = ["rules.toml"]\n')
    out = dqwatch("poll-once", "-c", str(path))
    assert out.returncode == 2
    assert not (tmp_path / "dqwatch.db").exists()


def test_unwritable_database_exits_1(tmp_path: Path, simulator_url: str) -> None:
    """When the database cannot be opened the cycle cannot run: exit 1."""
    path = config(tmp_path, simulator_url, '[storage]\npath = "no/such/dir/dq.db"\n')
    out = dqwatch("poll-once", "-c", str(path))
    assert out.returncode == 1
    assert "storage.path" in out.stderr


def test_invalid_token_is_an_alert_and_never_printed(
    tmp_path: Path, simulator_url: str
) -> None:
    """An expired token is a token-invalid alert; the token appears nowhere."""
    token = "sim-expired-token"
    path = config(tmp_path, simulator_url, token=token)
    out = dqwatch("--log-level", "DEBUG", "poll-once", "-c", str(path), "--json")
    assert out.returncode == 0
    rules = {a["rule"] for a in json.loads(out.stdout)["alerts"]}
    assert rules == {"token-invalid"}
    assert token not in out.stdout + out.stderr
    assert token.encode() not in (tmp_path / "dqwatch.db").read_bytes()


def test_silences_can_be_added_listed_and_expired(tmp_path: Path) -> None:
    """silence add/list/expire round-trip through the database."""
    path = str(config(tmp_path, "http://127.0.0.1:9"))
    added = dqwatch(
        "silence",
        "add",
        "-c",
        path,
        "--rule",
        "emq-drop",
        "--event",
        "Lead*",
        "--duration",
        "2h",
        "--comment",
        "release",
        "--author",
        "ana",
    )
    assert added.returncode == 0, added.stderr
    assert "silence 1 added" in added.stdout
    listed = json.loads(dqwatch("silence", "list", "-c", path, "--json").stdout)
    assert listed[0]["matchers"] == {"rule": "emq-drop", "event": "Lead*"}
    assert listed[0]["active"] is True
    assert dqwatch("silence", "expire", "-c", path, "1").returncode == 0
    assert dqwatch("silence", "list", "-c", path).stdout.strip() == "no silences"
    assert dqwatch("silence", "expire", "-c", path, "1").returncode == 1
    assert dqwatch("silence", "add", "-c", path).returncode == 2  # no matcher


def test_backtest_replays_what_poll_once_stored(
    tmp_path: Path, simulator_url: str
) -> None:
    """backtest reads the history poll-once wrote and reports the alerts."""
    path = str(config(tmp_path, simulator_url))
    assert dqwatch("poll-once", "-c", path).returncode == 0
    out = dqwatch("backtest", "-c", path, "--since", "1d", "--json")
    assert out.returncode == 0, out.stderr
    rules = {a["rule"] for a in json.loads(out.stdout)["alerts"]}
    assert "dataset-unreachable" in rules


def test_backtest_without_a_database_says_so(tmp_path: Path) -> None:
    """No database yet: exit 1 with a hint, and no empty database is created."""
    out = dqwatch("backtest", "-c", str(config(tmp_path, "http://127.0.0.1:9")))
    assert out.returncode == 1
    assert "nothing to replay" in out.stderr
    assert not (tmp_path / "dqwatch.db").exists()


def test_digest_now_mails_each_owner(tmp_path: Path, simulator_url: str) -> None:
    """digest --now builds the owner's digest and sends it to a real SMTP server."""
    received: list[bytes] = []

    class Handler:
        async def handle_DATA(
            self, server: object, session: object, envelope: Any
        ) -> str:
            received.append(envelope.original_content)
            return "250 OK"

    port = free_port()
    smtp = Controller(Handler(), hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        path = str(
            config(
                tmp_path,
                simulator_url,
                f"""
            [channel.acme-mail]
            type = "email"
            host = "127.0.0.1"
            port = {port}
            from = "dqwatch@agency.example"
            to = ["marketing@acme.example"]
            owners = ["acme"]
            digest = "0 8 * * MON"
            """,
            )
        )
        assert dqwatch("poll-once", "-c", path).returncode == 0
        out = dqwatch("digest", "-c", path, "--now", "--owner", "acme")
    finally:
        smtp.stop()
    assert out.returncode == 0, out.stderr
    assert len(received) == 1
    assert b"Acme web shop" in received[0]


def test_json_logs_are_one_object_per_line(tmp_path: Path, simulator_url: str) -> None:
    """--log-format json writes every log line as a JSON object."""
    path = str(config(tmp_path, simulator_url))
    out = dqwatch("poll-once", "-c", path, "--log-format", "json")
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert lines
    records = [json.loads(line) for line in lines]
    assert {"time", "level", "logger", "message"} <= records[0].keys()
    assert any("cycle finished" in r["message"] for r in records)


def test_run_refuses_bad_rules_before_storing_anything(tmp_path: Path) -> None:
    """The daemon does not start on a broken rule file: exit 2, no database."""
    (tmp_path / "rules.toml").write_text('[[rule]]\nname = "x"\nkind = "nope"\n')
    path = config(tmp_path, "http://127.0.0.1:9", '[rules]\npaths = ["rules.toml"]\n')
    out = dqwatch("run", "-c", str(path))
    assert out.returncode == 2
    assert f"{tmp_path / 'rules.toml'}:3" in out.stderr
    assert not (tmp_path / "dqwatch.db").exists()
