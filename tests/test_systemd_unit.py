"""The systemd unit and its secrets template: settings, hardening, systemd's verdict."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dqwatch.cli import EXIT_BAD_INPUT
from dqwatch.simulator import Simulator
from tests.conftest import write_config

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "systemd" / "dqwatch.service"
ENV_EXAMPLE = ROOT / "systemd" / "dqwatch.env.example"
CONFIG_EXAMPLE = ROOT / "config.example.toml"
INSTALLED = "/opt/dqwatch/.venv/bin/dqwatch"
CONFIG = "/etc/dqwatch/dqwatch.toml"

Unit = dict[str, dict[str, list[str]]]

#: What the sandbox must say, setting by setting (the last assignment counts).
HARDENING = {
    "DynamicUser": "yes",
    "UMask": "0077",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "NoNewPrivileges": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "ProtectClock": "yes",
    "ProtectHostname": "yes",
    "RestrictNamespaces": "yes",
    "RestrictRealtime": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "SystemCallArchitectures": "native",
    "SystemCallFilter": "@system-service",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    "CapabilityBoundingSet": "",
    "AmbientCapabilities": "",
}

_SPAN_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}


def parse_unit(text: str) -> Unit:
    """Sections of a unit file, each key with every value assigned to it."""
    sections: Unit = {}
    current: dict[str, list[str]] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, equals, value = line.partition("=")
        assert current is not None, f"{UNIT.name}:{number}: setting before a section"
        assert equals, f"{UNIT.name}:{number}: not KEY=value: {raw!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def seconds(span: str) -> float:
    """A systemd time span such as "90s", "5min" or "1min 30s", in seconds."""
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]+)", span)
    assert parts, f"not a time span: {span!r}"
    return sum(float(number) * _SPAN_UNITS[unit] for number, unit in parts)


@pytest.fixture(scope="module")
def unit() -> Unit:
    """The unit file as shipped."""
    return parse_unit(UNIT.read_text())


def service(unit: Unit, key: str) -> str:
    """The effective value of a [Service] setting: its last assignment."""
    assert key in unit["Service"], f"{UNIT.name}: [Service] has no {key}="
    return unit["Service"][key][-1]


def test_the_daemon_talks_to_systemd_over_notify(unit: Unit) -> None:
    """Type=notify, and only the main process may notify."""
    assert service(unit, "Type") == "notify"
    assert service(unit, "NotifyAccess") == "main"


def test_start_and_reload_commands(unit: Unit) -> None:
    """ExecStart runs the daemon; a reload checks the config, then sends SIGHUP."""
    assert unit["Service"]["ExecStart"] == [f"{INSTALLED} run -c {CONFIG}"]
    assert unit["Service"]["ExecReload"] == [
        f"{INSTALLED} check -c {CONFIG}",
        "/bin/kill -HUP $MAINPID",
    ]
    assert service(unit, "KillSignal") == "SIGTERM"


def test_restarts_on_failure_but_not_on_bad_config(unit: Unit) -> None:
    """A crash restarts the daemon; the bad-config exit code does not."""
    assert service(unit, "Restart") == "on-failure"
    assert str(EXIT_BAD_INPUT) in service(unit, "RestartPreventExitStatus").split()
    assert seconds(service(unit, "RestartSec")) >= 1


def test_watchdog_is_set(unit: Unit) -> None:
    """WatchdogSec= is long enough for pings at half of it from a busy loop."""
    assert 30 <= seconds(service(unit, "WatchdogSec")) <= 600


def test_stop_timeout_outlasts_the_drain(unit: Unit) -> None:
    """systemd waits for the drain and a last delivery pass before SIGKILL."""
    from dqwatch.daemon import DRAIN_DEADLINE

    margin = seconds(service(unit, "TimeoutStopSec")) - DRAIN_DEADLINE

    assert margin >= 15


def test_sandbox_settings(unit: Unit) -> None:
    """Every hardening setting is present with the value a network client needs."""
    wrong = {
        key: unit["Service"].get(key, ["<missing>"])[-1]
        for key, expected in HARDENING.items()
        if unit["Service"].get(key, ["<missing>"])[-1] != expected
    }

    assert wrong == {}
    assert service(unit, "MemoryMax").endswith(("M", "G"))


def test_state_config_and_secret_locations(unit: Unit) -> None:
    """The database, config and secrets live where the docs say."""
    config_dir = f"/etc/{service(unit, 'ConfigurationDirectory')}"

    assert service(unit, "StateDirectory") == "dqwatch"
    assert config_dir == "/etc/dqwatch"
    assert unit["Service"]["EnvironmentFile"] == [f"-{config_dir}/dqwatch.env"]
    assert CONFIG.startswith(f"{config_dir}/")


def test_installs_into_the_normal_boot(unit: Unit) -> None:
    """The unit starts at boot, after the network is online."""
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]
    assert "network-online.target" in unit["Unit"]["After"][-1].split()
    assert "network-online.target" in unit["Unit"]["Wants"][-1].split()


def test_every_setting_has_its_own_comment() -> None:
    """Each setting line is directly below a comment explaining it."""
    lines = UNIT.read_text().splitlines()
    bare = [
        f"{UNIT.name}:{number}: {line}"
        for number, line in enumerate(lines, start=1)
        if "=" in line
        and not line.startswith(("#", "["))
        and not lines[number - 2].startswith("#")
    ]

    assert bare == []


def test_no_comment_hides_in_a_value(unit: Unit) -> None:
    """systemd keeps a trailing "# ..." as part of the value: none is written."""
    values = [v for section in unit.values() for vs in section.values() for v in vs]

    assert [v for v in values if "#" in v] == []


def test_env_example_sets_every_variable_of_the_config_example() -> None:
    """Each ${NAME} in config.example.toml has a line in dqwatch.env.example."""
    # Values, including commented-out ones; not the ${NAME} of the prose.
    pattern = r'=\s*"\$\{([A-Z0-9_]+)\}"'
    wanted = set(re.findall(pattern, CONFIG_EXAMPLE.read_text()))
    assignments = [
        line
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    names = {line.partition("=")[0] for line in assignments}

    assert wanted <= names, f"missing: {sorted(wanted - names)}"
    assert [a for a in assignments if not re.fullmatch(r"[A-Z0-9_]+=''", a)] == []


def verifiable_copy(tmp_path: Path) -> Path:
    """The unit with ExecStart's program swapped for a stub that exists here.

    ``systemd-analyze verify`` insists that every command is executable;
    /opt/dqwatch is where a server has dqwatch, not this machine.
    """
    stub = tmp_path / "bin" / "dqwatch"
    stub.parent.mkdir()
    stub.write_text("#!/bin/sh\n")
    stub.chmod(0o755)
    copy = tmp_path / "dqwatch.service"
    copy.write_text(UNIT.read_text().replace(INSTALLED, str(stub)))
    return copy


needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed on this machine",
)


@needs_systemd_analyze
def test_systemd_analyze_verify_is_clean(tmp_path: Path) -> None:
    """systemd itself parses every setting without an error or a warning."""
    copy = verifiable_copy(tmp_path)

    result = subprocess.run(
        ["systemd-analyze", "verify", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    output = (result.stdout + result.stderr).splitlines()
    assert [line for line in output if "dqwatch" in line] == []
    assert result.returncode == 0, result.stderr


@needs_systemd_analyze
def test_systemd_analyze_security_rates_it_ok(tmp_path: Path) -> None:
    """systemd's own exposure rating of the sandbox stays at 2.0 or below."""
    result = subprocess.run(
        [
            "systemd-analyze",
            "security",
            "--offline=yes",
            str(verifiable_copy(tmp_path)),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if "--offline" in result.stderr:
        pytest.skip("this systemd-analyze cannot rate a unit file offline")

    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= 2.0, result.stdout


# Runs dqwatch with the kernel refusing memory that is both writable and
# executable, or becomes executable later: what MemoryDenyWriteExecute= forbids.
_UNDER_MDWE = """
import ctypes, mmap, runpy, sys
PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
if ctypes.CDLL(None).prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
    sys.exit(99)
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
except PermissionError:
    pass
else:
    sys.exit("the kernel accepted PR_SET_MDWE but still maps W+X memory")
sys.argv = ["dqwatch", *sys.argv[1:]]
runpy.run_module("dqwatch.cli", run_name="__main__")
"""


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_MDWE is Linux only")
async def test_dqwatch_runs_without_writable_executable_memory(
    tmp_path: Path, simulator: Simulator
) -> None:
    """A full poll cycle works under the rule MemoryDenyWriteExecute= enforces."""
    assert simulator.url
    config = write_config(tmp_path, simulator.url, '[[dataset]]\nid = "1001"\n')

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _UNDER_MDWE,
        "poll-once",
        "-c",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)

    if process.returncode == 99:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3 or later)")
    assert process.returncode == 0, stderr.decode()
    assert b"1001" in stdout
    assert (tmp_path / "dq.db").stat().st_size > 0
