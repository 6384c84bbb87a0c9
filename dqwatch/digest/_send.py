"""Sending digests: every email channel with a schedule, one mail per owner.

Both ``dqwatch digest --now`` and the daemon's cron jobs come through
:func:`send_digests`. A digest is mailed directly rather than through the
outbox: it is a report of the moment, so after a few quick attempts a
digest that cannot be sent is reported and counted, and the next scheduled
one carries the news instead of a late copy of this one.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from dqwatch.config import Config, EmailChannel
from dqwatch.digest._build import build_digest, digests_for_channel
from dqwatch.digest._model import Digest
from dqwatch.digest._render import render_digest
from dqwatch.errors import DeliveryError
from dqwatch.notify.email import EmailNotifier
from dqwatch.notify.templates import Templates
from dqwatch.store import Store

__all__ = ["DigestsSent", "send_digests"]

log = logging.getLogger(__name__)

#: Seconds to wait before the second and third attempt at a mail that failed
#: for a reason that may pass (a refused connection, a 4xx answer).
RETRY_DELAYS = (2.0, 10.0)

Sleep = Callable[[float], Awaitable[None]]


@dataclass
class DigestsSent:
    """What :func:`send_digests` did: one line per digest or channel, for people."""

    lines: list[str] = field(default_factory=list)
    sent: int = 0
    failures: int = 0


async def send_digests(
    store: Store,
    config: Config,
    templates: Templates,
    now: float,
    period: float,
    owner: str | None = None,
    *,
    channel: str | None = None,
    retry_delays: Sequence[float] = RETRY_DELAYS,
    sleep: Sleep = asyncio.sleep,
) -> DigestsSent:
    """Build and mail the digests covering the ``period`` before ``now``.

    ``channel`` names one email channel (the daemon's job for its schedule);
    without it, every email channel that has a ``digest`` schedule sends.
    ``owner`` limits the digests to that owner, on channels that admit it.
    A mail that fails for a passing reason is tried again after each of
    ``retry_delays``; one that cannot be sent is counted in ``failures`` and
    the others still go. ``StoreError`` is raised when the database cannot
    be read.
    """
    result = DigestsSent()
    channels = _channels(config, channel, result)
    built: dict[str | None, Digest] = {}
    for name, settings in channels.items():
        if owner is not None and not settings.admits(owner):
            result.lines.append(f"{name}: does not take owner {owner!r}")
            continue
        digests = await _digests(store, settings, now, period, owner, built)
        if not digests:
            result.lines.append(f"{name}: no datasets to report on")
        mailer = _Mailer(EmailNotifier(name, settings, templates), retry_delays, sleep)
        for digest in digests:
            await mailer.send(digest, templates, result)
    return result


def _channels(
    config: Config, wanted: str | None, result: DigestsSent
) -> dict[str, EmailChannel]:
    """The email channels to send from, noting in ``result`` when there are none."""
    if wanted is not None:
        settings = config.channels.get(wanted)
        if isinstance(settings, EmailChannel):
            return {wanted: settings}
        result.lines.append(f"{wanted}: no email channel has this name")
        result.failures += 1
        return {}
    found = {
        name: settings
        for name, settings in config.channels.items()
        if isinstance(settings, EmailChannel) and settings.digest
    }
    if not found:
        result.lines.append(
            "no email channel has a digest schedule; add "
            'digest = "0 8 * * MON" to an email channel to send digests'
        )
    return found


async def _digests(
    store: Store,
    settings: EmailChannel,
    now: float,
    period: float,
    owner: str | None,
    built: dict[str | None, Digest],
) -> list[Digest]:
    """The channel's digests; one owner's is built once for every channel."""
    if owner is None:
        return await digests_for_channel(store, settings, now, period)
    if owner not in built:
        built[owner] = await build_digest(store, owner, now - period, now)
    return [] if built[owner].empty else [built[owner]]


class _Mailer:
    """Mails digests through one channel, retrying failures that may pass."""

    def __init__(
        self, notifier: EmailNotifier, delays: Sequence[float], sleep: Sleep
    ) -> None:
        self.notifier = notifier
        self.delays = tuple(delays)
        self.sleep = sleep

    async def send(
        self, digest: Digest, templates: Templates, result: DigestsSent
    ) -> None:
        subject, text, html = render_digest(digest, templates)
        label = f"{self.notifier.name}: digest for {digest.owner or '(no owner)'}"
        error = await self._attempts(subject, text, html)
        if error is not None:
            reason = _RETRY_PROMISE.sub("", str(error))
            log.error("%s not sent: %s", label, reason)
            result.lines.append(f"{label} not sent: {reason}")
            result.failures += 1
            return
        result.sent += 1
        result.lines.append(
            f"{label} sent: {len(digest.datasets)} datasets, "
            f"{len(digest.firing)} alerts firing"
        )

    async def _attempts(
        self, subject: str, text: str, html: str
    ) -> DeliveryError | None:
        """Send, retrying a passing failure; the last error, or None once sent."""
        delays = iter(self.delays)
        attempt = 1
        while True:
            try:
                await self.notifier.send_mail(subject, text, html)
            except DeliveryError as error:
                delay = next(delays, None)
                if error.permanent or delay is None:
                    return error
                wait = max(delay, error.retry_after or 0.0)
                log.warning(
                    "%s: attempt %d failed, trying again in %.0fs: %s",
                    self.notifier.name,
                    attempt,
                    wait,
                    error,
                )
                await self.sleep(wait)
                attempt += 1
            else:
                return None


#: The email channel's failures promise an outbox retry; digests do their
#: own retrying above, so that promise is left out of what is reported.
_RETRY_PROMISE = re.compile(r"; (the outbox )?will retry$")
