"""From alert changes to delivered notifications, through the outbox.

``intents_for`` decides which channels hear about each alert change (routes,
owners, silences, ``send_resolved``); the store writes those notices in the
same transaction as the change. ``Sender`` delivers what is pending:

- notices are grouped into messages: for Slack and the console, one message
  per channel, cycle and dataset; for email, one message per channel and
  cycle, grouped by dataset inside;
- a failed message is retried with exponential backoff (or after the
  ``Retry-After`` the receiver named), its attempts and last error recorded;
- a message older than ``outbox.max_age``, or one the receiver refused for
  good, is given up: logged at ERROR and counted in a metric.

Delivery is at least once: a notice is marked sent after the channel
accepted it, so a crash between the two could send it again; everything
written before a crash is delivered after the restart.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from dqwatch import telemetry
from dqwatch.alerts import Alert, Transition
from dqwatch.config import Config, EmailChannel
from dqwatch.errors import DeliveryError
from dqwatch.notify.model import Channel, Message, Notice, NoticeKind
from dqwatch.notify.routing import channels_for
from dqwatch.store import Intent, Store

log = logging.getLogger(__name__)

#: Backoff between attempts at one message: base * 2**attempt, capped, jittered.
BACKOFF_BASE = 30.0
BACKOFF_CAP = 3600.0


def intents_for(
    transitions: Sequence[Transition], config: Config, now: float, group: str
) -> list[Intent]:
    """The notices a batch of alert changes calls for, per routed channel."""
    intents: list[Intent] = []
    for transition in transitions:
        kind = _kind(transition)
        alert = transition.alert
        if kind is None or alert.silenced:
            continue  # silenced alerts are recorded, not sent
        for name in channels_for(alert, config.routes, config.channels):
            if kind == "resolved" and not config.channels[name].send_resolved:
                continue
            intents.append(Intent(name, kind, alert, now, group))
    return intents


def _kind(transition: Transition) -> NoticeKind | None:
    if transition.state == "firing" and transition.previous != "firing":
        return "firing"
    if transition.state == "resolved" and transition.previous == "firing":
        return "resolved"
    return None


def repeat_filter(
    config: Config, silenced: Callable[[Alert], bool]
) -> Callable[[str, Alert], bool]:
    """Whether a due repeat should go out: still routed there and not silenced."""

    def keep(channel: str, alert: Alert) -> bool:
        routed = channels_for(alert, config.routes, config.channels)
        return channel in routed and not silenced(alert)

    return keep


@dataclass
class DeliveryReport:
    """What one pass of the sender did."""

    sent: int = 0
    retrying: int = 0
    given_up: int = 0
    errors: list[str] = field(default_factory=list)


class Sender:
    """Delivers pending notices to their channels."""

    def __init__(
        self,
        store: Store,
        channels: Mapping[str, Channel],
        config: Config,
        *,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._store = store
        self._channels = channels
        self._config = config
        self._clock = clock
        self._rng = rng

    async def deliver(self) -> DeliveryReport:
        """One pass over every notice due now."""
        report = DeliveryReport()
        now = self._clock()
        notices = await self._store.ready_notices(now)
        for message in self._messages(notices):
            await self._deliver_one(message, report)
        return report

    def _messages(self, notices: Sequence[Notice]) -> list[Message]:
        groups: dict[tuple[str, str, str], list[Notice]] = {}
        for notice in notices:
            per_dataset = not isinstance(
                self._config.channels.get(notice.channel), EmailChannel
            )
            dataset = notice.alert.dataset_id if per_dataset else ""
            groups.setdefault((notice.channel, notice.group, dataset), []).append(
                notice
            )
        return [
            Message(channel, tuple(group)) for (channel, _, _), group in groups.items()
        ]

    async def _deliver_one(self, message: Message, report: DeliveryReport) -> None:
        channel = self._channels.get(message.channel)
        now = self._clock()
        if channel is None:
            # The channel left the config since these were written.
            await self._give_up(
                message, "the channel is no longer configured", now, report
            )
            return
        resolved = [
            n.alert.fingerprint for n in message.notices if n.kind == "resolved"
        ]
        threads = await self._store.thread_refs(message.channel, resolved)
        message = Message(message.channel, message.notices, threads)
        try:
            sent = await channel.send(message)
        except DeliveryError as exc:
            await self._failed(message, exc, now, report)
            return
        await self._store.mark_sent(message.notices, self._clock(), sent.refs)
        report.sent += len(message.notices)
        telemetry.NOTIFICATIONS_SENT.labels(message.channel).inc(len(message.notices))
        log.info(
            "sent %d notification%s to %s (%s)",
            len(message.notices),
            "" if len(message.notices) == 1 else "s",
            message.channel,
            ", ".join(
                sorted(
                    {
                        n.alert.dataset_name or n.alert.dataset_id
                        for n in message.notices
                    }
                )
            )
            or "token",
        )

    async def _failed(
        self, message: Message, exc: DeliveryError, now: float, report: DeliveryReport
    ) -> None:
        oldest = min(n.created for n in message.notices)
        if exc.permanent or now - oldest >= self._config.outbox.max_age:
            await self._give_up(message, str(exc), now, report)
            return
        attempts = await self._store.notice_attempts([n.id for n in message.notices])
        attempt = max(attempts.values(), default=0) + 1
        delay = (
            exc.retry_after if exc.retry_after is not None else self._backoff(attempt)
        )
        await self._store.mark_failed(message.notices, str(exc), now + delay, now)
        report.retrying += len(message.notices)
        report.errors.append(str(exc))
        telemetry.NOTIFICATIONS_FAILED.labels(message.channel).inc()
        log.warning(
            "delivery to %s failed (attempt %d): %s; retrying in %.0fs",
            message.channel,
            attempt,
            exc,
            delay,
        )

    async def _give_up(
        self, message: Message, error: str, now: float, report: DeliveryReport
    ) -> None:
        await self._store.mark_failed(message.notices, error, None, now)
        report.given_up += len(message.notices)
        report.errors.append(error)
        log.error(
            "giving up %d notification%s to %s: %s",
            len(message.notices),
            "" if len(message.notices) == 1 else "s",
            message.channel,
            error,
        )
        telemetry.NOTIFICATIONS_GIVEN_UP.labels(message.channel).inc(
            len(message.notices)
        )

    def _backoff(self, attempt: int) -> float:
        ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
        return float(ceiling / 2 + self._rng() * ceiling / 2)
