"""What notifications are made of: notices (one alert event for one channel)
grouped into messages, and the small interface every channel implements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from dqwatch.alerts import Alert

NoticeKind = Literal["firing", "resolved", "repeat"]


@dataclass(frozen=True, slots=True)
class Notice:
    """One alert event a channel must hear about: it fired, fired again, resolved.

    ``alert`` is the alert as it stood when the notice was written (its
    summary, values, API texts). ``group`` names the cycle that wrote it:
    notices of one group and dataset travel in one Slack message.
    """

    id: int
    channel: str
    kind: NoticeKind
    alert: Alert
    created: float
    group: str


@dataclass(frozen=True, slots=True)
class MessageRef:
    """Where a sent message lives, so a later notice can reply or edit it.

    For Slack with a bot token: the channel id and the message ``ts``.
    """

    channel_id: str
    ts: str


@dataclass(frozen=True, slots=True)
class Message:
    """Notices one channel sends together.

    Slack: the notices of one dataset from one cycle. Email: every notice of
    one cycle, grouped by dataset when rendered. ``threads`` gives, for
    resolved notices, the message their alert was first announced in.
    """

    channel: str
    notices: tuple[Notice, ...]
    threads: Mapping[str, MessageRef] = field(default_factory=dict)

    @property
    def datasets(self) -> list[str]:
        """Dataset ids in the order they first appear."""
        return list(dict.fromkeys(n.alert.dataset_id for n in self.notices))


@dataclass(frozen=True, slots=True)
class Sent:
    """What a channel reports after sending: refs per alert fingerprint."""

    refs: Mapping[str, MessageRef] = field(default_factory=dict)


class Channel(Protocol):
    """A place notifications go. ``send`` raises ``DeliveryError`` on failure."""

    name: str

    async def send(self, message: Message) -> Sent: ...


def by_dataset(notices: Sequence[Notice]) -> dict[str, list[Notice]]:
    """Notices grouped by dataset id, datasets in order of first appearance."""
    groups: dict[str, list[Notice]] = {}
    for notice in notices:
        groups.setdefault(notice.alert.dataset_id, []).append(notice)
    return groups
