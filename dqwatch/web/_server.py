"""The daemon's HTTP server: ``/`` (status page), ``/metrics`` and ``/healthz``.

It listens only where ``[web] listen`` says and reads the store through the
store's own writer thread, so a page view never races a poll's write. No
handler takes input beyond ``?page=N``, and nothing it shows comes from the
config's secrets.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from dqwatch.errors import DqwatchError, StoreError
from dqwatch.store import Store
from dqwatch.web._exposition import render_metrics
from dqwatch.web._health import DaemonState, check_health
from dqwatch.web._page import render_error, render_page

log = logging.getLogger(__name__)

#: Datasets per page of the status page.
PAGE_SIZE = 200
#: Seconds ``/healthz`` waits for its write probe before calling the store stuck.
PROBE_TIMEOUT = 5.0

_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # The page needs its inline style and nothing else: no script can run.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
}


def split_listen(listen: str) -> tuple[str, int]:
    """``"host:port"`` (IPv6 hosts bracketed) as (host, port)."""
    host, colon, port = listen.rpartition(":")
    bare = host.removeprefix("[").removesuffix("]")
    if not colon or not bare or not port.isdigit() or int(port) > 65535:
        raise DqwatchError(
            f'web.listen: "{listen}" is not host:port; write e.g. "127.0.0.1:8787",'
            ' or "[::1]:8787" for IPv6'
        )
    return bare, int(port)


class WebServer:
    """Serves the status page, ``/metrics`` and ``/healthz`` from one store.

    ``start`` binds and returns the base URL; ``stop`` closes the socket and
    waits for requests in flight.
    """

    def __init__(
        self,
        store: Store,
        state: DaemonState,
        listen: str,
        clock: Callable[[], float] = time.time,
        *,
        page_size: int = PAGE_SIZE,
        probe_timeout: float = PROBE_TIMEOUT,
    ) -> None:
        self._store = store
        self._state = state
        self._host, self._port = split_listen(listen)
        self._listen = listen
        self._clock = clock
        self._page_size = page_size
        self._probe_timeout = probe_timeout
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        """Listen on the configured address; return ``http://host:port``."""
        app = web.Application()
        app.router.add_get("/", self._status_page)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        app.on_response_prepare.append(_add_headers)
        # Access logs would log every scrape and health probe: not kept.
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._port).start()
        except OSError as exc:
            await runner.cleanup()
            raise DqwatchError(
                f'web.listen = "{self._listen}": cannot listen: {exc.strerror}; stop'
                " the program using that port, or choose another address"
            ) from exc
        self._runner = runner
        url = self._url(runner)
        log.info("web page, /metrics and /healthz at %s", url)
        return url

    async def stop(self) -> None:
        """Stop listening and finish the requests in flight."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    def _url(self, runner: web.AppRunner) -> str:
        port = runner.addresses[0][1] if runner.addresses else self._port
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{port}"

    async def _healthz(self, request: web.Request) -> web.Response:
        health = await check_health(
            self._store, self._state, self._clock(), self._probe_timeout
        )
        return web.json_response(health.document(), status=200 if health.ok else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        try:
            data = await self._store.metrics_data()
        except StoreError as exc:
            log.warning("/metrics without the store's gauges: %s", exc)
            data = None
        # Rendering 250,000 samples takes a fraction of a second: off the loop.
        body = await asyncio.to_thread(render_metrics, data)
        response = web.Response(
            body=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4}
        )
        response.enable_compression()
        return response

    async def _status_page(self, request: web.Request) -> web.Response:
        text = request.query.get("page", "1")
        if not (text.isascii() and text.isdigit()):
            raise web.HTTPBadRequest(text="page must be a whole number, e.g. ?page=2")
        try:
            data = await self._store.status_page(int(text), self._page_size)
        except StoreError as exc:
            html = render_error(str(exc))
            return web.Response(text=html, content_type="text/html", status=503)
        html = render_page(data, self._state, self._clock())
        return web.Response(text=html, content_type="text/html")


async def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(_HEADERS)
