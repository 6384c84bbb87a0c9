"""systemd notifications: exact datagrams on a socket of our own, never a crash."""

from __future__ import annotations

import logging
import os
import socket
import struct
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dqwatch.sdnotify import STATUS_MAX_CHARS, Notifier

linux_only = pytest.mark.skipif(
    sys.platform != "linux", reason="abstract sockets and SCM_CREDENTIALS are Linux"
)


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[socket.socket]:
    """A datagram socket bound in tmp_path, standing in for systemd's."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path / "notify"))
        sock.settimeout(2)
        yield sock


def notifier_for(sock: socket.socket, **environ: str) -> Notifier:
    """A Notifier whose environment points NOTIFY_SOCKET at ``sock``."""
    address = sock.getsockname()
    if isinstance(address, bytes):  # abstract: b"\0name"
        address = "@" + address[1:].decode()
    return Notifier({"NOTIFY_SOCKET": address, **environ})


def test_ready_with_status_is_one_datagram(listener: socket.socket) -> None:
    """ready("...") sends READY=1 and STATUS= together in one datagram."""
    notifier_for(listener).ready("3 datasets scheduled")

    assert listener.recv(4096) == b"READY=1\nSTATUS=3 datasets scheduled"


def test_each_message_has_its_exact_content(listener: socket.socket) -> None:
    """Every method sends exactly the assignments systemd expects."""
    notifier = notifier_for(listener)

    notifier.ready()
    notifier.status("last batch 40 polls, 0 failed")
    notifier.watchdog()
    notifier.stopping("draining")
    notifier.stopping()

    assert [listener.recv(4096) for _ in range(5)] == [
        b"READY=1",
        b"STATUS=last batch 40 polls, 0 failed",
        b"WATCHDOG=1",
        b"STOPPING=1\nSTATUS=draining",
        b"STOPPING=1",
    ]


def test_reloading_carries_the_monotonic_clock(listener: socket.socket) -> None:
    """reloading() sends RELOADING=1 and MONOTONIC_USEC= read at the call."""
    before = time.monotonic_ns() // 1000
    notifier_for(listener).reloading()
    after = time.monotonic_ns() // 1000

    first, second = listener.recv(4096).decode().split("\n")
    assert first == "RELOADING=1"
    name, value = second.split("=")
    assert name == "MONOTONIC_USEC"
    assert before <= int(value) <= after


def test_status_cannot_inject_assignments(listener: socket.socket) -> None:
    """Newlines and control characters in a status become spaces."""
    notifier_for(listener).status("shop\nREADY=1\r\x00MAINPID=1")

    assert listener.recv(4096) == b"STATUS=shop READY=1  MAINPID=1"


def test_long_status_is_cut_below_systemds_limit(listener: socket.socket) -> None:
    """A huge status is shortened so the datagram stays under 4 KiB."""
    notifier_for(listener).ready("é" * 10_000)

    datagram = listener.recv(65536)
    assert len(datagram) < 4096
    status = datagram.decode().split("\n")[1].removeprefix("STATUS=")
    assert len(status) == STATUS_MAX_CHARS
    assert status.endswith("…")


def test_unencodable_text_is_replaced(listener: socket.socket) -> None:
    """A lone surrogate (from an undecodable name) does not stop the message."""
    notifier_for(listener).status("dataset \udcff")

    assert listener.recv(4096) == b"STATUS=dataset ?"


@linux_only
def test_abstract_namespace_address() -> None:
    """NOTIFY_SOCKET=@name reaches a socket bound in the abstract namespace."""
    name = f"dqwatch-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        notifier = Notifier({"NOTIFY_SOCKET": "@" + name})

        notifier.ready("up")

        assert notifier.enabled
        assert sock.recv(4096) == b"READY=1\nSTATUS=up"


@linux_only
def test_sent_by_this_process_from_any_thread(listener: socket.socket) -> None:
    """Datagrams carry our pid even from a worker thread (NotifyAccess=main)."""
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    notifier = notifier_for(listener)

    worker = threading.Thread(target=notifier.watchdog)
    worker.start()
    worker.join()

    data, ancillary, _, _ = listener.recvmsg(4096, socket.CMSG_SPACE(12))
    assert data == b"WATCHDOG=1"
    [(level, kind, credentials)] = ancillary
    assert (level, kind) == (socket.SOL_SOCKET, socket.SCM_CREDENTIALS)
    pid, _uid, _gid = struct.unpack("3i", credentials)
    assert pid == os.getpid()


def test_missing_socket_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A socket that does not exist costs a DEBUG line, never an exception."""
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    caplog.set_level(logging.DEBUG, logger="dqwatch.sdnotify")

    notifier.ready("up")
    notifier.status("still up")
    notifier.watchdog()
    notifier.reloading()
    notifier.stopping()

    failures = [r for r in caplog.records if "not sent" in r.getMessage()]
    assert len(failures) == 5
    assert {r.levelno for r in failures} == {logging.DEBUG}
    assert "READY=1" in failures[0].getMessage()


def test_full_socket_never_blocks(
    listener: socket.socket, caplog: pytest.LogCaptureFixture
) -> None:
    """When nobody reads the socket, sends fail fast instead of blocking."""
    notifier = notifier_for(listener)
    caplog.set_level(logging.DEBUG, logger="dqwatch.sdnotify")

    def flood() -> None:
        for _ in range(5_000):
            notifier.watchdog()
            if caplog.records:
                return

    worker = threading.Thread(target=flood, daemon=True)
    worker.start()
    worker.join(timeout=10)

    assert not worker.is_alive(), "a send blocked on a full socket"
    assert "WATCHDOG=1 not sent" in caplog.records[0].getMessage()


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"NOTIFY_SOCKET": ""},
        {"NOTIFY_SOCKET": "@"},
        {"NOTIFY_SOCKET": "relative/notify"},
        {"NOTIFY_SOCKET": "vsock:2:1234"},
        {"WATCHDOG_USEC": "120000000"},
    ],
    ids=["unset", "empty", "bare-at", "relative", "vsock", "watchdog-only"],
)
def test_disabled_without_a_usable_socket(environ: dict[str, str]) -> None:
    """Without a path or @name socket nothing is enabled and calls do nothing."""
    notifier = Notifier(environ)

    notifier.ready("up")
    notifier.reloading()
    notifier.watchdog()

    assert not notifier.enabled
    assert notifier.watchdog_interval is None


def test_default_environment_is_the_process_one(
    monkeypatch: pytest.MonkeyPatch, listener: socket.socket
) -> None:
    """Notifier() reads os.environ, as the daemon creates it."""
    monkeypatch.setenv("NOTIFY_SOCKET", listener.getsockname())
    monkeypatch.setenv("WATCHDOG_USEC", "4000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)

    notifier = Notifier()
    notifier.watchdog()

    assert notifier.watchdog_interval == 2.0
    assert listener.recv(4096) == b"WATCHDOG=1"


@pytest.mark.parametrize(
    ("usec", "interval"),
    [("120000000", 60.0), ("1000000", 0.5), ("3", 1.5e-06)],
)
def test_watchdog_interval_is_half_the_timeout(
    listener: socket.socket, usec: str, interval: float
) -> None:
    """WATCHDOG_USEC (microseconds) becomes pings every half of it, in seconds."""
    notifier = notifier_for(listener, WATCHDOG_USEC=usec)

    assert notifier.watchdog_interval == pytest.approx(interval)


@pytest.mark.parametrize("usec", ["", "0", "-5", "abc", "1.5e6", " "])
def test_unusable_watchdog_usec_means_no_watchdog(
    listener: socket.socket, usec: str
) -> None:
    """A missing, zero, negative or non-integer WATCHDOG_USEC turns pings off."""
    notifier = notifier_for(listener, WATCHDOG_USEC=usec)

    assert notifier.enabled
    assert notifier.watchdog_interval is None


def test_watchdog_pid_of_this_process_is_honoured(listener: socket.socket) -> None:
    """WATCHDOG_PID naming this process keeps the watchdog on."""
    notifier = notifier_for(
        listener, WATCHDOG_USEC="10000000", WATCHDOG_PID=str(os.getpid())
    )

    assert notifier.watchdog_interval == 5.0


@pytest.mark.parametrize("pid", ["1", str(os.getpid() + 1), "not-a-pid"])
def test_watchdog_pid_of_another_process_is_ignored(
    listener: socket.socket, pid: str
) -> None:
    """A WATCHDOG_PID inherited from another process turns our pings off."""
    notifier = notifier_for(listener, WATCHDOG_USEC="10000000", WATCHDOG_PID=pid)

    assert notifier.enabled
    assert notifier.watchdog_interval is None
