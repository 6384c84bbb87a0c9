"""Building the configured channels."""

from __future__ import annotations

import aiohttp

from dqwatch.config import Config, ConsoleChannel, EmailChannel, SlackChannel
from dqwatch.notify.console import ConsoleNotifier
from dqwatch.notify.email import EmailNotifier
from dqwatch.notify.model import Channel
from dqwatch.notify.slack import SlackNotifier
from dqwatch.notify.templates import Templates


def build_channels(
    config: Config, session: aiohttp.ClientSession, templates: Templates
) -> dict[str, Channel]:
    """One notifier per ``[channel.NAME]``, sharing the HTTP session."""
    built: dict[str, Channel] = {}
    for name, channel in config.channels.items():
        if isinstance(channel, SlackChannel):
            built[name] = SlackNotifier(name, channel, session, templates)
        elif isinstance(channel, EmailChannel):
            built[name] = EmailNotifier(name, channel, templates)
        elif isinstance(channel, ConsoleChannel):
            built[name] = ConsoleNotifier(name, templates)
    return built
