"""Telling systemd how the daemon is doing, over ``$NOTIFY_SOCKET``.

A service started with ``Type=notify`` reports its state by sending
datagrams of ``KEY=VALUE`` lines to the AF_UNIX socket named in
``$NOTIFY_SOCKET``: ``READY=1`` once it serves, ``STATUS=`` for the line
``systemctl status`` shows, ``WATCHDOG=1`` as a heartbeat, ``RELOADING=1``
and ``STOPPING=1`` around reloads and shutdown. The protocol is small enough
to speak directly, which spares a dependency on an unmaintained package.

Notifications are a courtesy to the service manager, never a reason to stop:
every failure to send is logged at DEBUG and swallowed. Outside systemd (no
``$NOTIFY_SOCKET``) every method does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

__all__ = ["Notifier"]

log = logging.getLogger(__name__)

#: systemd drops a notification datagram larger than 4 KiB; a status line
#: this short stays far below that even when every character takes 4 bytes.
STATUS_MAX_CHARS = 512

# STATUS= ends at the first newline: a newline inside untrusted text (a
# dataset name) would start a new assignment such as READY=1 or MAINPID=.
_CONTROL_TO_SPACE = dict.fromkeys((*range(0x20), 0x7F), " ")


class Notifier:
    """Sends systemd notifications, or nothing when systemd did not start us.

    ``environ`` is read once: ``NOTIFY_SOCKET`` is a file system path or,
    starting with ``@``, a name in the abstract namespace. ``WATCHDOG_USEC``
    (honoured only when ``WATCHDOG_PID`` is unset or is this process) sets
    :attr:`watchdog_interval`.

    Each message opens its own non-blocking socket, so methods may be called
    from any thread and a stalled service manager never blocks the caller.
    """

    enabled: bool
    """False when not started by systemd: every method then does nothing."""

    watchdog_interval: float | None
    """Seconds between :meth:`watchdog` pings (half of ``WATCHDOG_USEC``),
    or None when systemd watches no heartbeat of this process."""

    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        self._address = _socket_address(environ.get("NOTIFY_SOCKET", ""))
        self.enabled = self._address is not None
        self.watchdog_interval = _watchdog_interval(environ) if self.enabled else None

    def ready(self, status: str = "") -> None:
        """Say the daemon is serving (startup done, or a reload finished)."""
        self._send("READY=1", *_status(status))

    def status(self, text: str) -> None:
        """Set the one-line status ``systemctl status dqwatch`` shows."""
        self._send(*_status(text))

    def watchdog(self) -> None:
        """Ping the watchdog: the daemon is alive and its event loop turns."""
        self._send("WATCHDOG=1")

    def stopping(self, status: str = "") -> None:
        """Say the daemon has begun to shut down."""
        self._send("STOPPING=1", *_status(status))

    def reloading(self) -> None:
        """Say a reload has begun; :meth:`ready` says it has finished.

        ``MONOTONIC_USEC`` lets newer systemd tell this reload from an older
        one; older versions ignore it.
        """
        now_usec = time.monotonic_ns() // 1000
        self._send("RELOADING=1", f"MONOTONIC_USEC={now_usec}")

    def _send(self, *assignments: str) -> None:
        if self._address is None or not assignments:
            return
        payload = "\n".join(assignments).encode("utf-8", errors="replace")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.setblocking(False)
                sock.sendto(payload, self._address)
        except OSError as exc:
            log.debug(
                "systemd notification %s not sent to %s: %s",
                assignments[0],
                self._address.replace("\0", "@", 1),
                exc,
            )


def _socket_address(value: str) -> str | None:
    """The address to send to, or None when there is nothing we can use.

    Only absolute paths and ``@name`` are the service manager's own sockets;
    other forms (``vsock:`` for virtual machines) are left alone.
    """
    if value.startswith("/"):
        return value
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]
    if value:
        log.debug("NOTIFY_SOCKET %r is neither a path nor @name: not used", value)
    return None


def _watchdog_interval(environ: Mapping[str, str]) -> float | None:
    """Half of ``WATCHDOG_USEC`` in seconds, when that watchdog is ours."""
    raw = environ.get("WATCHDOG_USEC", "")
    usec = _positive_int(raw)
    if usec is None:
        if raw:
            log.debug("WATCHDOG_USEC %r is not a positive integer: ignored", raw)
        return None
    pid = environ.get("WATCHDOG_PID", "")
    if pid and _positive_int(pid) != os.getpid():
        # The variables were inherited from a parent systemd was watching.
        log.debug("WATCHDOG_PID %s is not this process: no watchdog pings", pid)
        return None
    # Pinging at half the timeout leaves a whole interval of slack.
    return usec / 2_000_000


def _positive_int(text: str) -> int | None:
    try:
        number = int(text)
    except ValueError:
        return None
    return number if number > 0 else None


def _status(text: str) -> tuple[str, ...]:
    """A ``STATUS=`` assignment for ``text`` on one line, or none if empty."""
    if not text:
        return ()
    line = text.translate(_CONTROL_TO_SPACE)
    if len(line) > STATUS_MAX_CHARS:
        line = line[: STATUS_MAX_CHARS - 1] + "…"
    return (f"STATUS={line}",)
