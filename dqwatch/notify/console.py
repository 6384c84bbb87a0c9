"""The console channel: notifications printed as plain text, for trials and the demo.

It shows what Slack would show, without markup or escaping, one block per
message, so rules and routes can be tried without a Slack workspace.
"""

from __future__ import annotations

import sys
from typing import TextIO

from dqwatch.notify.model import Message, Sent
from dqwatch.notify.render import console_text
from dqwatch.notify.templates import Templates

__all__ = ["ConsoleNotifier"]


class ConsoleNotifier:
    """Writes each message to a stream, standard output unless told otherwise."""

    def __init__(
        self, name: str, templates: Templates, stream: TextIO | None = None
    ) -> None:
        self.name = name
        self._templates = templates
        self._stream = stream

    def __repr__(self) -> str:
        return f"ConsoleNotifier({self.name!r})"

    async def send(self, message: Message) -> Sent:
        """Print the message, followed by a blank line."""
        # Looked up on each send so a stream swapped in later (tests, the
        # demo's capture) is honoured.
        stream = self._stream or sys.stdout
        stream.write(console_text(self._templates, message) + "\n\n")
        stream.flush()
        return Sent()
