"""The asynchronous Graph API client.

One shared ``aiohttp.ClientSession``; the access token travels in the
``Authorization`` header, never in a URL; the timed ``appsecret_proof`` is
added to every call when an app secret is configured. Calls go out through a
semaphore no wider than the session's connection limit, are paced by the
usage governor, and are retried with exponential backoff and full jitter
when the failure is transient.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from dqwatch.errors import (
    GraphError,
    MalformedResponseError,
    ThrottledError,
    TransientGraphError,
)
from dqwatch.graph._errors import THROTTLE_CODES, Scrubber, error_from_answer
from dqwatch.graph._usage import APP, UsageGovernor

log = logging.getLogger("dqwatch.graph")

#: The most requests the Graph API accepts in one batch.
BATCH_LIMIT = 50
_BUC_CODES = frozenset(range(80000, 80015))


@dataclass(frozen=True)
class ClientOptions:
    """How the client reaches the API and how patient it is."""

    base_url: str
    api_version: str
    access_token: str
    app_secret: str | None = None
    agent_name: str | None = None
    max_concurrency: int = 32
    timeout: float = 30.0
    max_retries: int = 4
    #: Length of the API's rolling usage window, in seconds.
    usage_window: float = 3600.0
    #: A throttled bucket paused for longer than this fails fast instead of waiting.
    max_throttle_wait: float = 60.0
    backoff_base: float = 0.5
    backoff_cap: float = 30.0


@dataclass(frozen=True)
class BatchItem:
    """One dataset_quality request inside a batch."""

    dataset_id: str
    source: str
    fields: str


class GraphClient:
    """Calls the Graph API on behalf of dqwatch. Create one per process."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        options: ClientOptions,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._session = session
        self.options = options
        self._root = f"{options.base_url.rstrip('/')}/{options.api_version}"
        self._gate = asyncio.Semaphore(options.max_concurrency)
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._rng = rng
        self._scrub = Scrubber(options.access_token, options.app_secret)
        self._timeout = aiohttp.ClientTimeout(total=options.timeout)
        self.governor = UsageGovernor(clock, options.usage_window)
        self.calls = 0

    async def dataset_quality(self, dataset_id: str, fields: str) -> str:
        """The body of ``GET /dataset_quality`` for one dataset and field set."""
        params = {"dataset_id": dataset_id, "fields": fields}
        if self.options.agent_name:
            params["agent_name"] = self.options.agent_name
        what = f"dataset {dataset_id}"
        return await self._retrying(
            what, dataset_id, lambda: self._request("GET", "dataset_quality", params)
        )

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """``GET /{version}/{path}`` decoded as JSON."""
        body = await self._retrying(
            path, None, lambda: self._request("GET", path, dict(params or {}))
        )
        return json.loads(body)

    async def get_in_body(self, path: str, params: Mapping[str, str]) -> Any:
        """``GET path`` sent as a one-item batch, so ``params`` travel in the body.

        For calls whose parameters are secret (``debug_token`` takes the
        token itself): a URL ends up in proxy and server logs, a body does not.
        """
        request = {"method": "GET", "relative_url": f"{path}?{urlencode(params)}"}
        form = {"batch": json.dumps([request]), "include_headers": "false"}
        body = await self._retrying(
            path, None, lambda: self._request("POST", "", form), shape=list
        )
        answers = json.loads(body)
        answer = answers[0] if isinstance(answers, list) and answers else None
        if not isinstance(answer, dict):
            raise TransientGraphError(f"{path}: the batch left the request unanswered")
        status = answer.get("code")
        inner = str(answer.get("body") or "")
        error = error_from_answer(
            status if isinstance(status, int) else 0, inner, self._scrub
        )
        if error is not None:
            raise error
        return json.loads(inner)

    async def paged(
        self, path: str, params: Mapping[str, str] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every item of a list edge, following cursors while ``next`` exists."""
        query = dict(params or {})
        while True:
            page = await self.get(path, query)
            if not isinstance(page, dict) or not isinstance(page.get("data"), list):
                raise MalformedResponseError(
                    f"{path}: expected a page with a data list"
                )
            for item in page["data"]:
                if isinstance(item, dict):
                    yield item
            paging = page.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not after:
                return
            query["after"] = str(after)

    async def batch(self, items: Sequence[BatchItem]) -> list[str | GraphError]:
        """Several dataset_quality requests in one ``POST /``, answered in order.

        Batching saves round trips, not quota: each item counts as a call.
        An item the API left unanswered comes back as a transient error so
        the caller can retry it alone.
        """
        if not 0 < len(items) <= BATCH_LIMIT:
            raise ValueError(f"a batch holds 1 to {BATCH_LIMIT} requests")
        requests = [
            {"method": "GET", "relative_url": self._relative_url(item)}
            for item in items
        ]
        form = {"batch": json.dumps(requests), "include_headers": "true"}
        body = await self._retrying(
            f"batch of {len(items)}",
            None,
            lambda: self._request("POST", "", form),
            shape=list,
        )
        answers = json.loads(body)
        if not isinstance(answers, list) or len(answers) != len(items):
            raise MalformedResponseError(
                "a batch answer must list one item per request"
            )
        return [self._batch_answer(i, a) for i, a in zip(items, answers, strict=True)]

    def _relative_url(self, item: BatchItem) -> str:
        params = {"dataset_id": item.dataset_id, "fields": item.fields}
        if self.options.agent_name:
            params["agent_name"] = self.options.agent_name
        return f"dataset_quality?{urlencode(params)}"

    def _batch_answer(self, item: BatchItem, answer: object) -> str | GraphError:
        if not isinstance(answer, dict):
            return TransientGraphError("the batch left this request unanswered")
        headers = {
            str(h.get("name")): str(h.get("value"))
            for h in answer.get("headers") or []
            if isinstance(h, dict)
        }
        usages = self.governor.observe(item.dataset_id, headers)
        body = str(answer.get("body") or "")
        status = answer.get("code")
        regain = max((u.regain_seconds for u in usages), default=0.0)
        error = error_from_answer(
            status if isinstance(status, int) else 0, body, self._scrub, regain
        )
        return error if error is not None else body

    async def _retrying(
        self,
        what: str,
        dataset_id: str | None,
        attempt: Callable[[], Awaitable[tuple[int, str, Mapping[str, str]]]],
        *,
        shape: type = dict,
    ) -> str:
        tries = 0
        while True:
            buckets = self.governor.buckets_for(dataset_id)
            await self._wait_for_room(what, buckets)
            try:
                return self._accept(dataset_id, *(await attempt()), shape=shape)
            except ThrottledError as exc:
                self._pause_after_throttle(dataset_id, exc)
                error: GraphError = exc
            except TransientGraphError as exc:
                error = exc
            tries += 1
            if tries > self.options.max_retries:
                log.error("%s: giving up after %d attempts: %s", what, tries, error)
                raise error
            delay = self._backoff(tries)
            log.warning(
                "%s: %s; retry %d of %d in %.1fs",
                what,
                error,
                tries,
                self.options.max_retries,
                delay,
            )
            await self._sleep(delay)

    async def _wait_for_room(self, what: str, buckets: tuple[str, ...]) -> None:
        paused = self.governor.paused_for(buckets)
        if paused > self.options.max_throttle_wait:
            raise ThrottledError(
                f"rate limit: calls paused for {paused:.0f}s more",
                retry_after=paused,
                bucket=",".join(buckets),
            )
        delay = self.governor.delay(buckets, limit=self.options.max_throttle_wait)
        if delay > self.options.max_throttle_wait:
            raise ThrottledError(
                f"rate limit: the usage headers leave room in {delay:.0f}s",
                retry_after=delay,
                bucket=",".join(buckets),
            )
        if delay > 0:
            log.debug("%s: waiting %.2fs for rate-limit room", what, delay)
            await self._sleep(delay)

    def _accept(
        self,
        dataset_id: str | None,
        status: int,
        body: str,
        headers: Mapping[str, str],
        *,
        shape: type,
    ) -> str:
        usages = self.governor.observe(dataset_id, headers)
        regain = max((u.regain_seconds for u in usages), default=0.0)
        error = error_from_answer(status, body, self._scrub, regain, shape=shape)
        if error is not None:
            raise error
        return body

    def _pause_after_throttle(
        self, dataset_id: str | None, exc: ThrottledError
    ) -> None:
        named = [b for b in self.governor.buckets_for(dataset_id) if b != APP]
        targets = named if exc.code in _BUC_CODES and named else [APP]
        exc.bucket = ",".join(targets)
        for bucket in targets:
            self.governor.pause(bucket, exc.retry_after)

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.options.backoff_cap, self.options.backoff_base * 2**attempt)
        return float(self._rng() * ceiling)

    async def _request(
        self, method: str, path: str, params: dict[str, str]
    ) -> tuple[int, str, Mapping[str, str]]:
        params = {**params, **self._proof()}
        url = f"{self._root}/{path}" if path else f"{self._root}/"
        headers = {"Authorization": f"Bearer {self.options.access_token}"}
        query, form = (params, None) if method == "GET" else (None, params)
        async with self._gate:
            self.calls += 1
            try:
                async with self._session.request(
                    method,
                    url,
                    params=query,
                    data=form,
                    headers=headers,
                    timeout=self._timeout,
                ) as response:
                    body = await response.text(errors="replace")
                    return response.status, body, response.headers
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise TransientGraphError(_describe_network_error(exc)) from None

    def _proof(self) -> dict[str, str]:
        secret = self.options.app_secret
        if not secret:
            return {}
        now = str(int(self._wall_clock()))
        message = f"{self.options.access_token}|{now}".encode()
        proof = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
        return {"appsecret_proof": proof, "appsecret_time": now}


def _describe_network_error(exc: BaseException) -> str:
    """Say what failed without quoting the URL, which carries the proof."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"network error: cannot connect to {exc.host}:{exc.port}"
    if isinstance(exc, TimeoutError):
        return "network error: no answer before the timeout"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"network error: HTTP {exc.status}"
    return f"network error: {type(exc).__name__}"


__all__ = ["THROTTLE_CODES", "BatchItem", "ClientOptions", "GraphClient"]
