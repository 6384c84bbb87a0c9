"""Which channels hear about an alert: routes in order, first match wins.

A route without ``match`` takes everything. ``continue = true`` lets later
routes match too. A channel receives an alert only if its ``owners`` admits
the alert's owner; a channel no route names receives nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dqwatch.alerts import Alert
from dqwatch.config import Channel as ChannelConfig
from dqwatch.config import Route
from dqwatch.rules import matches_any


def channels_for(
    alert: Alert, routes: Sequence[Route], channels: Mapping[str, ChannelConfig]
) -> list[str]:
    """Names of the channels an alert goes to, in route order, without repeats."""
    chosen: list[str] = []
    for route in routes:
        if not _matches(route, alert):
            continue
        for name in route.to:
            channel = channels.get(name)
            if (
                channel is not None
                and channel.admits(alert.owner)
                and name not in chosen
            ):
                chosen.append(name)
        if not route.continue_:
            break
    return chosen


def _matches(route: Route, alert: Alert) -> bool:
    match = route.match
    checks: tuple[tuple[tuple[str, ...], str], ...] = (
        (match.rule, alert.rule),
        (match.severity, alert.severity),
        (match.dataset, alert.dataset_id),
        (match.owner, alert.owner),
        (match.source, alert.source),
    )
    if any(wanted and value not in wanted for wanted, value in checks):
        return False
    return not match.event or matches_any(match.event, alert.event)
