"""A stand-in for Slack on 127.0.0.1: enough of the Web API and incoming webhooks.

It records every request, answers the way Slack does (``ok`` and a ``ts``
for ``chat.postMessage``; ``ok`` as text from a webhook), keeps the messages
it was sent so ``chat.update`` and ``conversations.history`` work, and can be
told to misbehave: answer 429 with ``Retry-After``, a 5xx HTML page, a Slack
error code, drop the connection, answer late, or be down altogether.

    standin = SlackStandIn()
    await standin.start()
    standin.fail(status=429, retry_after=7)      # the next request only
    standin.fail(error="invalid_auth")           # ok=false, HTTP 200
    standin.fail(status=404, error="no_service", path=standin.webhook_path)
    standin.fail(drop=True, after=1)             # the second request
    await standin.go_down(); ...; await standin.come_back()
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "xoxb-standin-0123456789-secret"
WEBHOOK_PATH = "/services/T00STANDIN/B00STANDIN/webhooksecret0123"


@dataclass
class Recorded:
    """One request as the stand-in received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    raw: str

    @property
    def api_method(self) -> str:
        """``chat.postMessage`` for ``/api/chat.postMessage``; else the path."""
        return self.path.removeprefix("/api/")


@dataclass
class Fault:
    """How to answer the next ``times`` requests whose path ends with ``path``.

    ``after`` matching requests are answered normally first.
    """

    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    html: bool = False
    drop: bool = False
    delay: float = 0.0
    path: str | None = None
    times: int = 1
    after: int = 0


@dataclass
class _Posted:
    channel: str
    ts: str
    text: str
    blocks: list[Any]
    thread_ts: str | None = None


@dataclass
class SlackStandIn:
    """Slack's Web API under ``api_url`` and one incoming webhook at ``webhook_url``."""

    token: str = TOKEN
    webhook_path: str = WEBHOOK_PATH
    channels: dict[str, str] = field(default_factory=lambda: {"#dq": "C0DQ"})
    requests: list[Recorded] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    messages: list[_Posted] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None
    _clock: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    @property
    def webhook_url(self) -> str:
        return self.url + self.webhook_path

    def fail(self, **fault: Any) -> None:
        """Answer the next matching request(s) with this fault (see :class:`Fault`)."""
        self.faults.append(Fault(**fault))

    def calls(self, api_method: str) -> list[Recorded]:
        """Requests to one Web API method (or the webhook path)."""
        return [r for r in self.requests if r.api_method == api_method]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/services/{path:.*}", self._webhook)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def go_down(self) -> None:
        """Stop listening: connections are refused until :meth:`come_back`."""
        await self.stop()

    async def come_back(self) -> None:
        """Listen again on the same port, keeping what was recorded."""
        await self.start()

    async def _record(self, request: web.Request) -> Recorded:
        raw = await request.text()
        body: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json" and raw:
            body.update(json.loads(raw))
        elif raw:
            body.update((await request.post()).items())
        recorded = Recorded(
            request.method, request.path, dict(request.headers), body, raw
        )
        self.requests.append(recorded)
        return recorded

    async def _fault(
        self, request: web.Request, api: bool
    ) -> web.StreamResponse | None:
        fault = next(
            (f for f in self.faults if f.path is None or request.path.endswith(f.path)),
            None,
        )
        if fault is None:
            return None
        if fault.after > 0:
            fault.after -= 1
            return None
        fault.times -= 1
        if fault.times <= 0:
            self.faults.remove(fault)
        await asyncio.sleep(fault.delay)
        if fault.drop:
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
        if fault.html:
            page = "<html><body><h1>Internal Server Error</h1></body></html>"
            return web.Response(
                status=fault.status,
                text=page,
                content_type="text/html",
                headers=headers,
            )
        error = fault.error or ("ratelimited" if fault.status == 429 else "fatal_error")
        if api:
            return web.json_response(
                {"ok": False, "error": error}, status=fault.status, headers=headers
            )
        return web.Response(status=fault.status, text=error, headers=headers)

    async def _webhook(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record(request)
        faulty = await self._fault(request, api=False)
        if faulty is not None:
            return faulty
        if request.path != self.webhook_path:
            return web.Response(status=404, text="no_service")
        if not recorded.body.get("text") and not recorded.body.get("blocks"):
            return web.Response(status=400, text="no_text")
        self._store("C0WEBHOOK", recorded.body, None)
        return web.Response(text="ok")

    async def _api(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record(request)
        faulty = await self._fault(request, api=True)
        if faulty is not None:
            return faulty
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        handler = {
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "conversations.history": self._history,
        }.get(recorded.api_method)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        return web.json_response(handler(recorded.body))

    def _channel_id(self, name: str) -> str | None:
        if name in self.channels.values():
            return name
        return self.channels.get(name)

    def _store(self, channel: str, body: dict[str, Any], thread: str | None) -> str:
        self._clock += 1
        ts = f"1764770400.{self._clock:06d}"
        text, blocks = str(body.get("text", "")), list(body.get("blocks", []))
        self.messages.append(_Posted(channel, ts, text, blocks, thread))
        return ts

    def _find(self, channel: str, ts: str) -> _Posted | None:
        return next(
            (m for m in self.messages if m.channel == channel and m.ts == ts), None
        )

    def _post_message(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_id(str(body.get("channel", "")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if not body.get("text") and not body.get("blocks"):
            return {"ok": False, "error": "no_text"}
        ts = self._store(channel, body, body.get("thread_ts"))
        return {"ok": True, "channel": channel, "ts": ts, "message": {"ts": ts}}

    def _update(self, body: dict[str, Any]) -> dict[str, Any]:
        message = self._find(str(body.get("channel")), str(body.get("ts")))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        message.text = str(body.get("text", message.text))
        message.blocks = list(body.get("blocks", message.blocks))
        return {"ok": True, "channel": message.channel, "ts": message.ts}

    def _history(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_id(str(body.get("channel", "")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        oldest, latest = body.get("oldest", "0"), body.get("latest", "9999999999")
        inclusive = str(body.get("inclusive", "0")) in ("1", "true")
        found = [
            {"type": "message", "ts": m.ts, "text": m.text, "blocks": m.blocks}
            for m in reversed(self.messages)
            if m.channel == channel
            and m.thread_ts is None
            and (oldest <= m.ts <= latest if inclusive else oldest < m.ts < latest)
        ]
        return {"ok": True, "messages": found[: int(body.get("limit", 100))]}
