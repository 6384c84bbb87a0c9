"""The Slack channel against the Slack stand-in over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from dqwatch.alerts import Alert
from dqwatch.config import SlackChannel
from dqwatch.errors import DeliveryError
from dqwatch.notify.model import Message, MessageRef, Notice
from dqwatch.notify.render import block_id
from dqwatch.notify.slack import SlackNotifier
from dqwatch.notify.templates import Templates
from tests.slack_standin import TOKEN, SlackStandIn

HOSTILE = "<!channel> & <@U123>"
ESCAPED = "&lt;!channel&gt; &amp; &lt;@U123&gt;"


@pytest.fixture
async def standin() -> AsyncIterator[SlackStandIn]:
    server = SlackStandIn()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


def by_webhook(
    standin: SlackStandIn, session: aiohttp.ClientSession, timeout: float = 2.0
) -> SlackNotifier:
    config = SlackChannel.model_validate(
        {"type": "slack", "webhook_url": standin.webhook_url}
    )
    return SlackNotifier("oncall", config, session, Templates(), timeout=timeout)


def as_bot(
    standin: SlackStandIn,
    session: aiohttp.ClientSession,
    timeout: float = 2.0,
    **keys: Any,
) -> SlackNotifier:
    config = SlackChannel.model_validate(
        {"type": "slack", "token": TOKEN, "channel": "#dq", "api_url": standin.api_url}
        | keys
    )
    return SlackNotifier("oncall", config, session, Templates(), timeout=timeout)


def notice(
    number: int, kind: str = "firing", dataset: str = "1001", **changes: Any
) -> Notice:
    """A notice of alert ``number`` (its event is Event<number>) on ``dataset``."""
    alert = Alert(
        rule="emq-drop",
        dataset_id=dataset,
        source="web",
        event=f"Event{number}",
        key="",
        metric="emq",
        severity="warning",
        state="resolved" if kind == "resolved" else "firing",
        count=1,
        active_since=1764770400.0,
        firing_since=1764770400.0,
        value=5.9,
        before=7.8,
        summary=f"EMQ for Event{number} fell from 7.8 to 5.9",
        dataset_name=f"Shop {dataset}",
        owner="acme",
    ).evolve(**changes)
    return Notice(number, "oncall", kind, alert, 1764770400.0, "cycle-1")  # type: ignore[arg-type]


def texts(body: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in body["blocks"] if b["type"] == "section"]


async def test_webhook_posts_one_message_per_dataset(
    standin: SlackStandIn, session: aiohttp.ClientSession
) -> None:
    """Notices of two datasets become two webhook posts, each naming its dataset."""
    message = Message("oncall", (notice(1), notice(2, dataset="2002"), notice(3)))
    sent = await by_webhook(standin, session).send(message)
    first, second = standin.calls(standin.webhook_path)
    assert sent.refs == {}
    assert "*Shop 1001* (1001)" in texts(first.body)[0]
    assert len(texts(first.body)) == 3
    assert "*Shop 2002* (2002)" in texts(second.body)[0]
    assert first.body["text"].startswith("dqwatch: Shop 1001 (1001): 2 firing")


async def test_webhook_announces_resolution_as_a_new_message(
    standin: SlackStandIn, session: aiohttp.ClientSession
) -> None:
    """With a webhook a resolved alert is a new message saying it is resolved."""
    await by_webhook(standin, session).send(
        Message("oncall", (notice(1, "resolved", value=7.7),))
    )
    [post] = standin.calls(standin.webhook_path)
    assert "thread_ts" not in post.body
    assert "This alert is resolved: the value is now *7.7*" in texts(post.body)[1]


async def test_outside_text_arrives_escaped(
    standin: SlackStandIn, session: aiohttp.ClientSession
) -> None:
    """<!channel>, <@U123> and & in event names and API texts reach Slack escaped."""
    hostile = notice(
        1,
        event=HOSTILE,
        summary=f"EMQ for {HOSTILE} fell",
        details={"solution": f"Fix {HOSTILE}"},
    )
    await by_webhook(standin, session).send(Message("oncall", (hostile,)))
    [post] = standin.calls(standin.webhook_path)
    section = texts(post.body)[1]
    assert f"Event *{ESCAPED}*" in section
    assert f"_Solution:_ Fix {ESCAPED}" in section
    assert "<!channel>" not in post.raw
    assert "<@U123>" not in post.raw
    assert json.loads(post.raw)["text"].endswith(f"EMQ for {ESCAPED} fell")


@pytest.mark.parametrize("how", ["webhook", "bot"])
async def test_rate_limit_reports_retry_after(
    standin: SlackStandIn, session: aiohttp.ClientSession, how: str
) -> None:
    """A 429 becomes a transient DeliveryError carrying Slack's Retry-After."""
    notifier = (
        by_webhook(standin, session) if how == "webhook" else as_bot(standin, session)
    )
    standin.fail(status=429, retry_after=7)
    with pytest.raises(DeliveryError) as caught:
        await notifier.send(Message("oncall", (notice(1),)))
    assert caught.value.retry_after == 7
    assert not caught.value.permanent
    assert len(standin.requests) == 1


@pytest.mark.parametrize("how", ["webhook", "bot"])
async def test_server_error_is_transient_and_not_retried_inside(
    standin: SlackStandIn, session: aiohttp.ClientSession, how: str
) -> None:
    """A 500 HTML page is a transient failure; the outbox, not the SDK, retries."""
    notifier = (
        by_webhook(standin, session) if how == "webhook" else as_bot(standin, session)
    )
    standin.fail(status=500, html=True)
    with pytest.raises(DeliveryError) as caught:
        await notifier.send(Message("oncall", (notice(1),)))
    assert not caught.value.permanent
    assert caught.value.retry_after is None
    assert "HTTP 500" in str(caught.value)
    assert len(standin.requests) == 1


@pytest.mark.parametrize("how", ["webhook", "bot"])
async def test_dropped_connection_is_not_retried_by_the_sdk(
    standin: SlackStandIn, session: aiohttp.ClientSession, how: str
) -> None:
    """The SDK's own connection retry is off: one request, one transient error."""
    notifier = (
        by_webhook(standin, session) if how == "webhook" else as_bot(standin, session)
    )
    standin.fail(drop=True)
    with pytest.raises(DeliveryError) as caught:
        await notifier.send(Message("oncall", (notice(1),)))
    assert not caught.value.permanent
    assert len(standin.requests) == 1


@pytest.mark.parametrize("how", ["webhook", "bot"])
async def test_slack_down_is_transient_and_delivery_resumes(
    standin: SlackStandIn, session: aiohttp.ClientSession, how: str
) -> None:
    """Connection refused is transient; the same message goes out once Slack is back."""
    notifier = (
        by_webhook(standin, session) if how == "webhook" else as_bot(standin, session)
    )
    message = Message("oncall", (notice(1),))
    await standin.go_down()
    with pytest.raises(DeliveryError) as caught:
        await notifier.send(message)
    assert not caught.value.permanent
    assert "could not be reached" in str(caught.value)
    await standin.come_back()
    await notifier.send(message)
    assert len(standin.messages) == 1


async def test_slow_slack_times_out_as_transient(
    standin: SlackStandIn, session: aiohttp.ClientSession
) -> None:
    """A call that outlasts the timeout fails transiently instead of hanging."""
    notifier = by_webhook(standin, session, timeout=0.1)
    standin.fail(delay=0.5)
    with pytest.raises(DeliveryError) as caught:
        await notifier.send(Message("oncall", (notice(1),)))
    assert not caught.value.permanent
    assert "TimeoutError" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "code", "hint"),
    [
        (404, "no_service", "create an incoming webhook"),
        (403, "invalid_token", "create an incoming webhook"),
        (400, "invalid_payload", "retrying will not help"),
    ],
)
async def test_webhook_refusals_are_permanent(
    standin: SlackStandIn,
    session: aiohttp.ClientSession,
    status: int,
    code: str,
    hint: str,
) -> None:
    """4xx answers other than 429 stop the outbox retrying, with the fix named."""
    standin.fail(status=status, error=code)
    with pytest.raises(DeliveryError) as caught:
        await by_webhook(standin, session).send(Message("oncall", (notice(1),)))
    assert caught.value.permanent
    assert f"HTTP {status} {code}" in str(caught.value)
    assert hint in str(caught.value)


@pytest.mark.parametrize(
    ("code", "hint"),
    [
        ("invalid_auth", "set a working bot token in [channel.oncall] token"),
        ("channel_not_found", "no channel #dq the bot can see"),
        ("not_in_channel", "invite it there"),
    ],
)
async def test_bot_refusals_are_permanent(
    standin: SlackStandIn, session: aiohttp.ClientSession, code: str, hint: str
) -> None:
    """Bad token, unknown channel and a bot outside the channel are permanent."""
    standin.fail(error=code)
    with pytest.raises(DeliveryError) as caught:
        await as_bot(standin, session).send(Message("oncall", (notice(1),)))
    assert caught.value.permanent
    assert code in str(caught.value)
    assert hint in str(caught.value)


async def test_bot_with_a_wrong_token_is_refused_permanently(
    standin: SlackStandIn, session: aiohttp.ClientSession
) -> None:
    """The stand-in checks the bearer token, as Slack does."""
    notifier = as_bot(standin, session, token="xoxb-wrong-token-0000")
    with pytest.raises(DeliveryError) as caught:
        await notifier.send(Message("oncall", (notice(1),)))
    assert caught.value.permanent
    assert "xoxb-wrong-token-0000" not in str(caught.value)


async def test_bot_posts_and_reports_where_firing_alerts_live(
    standin: SlackStandIn, session: aiohttp.ClientSession
) -> None:
    """chat.postMessage to the channel; refs for firing notices, not repeats."""
    firing, repeat = notice(1), notice(2, "repeat")
    sent = await as_bot(standin, session).send(Message("oncall", (firing, repeat)))
    [post] = standin.calls("chat.postMessage")
    assert post.headers["Authorization"] == f"Bearer {TOKEN}"
    assert post.body["channel"] == "#dq"
    assert sent.refs == {
        firing.alert.fingerprint: MessageRef("C0DQ", standin.messages[0].ts)
    }


async def test_bot_resolves_in_the_thread_and_marks_the_original(
    standin: SlackStandIn, session: aiohttp.ClientSession
) -> None:
    """A resolved alert is a thread reply; its section in the original is redrawn."""
    notifier = as_bot(standin, session)
    first, second = notice(1), notice(2)
    sent = await notifier.send(Message("oncall", (first, second)))
    original = standin.messages[0]
    before = [dict(b) for b in original.blocks]

    resolved = notice(11, "resolved", event="Event2", value=7.7)
    threads = {resolved.alert.fingerprint: sent.refs[second.alert.fingerprint]}
    again = await notifier.send(Message("oncall", (resolved,), threads))

    assert again.refs == {}
    reply = standin.messages[1]
    assert reply.thread_ts == original.ts
    assert reply.channel == "C0DQ"
    assert "This alert is resolved" in reply.blocks[2]["text"]["text"]
    [update] = standin.calls("chat.update")
    assert update.body["ts"] == original.ts
    assert original.blocks[:3] == before[:3]
    assert original.blocks[3]["block_id"] == block_id(second.alert.fingerprint)
    assert original.blocks[3]["text"]["text"].startswith(
        ":white_check_mark: *Resolved:*"
    )


async def test_failed_edit_still_delivers_the_thread_reply(
    standin: SlackStandIn,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Without channels:history the edit is skipped with a warning; the reply stands."""
    notifier = as_bot(standin, session)
    firing = notice(1)
    sent = await notifier.send(Message("oncall", (firing,)))
    resolved = notice(2, "resolved", event="Event1")
    threads = {resolved.alert.fingerprint: sent.refs[firing.alert.fingerprint]}
    standin.fail(error="missing_scope", path="conversations.history")
    await notifier.send(Message("oncall", (resolved,), threads))
    assert standin.messages[1].thread_ts == standin.messages[0].ts
    assert standin.calls("chat.update") == []
    assert "channels:history" in caplog.text


async def test_retry_after_partial_failure_posts_nothing_twice(
    standin: SlackStandIn, session: aiohttp.ClientSession
) -> None:
    """When the thread reply is rate limited, the retry does not repeat the new post."""
    notifier = as_bot(standin, session)
    old = notice(1)
    sent = await notifier.send(Message("oncall", (old,)))
    resolved = notice(2, "resolved", event="Event1")
    threads = {resolved.alert.fingerprint: sent.refs[old.alert.fingerprint]}
    message = Message("oncall", (notice(3), resolved), threads)

    standin.fail(status=429, retry_after=1, path="chat.postMessage", after=1)
    with pytest.raises(DeliveryError) as caught:
        await notifier.send(message)
    assert caught.value.retry_after == 1
    retried = await notifier.send(message)

    top_level = [m for m in standin.messages if m.thread_ts is None]
    replies = [m for m in standin.messages if m.thread_ts is not None]
    assert len(top_level) == 2
    assert len(replies) == 1
    assert retried.refs == {
        notice(3).alert.fingerprint: MessageRef("C0DQ", top_level[1].ts)
    }


@pytest.mark.parametrize("how", ["webhook", "bot"])
async def test_secrets_never_reach_errors_or_logs(
    standin: SlackStandIn,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    how: str,
) -> None:
    """Neither the token nor the webhook URL appears in any error or log line."""
    caplog.set_level(logging.DEBUG)
    notifier = (
        by_webhook(standin, session, timeout=0.1)
        if how == "webhook"
        else as_bot(standin, session, timeout=0.1)
    )
    errors: list[str] = []
    refusal = {"status": 403, "error": "invalid_token"}
    faults: list[dict[str, Any]] = [
        {"status": 429, "retry_after": 3},
        {"status": 500, "html": True},
        refusal if how == "webhook" else {"error": "invalid_auth"},
        {"drop": True},
        {"delay": 0.5},
    ]
    for fault in faults:
        standin.fail(**fault)
        with pytest.raises(DeliveryError) as caught:
            await notifier.send(Message("oncall", (notice(len(errors)),)))
        errors.append(str(caught.value))
    await notifier.send(Message("oncall", (notice(99),)))
    await standin.go_down()
    with pytest.raises(DeliveryError) as down:
        await notifier.send(Message("oncall", (notice(100),)))
    errors.append(str(down.value))

    # aiohttp.access is the stand-in's own server log: Slack's side, not ours.
    logged = [r.getMessage() for r in caplog.records if r.name != "aiohttp.access"]
    seen = "\n".join([*errors, *logged, repr(notifier)])
    for secret in (TOKEN, standin.webhook_path, "webhooksecret0123"):
        assert secret not in seen
    assert len(errors) == len(faults) + 1
