"""Slack: one message per dataset and cycle, by incoming webhook or bot token.

With a webhook every notice, resolved ones included, goes out as a new
message. With a bot token (``chat.postMessage``) the channel reports where
each firing alert was announced; when the alert resolves, the resolution is
a reply in that thread and the original message is edited so the alert's
section reads resolved (that edit reads the message back with
``conversations.history``, so the bot needs ``channels:history``, or
``groups:history`` in a private channel; without it the edit is skipped and
a warning logged, the thread reply still goes out).

The slack-sdk retry handlers stay off: the outbox owns retries and backoff,
and a retry inside the SDK would hide the ``Retry-After`` Slack asked for.
Nothing here ever writes the token or the webhook URL: errors are described
from the HTTP status and Slack's error code only, and the SDK is given a
logger that never emits its debug lines (they quote the webhook URL).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from dqwatch.config import SlackChannel
from dqwatch.errors import DeliveryError
from dqwatch.notify.model import Message, MessageRef, Notice, Sent
from dqwatch.notify.render import SlackPost, resolved_blocks, slack_posts
from dqwatch.notify.templates import Templates

__all__ = ["SlackNotifier"]

logger = logging.getLogger(__name__)

# The SDK logs each request, URL included, at DEBUG whenever its logger's
# own level is unset; a webhook URL is a credential, so its logger is pinned.
_SDK_LOGGER = logging.getLogger("dqwatch.notify.slack.sdk")
_SDK_LOGGER.setLevel(logging.WARNING)

#: Seconds one Slack call may take before it counts as failed (and retried).
TIMEOUT = 30.0

# Slack's own codes for trouble on its side; every other code describes the
# request or the credentials, which a retry cannot change.
_TRANSIENT_CODES = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
_CODE = re.compile(r"[a-z_]{1,64}")
_TOKEN_HINT = "set a working bot token in [channel.{name}] token"
_HINTS = {
    "invalid_auth": "the bot token is not valid; " + _TOKEN_HINT,
    "not_authed": "no bot token was sent; " + _TOKEN_HINT,
    "token_revoked": "the bot token was revoked; " + _TOKEN_HINT,
    "token_expired": "the bot token expired; " + _TOKEN_HINT,
    "account_inactive": "the bot's account is deactivated; " + _TOKEN_HINT,
    "channel_not_found": "no channel {channel} the bot can see; "
    "check [channel.{name}] channel",
    "not_in_channel": "the bot is not a member of {channel}; "
    "invite it there with /invite",
    "is_archived": "{channel} is archived; unarchive it or pick another channel",
    "missing_scope": "the bot lacks a permission this call needs: chat:write to "
    "post, channels:history (groups:history in a private channel) to mark "
    "resolved alerts in the original message",
    "no_service": "the webhook was removed or its URL is wrong; "
    "create an incoming webhook and set [channel.{name}] webhook_url",
    "invalid_token": "the webhook's token is no longer valid; "
    "create an incoming webhook and set [channel.{name}] webhook_url",
    "channel_is_archived": "the webhook's channel is archived; "
    "create a webhook for another channel",
    "action_prohibited": "a workspace admin restricted posting to the "
    "webhook's channel",
}

_T = TypeVar("_T")


class SlackNotifier:
    """Sends messages to one Slack channel (implements ``Channel``)."""

    def __init__(
        self,
        name: str,
        config: SlackChannel,
        session: aiohttp.ClientSession,
        templates: Templates,
        *,
        timeout: float = TIMEOUT,
    ) -> None:
        self.name = name
        self._channel = config.channel or ""
        self._templates = templates
        self._timeout = timeout
        self._done = _Done()
        self._webhook: AsyncWebhookClient | None = None
        self._web: AsyncWebClient | None = None
        if config.webhook_url is not None:
            self._webhook = AsyncWebhookClient(
                url=config.webhook_url.get_secret_value(),
                session=session,
                logger=_SDK_LOGGER,
                retry_handlers=[],
            )
        else:
            self._web = AsyncWebClient(
                token=config.token.get_secret_value() if config.token else None,
                base_url=config.api_url,
                session=session,
                logger=_SDK_LOGGER,
                retry_handlers=[],
            )

    def __repr__(self) -> str:
        via = "webhook" if self._webhook is not None else f"bot in {self._channel}"
        return f"SlackNotifier({self.name!r}, {via})"

    async def send(self, message: Message) -> Sent:
        """Post the message; raises ``DeliveryError`` when Slack did not take it.

        A message that takes several calls (more than one dataset, or thread
        replies) remembers which calls succeeded, so the outbox's retry after
        a partial failure repeats only the calls that failed.
        """
        if self._webhook is not None:
            for post in slack_posts(self._templates, message.notices):
                await self._post_by_webhook(self._webhook, post)
            return Sent()
        assert self._web is not None
        return await self._send_as_bot(self._web, message)

    async def _post_by_webhook(
        self, webhook: AsyncWebhookClient, post: SlackPost
    ) -> None:
        key = ("webhook", *(n.id for n in post.notices))
        if self._done.get(key) is not None:
            return
        send = webhook.send(
            text=post.text, blocks=post.blocks, unfurl_links=False, unfurl_media=False
        )
        response = await self._guarded("posting to the webhook", send)
        if response.status_code != 200:
            raise self._webhook_failure(
                response.status_code, response.body, response.headers
            )
        self._done.put(key, MessageRef("", ""))
        logger.debug(
            "Slack channel %s: posted %d notices", self.name, len(post.notices)
        )

    async def _send_as_bot(self, web: AsyncWebClient, message: Message) -> Sent:
        threads = message.threads
        fresh = [n for n in message.notices if not _threaded(n, threads)]
        refs: dict[str, MessageRef] = {}
        for post in slack_posts(self._templates, fresh):
            ref = await self._post(web, post, self._channel)
            refs.update(
                {n.alert.fingerprint: ref for n in post.notices if n.kind == "firing"}
            )

        replies: dict[MessageRef, list[Notice]] = {}
        for notice in message.notices:
            if _threaded(notice, threads):
                replies.setdefault(threads[notice.alert.fingerprint], []).append(notice)
        for ref, notices in replies.items():
            for post in slack_posts(self._templates, notices):
                await self._post(web, post, ref.channel_id, thread=ref.ts)
            await self._mark_resolved(web, ref, notices)
        return Sent(refs)

    async def _post(
        self,
        web: AsyncWebClient,
        post: SlackPost,
        channel: str,
        thread: str | None = None,
    ) -> MessageRef:
        key = ("post", channel, thread or "", *(n.id for n in post.notices))
        done = self._done.get(key)
        if done is not None:
            return done
        call = web.chat_postMessage(
            channel=channel,
            thread_ts=thread,
            text=post.text,
            blocks=post.blocks,
            unfurl_links=False,
            unfurl_media=False,
        )
        response = await self._guarded(f"posting to {channel}", call, channel)
        ref = MessageRef(str(response["channel"]), str(response["ts"]))
        self._done.put(key, ref)
        logger.debug(
            "Slack channel %s: posted %d notices as %s %s",
            self.name,
            len(post.notices),
            ref.channel_id,
            ref.ts,
        )
        return ref

    async def _mark_resolved(
        self, web: AsyncWebClient, ref: MessageRef, notices: Sequence[Notice]
    ) -> None:
        """Redraw the resolved alerts' sections in the original message.

        Best effort: the thread reply already told everyone, so a failure
        here is logged rather than retried (a retry would repeat the reply).
        """
        try:
            read = web.conversations_history(
                channel=ref.channel_id,
                oldest=ref.ts,
                latest=ref.ts,
                inclusive=True,
                limit=1,
            )
            history = await self._guarded("reading the original message", read)
            messages: list[dict[str, Any]] = history.get("messages", [])
            original = next((m for m in messages if m.get("ts") == ref.ts), {})
            blocks = resolved_blocks(
                self._templates, original.get("blocks", []), notices
            )
            if blocks is None:
                logger.debug(
                    "Slack channel %s: nothing to redraw in %s", self.name, ref.ts
                )
                return
            text = str(original.get("text", ""))
            edit = web.chat_update(
                channel=ref.channel_id, ts=ref.ts, blocks=blocks, text=text
            )
            await self._guarded("editing the original message", edit)
        except DeliveryError as error:
            logger.warning(
                "Slack channel %s: resolution posted in the thread, but the original "
                "message was not marked resolved: %s",
                self.name,
                error,
            )

    async def _guarded(self, action: str, call: Awaitable[_T], channel: str = "") -> _T:
        """Await one SDK call, turning every failure into a ``DeliveryError``."""
        try:
            async with asyncio.timeout(self._timeout):
                return await call
        except SlackApiError as error:
            response = error.response
            data = response.data if isinstance(response.data, dict) else {}
            raise self._failure(
                action,
                response.status_code,
                str(data.get("error", "")),
                response.headers,
                channel,
            ) from None
        except SlackClientError as error:
            # The SDK refused to build the request: retrying cannot help.
            raise DeliveryError(
                f"Slack channel {self.name}: {action} failed: the Slack client "
                f"refused the request ({type(error).__name__})",
                permanent=True,
            ) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            # The exception text can quote the URL; only its type is kept.
            raise DeliveryError(
                f"Slack channel {self.name}: {action} failed: Slack could not be "
                f"reached ({type(error).__name__}); the outbox will retry"
            ) from None

    def _webhook_failure(
        self, status: int, body: str, headers: Mapping[str, Any]
    ) -> DeliveryError:
        return self._failure(
            "posting to the webhook", status, body.strip(), headers, ""
        )

    def _failure(
        self,
        action: str,
        status: int,
        code: str,
        headers: Mapping[str, Any],
        channel: str,
    ) -> DeliveryError:
        code = code if _CODE.fullmatch(code) else ""
        what = f"Slack channel {self.name}: {action} failed: HTTP {status}"
        what += f" {code}" if code else ""
        if status == 429 or code in ("ratelimited", "rate_limited"):
            wait = _retry_after(headers)
            later = f"retry after {wait:g}s" if wait is not None else "retry later"
            return DeliveryError(f"{what}: rate limited; {later}", retry_after=wait)
        if status >= 500 or code in _TRANSIENT_CODES:
            return DeliveryError(
                f"{what}: trouble on Slack's side; the outbox will retry"
            )
        hint = _HINTS.get(code, "Slack refused the message; retrying will not help")
        hint = hint.format(name=self.name, channel=channel or "the channel")
        return DeliveryError(f"{what}: {hint}", permanent=True)


def _threaded(notice: Notice, threads: Mapping[str, MessageRef]) -> bool:
    return notice.kind == "resolved" and notice.alert.fingerprint in threads


def _retry_after(headers: Mapping[str, Any]) -> float | None:
    try:
        seconds = float(headers.get("Retry-After", ""))
    except (TypeError, ValueError):
        return None
    return seconds if seconds >= 0 else None


class _Done:
    """Calls that already succeeded for a message, for retries after a partial send.

    Keys name the call and the notice ids it carried; only recent calls are
    kept, which is all a retry needs.
    """

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._refs: OrderedDict[tuple[object, ...], MessageRef] = OrderedDict()

    def get(self, key: tuple[object, ...]) -> MessageRef | None:
        return self._refs.get(key)

    def put(self, key: tuple[object, ...], ref: MessageRef) -> None:
        self._refs[key] = ref
        while len(self._refs) > self._size:
            self._refs.popitem(last=False)
