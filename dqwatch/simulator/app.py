"""The simulator's HTTP face: aiohttp routes over the engine.

Every path is a Graph path except ``/_simulator/...``, the control
endpoints a separate process (a benchmark) drives the simulator with:

- ``POST /_simulator/epoch?fraction=F``: change the values of that fraction
  of the generated datasets; answers ``{"epoch": n, "changed": k}``.
- ``GET /_simulator/stats``: the statistics as JSON.
- ``POST /_simulator/fault?code=C``, optionally with ``dataset_id``,
  ``times``, ``every``, ``subcode``, ``http_status`` and ``html=true``:
  inject a fault, as :meth:`Simulator.inject_fault` does.

Graph answers carry ``facebook-api-version``, ``x-fb-trace-id`` and
``x-fb-rev`` headers and, after the scenario's latency, the engine's answer.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from aiohttp import BodyPartReader, web
from multidict import MultiDict

from dqwatch.simulator.auth import Credentials
from dqwatch.simulator.batch import run_batch
from dqwatch.simulator.engine import Answer, Call, Engine
from dqwatch.simulator.errors import graph_error
from dqwatch.simulator.faults import Fault

__all__ = ["HttpFront", "RecordedRequest"]

_CONTROL = "/_simulator/"
_HTML_TYPE = "text/html; charset=utf-8"
_REVISION = "1017340000"


@dataclass(frozen=True)
class RecordedRequest:
    """What a request looked like from outside; bodies are never kept."""

    method: str
    path: str
    #: The raw query string, exactly as sent.
    query_string: str
    header_names: tuple[str, ...]
    has_authorization: bool


class HttpFront:
    """The aiohttp application serving one engine."""

    def __init__(
        self,
        engine: Engine,
        recorded: deque[RecordedRequest],
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self.engine = engine
        self._recorded = recorded
        self._sleep = sleep
        latency = engine.settings.latency
        self._latency = (latency.min, latency.max)

    def application(self) -> web.Application:
        app = web.Application()
        app.router.add_get(f"{_CONTROL}stats", self._stats)
        app.router.add_post(f"{_CONTROL}epoch", self._epoch)
        app.router.add_post(f"{_CONTROL}fault", self._fault)
        app.router.add_route("*", "/{path:.*}", self._graph)
        return app

    async def _graph(self, request: web.Request) -> web.Response:
        engine = self.engine
        engine.stats.requests += 1
        self._record(request)
        low, high = self._latency
        if high > 0:
            await self._sleep(low if low == high else engine.rng.uniform(low, high))

        params = dict(request.query.items())
        params.update(await _form(request))
        credentials = Credentials.read(request.headers, params)
        base_url = f"{request.scheme}://{request.host}"
        version, rest, fault = engine.split_version(request.path)
        if request.method == "POST" and not rest:
            answer = (
                engine.error_answer(fault, version)
                if fault is not None
                else run_batch(engine, params, credentials, version, base_url)
            )
        else:
            call = Call(request.method, request.path, params, credentials, base_url)
            answer = engine.answer(call)
        return self._response(answer)

    def _record(self, request: web.Request) -> None:
        if self._recorded.maxlen == 0:
            return
        self._recorded.append(
            RecordedRequest(
                request.method,
                request.path,
                request.query_string,
                tuple(request.headers.keys()),
                "Authorization" in request.headers,
            )
        )

    def _response(self, answer: Answer) -> web.Response:
        headers = MultiDict(
            {
                "Content-Type": _HTML_TYPE
                if answer.html
                else self.engine.settings.content_type,
                "facebook-api-version": answer.version,
                "x-fb-trace-id": answer.trace_id,
                "x-fb-rev": _REVISION,
                "Cache-Control": "private, no-cache, no-store, must-revalidate",
            }
        )
        headers.extend(answer.headers)
        return web.Response(status=answer.status, body=answer.body, headers=headers)

    # -- control ------------------------------------------------------------

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.engine.stats.as_dict())

    async def _epoch(self, request: web.Request) -> web.Response:
        generated = self.engine.datasets.generated
        text = request.query.get("fraction", "")
        try:
            fraction = float(text)
        except ValueError:
            fraction = -1.0
        if generated is None or not 0 <= fraction <= 1:
            reason = (
                "the scenario has no [generate] section"
                if generated is None
                else f"fraction must be a number from 0 to 1, got {text!r}"
            )
            return web.json_response({"error": reason}, status=400)
        changed = generated.advance(fraction)
        return web.json_response({"epoch": generated.epoch, "changed": changed})

    async def _fault(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            code = int(query["code"])
            numbers = {
                k: int(query[k])
                for k in ("times", "every", "subcode", "http_status")
                if k in query
            }
        except (KeyError, ValueError):
            return web.json_response(
                {
                    "error": "give code=N and optional whole numbers times, every, "
                    "subcode, http_status"
                },
                status=400,
            )
        answer = graph_error(
            code,
            numbers.get("subcode"),
            http_status=numbers.get("http_status"),
            html=query.get("html") == "true",
        )
        times = numbers.get("times", 1)
        self.engine.faults.add(
            Fault(
                answer, query.get("dataset_id"), times or None, numbers.get("every", 1)
            )
        )
        return web.json_response({"ok": True})


async def _form(request: web.Request) -> dict[str, str]:
    """Form fields of the body, for POST and for GET as ``curl -X GET -F`` sends."""
    if not request.body_exists:
        return {}
    if request.content_type == "application/x-www-form-urlencoded":
        return dict(parse_qsl(await request.text(), keep_blank_values=True))
    if request.content_type.startswith("multipart/"):
        fields: dict[str, str] = {}
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if isinstance(part, BodyPartReader) and part.name and not part.filename:
                fields[part.name] = await part.text()
        return fields
    return {}
