"""The ``[channel.NAME]`` tables: where notifications go.

A channel is one of three types, chosen by its ``type`` key. Every type
shares when to repeat, whether to announce resolution and whose alerts it
takes; the rest is the address of the destination.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from dqwatch.config._cron import check_cron
from dqwatch.config._fields import (
    Address,
    HttpUrl,
    Int,
    NonBlank,
    OptionalSecret,
    OptionalText,
    duration,
    int_between,
    invalid,
    secret_http_url,
    unique,
)

__all__ = ["Channel", "ConsoleChannel", "EmailChannel", "SlackChannel"]


class _ChannelBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    repeat_interval: Annotated[float, duration(positive=True)] = 4 * 3600.0
    """Seconds between reminders while an alert keeps firing."""
    send_resolved: bool = True
    """Whether a resolved alert is announced."""
    owners: tuple[str, ...] = ()
    """Owners whose alerts this channel takes; empty takes every owner's."""

    def admits(self, owner: str) -> bool:
        """Whether an alert of ``owner`` may be sent here."""
        return not self.owners or owner in self.owners


class SlackChannel(_ChannelBase):
    """A Slack incoming webhook, or a bot token posting to one channel."""

    type: Literal["slack"]
    webhook_url: Annotated[OptionalSecret, AfterValidator(secret_http_url)] = None
    token: OptionalSecret = None
    channel: OptionalText = None
    #: The Slack Web API root; only a proxy or a test stand-in changes it.
    api_url: HttpUrl = "https://slack.com/api/"

    @model_validator(mode="after")
    def _one_way_to_post(self) -> SlackChannel:
        if self.webhook_url is not None and self.token is not None:
            raise invalid(
                "has both webhook_url and token",
                "keep one: webhook_url, or token with channel",
                at="token",
            )
        if self.webhook_url is None and self.token is None:
            raise invalid(
                "needs a way to post",
                'add webhook_url = "${SLACK_WEBHOOK_URL}", '
                'or token = "${SLACK_BOT_TOKEN}" with channel = "#dq"',
            )
        if self.token is not None and self.channel is None:
            raise invalid(
                "a bot token needs a channel to post in",
                'add channel = "#your-channel"',
                at="channel",
            )
        if self.webhook_url is not None and self.channel is not None:
            raise invalid(
                "only applies with token: a webhook posts where it was created",
                "remove channel, or use token instead of webhook_url",
                at="channel",
            )
        return self


class EmailChannel(_ChannelBase):
    """An SMTP server and the people who get mail from it."""

    type: Literal["email"]
    host: NonBlank
    port: Annotated[Int, int_between(1, 65535)]
    """Defaults to 465 with ``tls``, 587 with ``starttls``, else 25."""
    starttls: bool = False
    tls: bool = False
    username: OptionalText = None
    password: OptionalSecret = None
    from_: Address = Field(alias="from")
    to: Annotated[tuple[Address, ...], AfterValidator(unique("address"))]
    digest: Annotated[
        str | None,
        AfterValidator(lambda text: text if text is None else check_cron(text)),
    ] = None
    """A 5-field cron expression (weekdays as names); None: immediate mail only."""

    @model_validator(mode="before")
    @classmethod
    def _default_port(cls, data: object) -> object:
        if isinstance(data, dict) and "port" not in data:
            port = (
                465
                if data.get("tls") is True
                else 587
                if data.get("starttls") is True
                else 25
            )
            return {**data, "port": port}
        return data

    @model_validator(mode="after")
    def _consistent_login(self) -> EmailChannel:
        if self.tls and self.starttls:
            raise invalid(
                "tls and starttls are both on",
                "keep tls = true for implicit TLS (port 465) "
                "or starttls = true for STARTTLS (port 587)",
                at="tls",
            )
        if (self.username is None) != (self.password is None):
            missing = "password" if self.password is None else "username"
            raise invalid(
                f"{missing} is missing: a login needs both username and password",
                f"add {missing}, or remove the other to send without logging in",
                at=missing,
            )
        return self


class ConsoleChannel(_ChannelBase):
    """Notifications printed to standard output, for trials and the demo."""

    type: Literal["console"]


Channel = Annotated[
    SlackChannel | EmailChannel | ConsoleChannel, Field(discriminator="type")
]
