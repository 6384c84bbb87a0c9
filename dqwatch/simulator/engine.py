"""The simulated Graph API, free of HTTP: a call goes in, an answer comes out.

Every API call goes through the same steps, in the order the API applies
them: the version, the token and proof, counting against the rate limits
(every call counts, even one that is then throttled), injected faults,
then the endpoint itself. Batch items are calls like any other, so they are
counted, throttled and faulted one by one.
"""

from __future__ import annotations

import base64
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from dqwatch.simulator.auth import Credentials, TokenBook
from dqwatch.simulator.data import Datasets, DatasetState, normalize_agent
from dqwatch.simulator.discovery import pixel_page
from dqwatch.simulator.errors import GraphFault, graph_error
from dqwatch.simulator.faults import Faults
from dqwatch.simulator.fields import FieldSyntaxError
from dqwatch.simulator.ratelimit import RateLimiter, Usage
from dqwatch.simulator.render import Renderer, Selection, dumps
from dqwatch.simulator.scenario import Scenario
from dqwatch.simulator.schema import SelectionError

__all__ = ["Answer", "Call", "Engine", "SimStats"]

_VERSION = re.compile(r"^v(\d+)\.(\d+)$")
_THROTTLE_CODES = frozenset({4, 17, 613, *range(80000, 80015)})

#: What an endpoint handler returns: a JSON document, a ready body, or an error.
Result = dict[str, Any] | bytes | GraphFault


@dataclass(frozen=True)
class Call:
    """One API call: an HTTP request, or one item of a batch."""

    method: str
    path: str
    params: Mapping[str, str]
    credentials: Credentials
    #: Scheme and host the caller used, for paging links.
    base_url: str = ""
    #: Batch items are not checked for a proof; the batch itself was.
    in_batch: bool = False


@dataclass
class Answer:
    """What the API says back to one call."""

    status: int
    body: bytes
    version: str
    trace_id: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    html: bool = False
    usage: Usage | None = None


@dataclass
class SimStats:
    """Counts since the simulator started, as ``GET /_simulator/stats`` shows them."""

    #: HTTP requests received (a batch is one request).
    requests: int = 0
    #: API calls answered; each batch item is one call.
    calls: int = 0
    calls_by_business: Counter[str] = field(default_factory=Counter)
    errors_by_code: Counter[int] = field(default_factory=Counter)
    #: Calls answered with a rate-limit error.
    throttled: int = 0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {
            "requests": self.requests,
            "calls": self.calls,
            "calls_by_business": dict(self.calls_by_business),
            "errors_by_code": {str(k): v for k, v in self.errors_by_code.items()},
            "throttled": self.throttled,
        }


@dataclass(frozen=True)
class _Route:
    handler: Callable[[Call, str], Result]
    business: str | None = None
    dataset_id: str | None = None


class Engine:
    """Answers calls for one scenario; holds all of the simulator's state."""

    def __init__(
        self,
        scenario: Scenario,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        normalize: Callable[[str], str] = normalize_agent,
    ) -> None:
        self.scenario = scenario
        self.settings = scenario.simulator
        self.datasets = Datasets(scenario, normalize)
        self.renderer = Renderer(self.settings)
        self.tokens = TokenBook(scenario.app, scenario.token, clock, wall_clock)
        self.limits = RateLimiter(scenario.rate_limit, clock)
        self.faults = Faults(scenario.fault)
        self.stats = SimStats()
        self.rng = random.Random(self.settings.seed)
        self._clock = clock
        self._started = clock()
        self._normalize = normalize
        self.versions = frozenset(self.settings.api_versions)
        self.latest = max(self.settings.api_versions, key=_version_number)
        self._oldest = min(self.settings.api_versions, key=_version_number)

    def answer(self, call: Call) -> Answer:
        """Answer one API call (not a batch: see :mod:`dqwatch.simulator.batch`)."""
        self.stats.calls += 1
        version, rest, fault = self.split_version(call.path)
        route = self._route(call, rest)
        usage = None
        if fault is None:
            fault = self.tokens.check(call.credentials, proof=not call.in_batch)
        if fault is None:
            usage = self.limits.record(route.business, call.credentials.token)
            if route.business is not None:
                self.stats.calls_by_business[route.business] += 1
            fault = self._throttle(usage) or self.faults.error_for(route.dataset_id)
        result = fault if fault is not None else route.handler(call, version)
        return self._finish(result, version, usage)

    def trace_id(self) -> str:
        """A new fbtrace id: 11 URL-safe characters, like the API's."""
        raw = self.rng.getrandbits(64).to_bytes(8, "big")
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def error_answer(self, fault: GraphFault, version: str | None = None) -> Answer:
        """An answer carrying ``fault``, counted in the statistics."""
        return self._finish(fault, version or self.latest, None)

    # -- routing ------------------------------------------------------------

    def split_version(self, path: str) -> tuple[str, list[str], GraphFault | None]:
        """(version, path segments after it, error for an unusable version)."""
        segments = [part for part in path.split("/") if part]
        if not segments or not _VERSION.match(segments[0]):
            return self.latest, segments, None
        version, rest = segments[0], segments[1:]
        if version in self.versions:
            return version, rest, None
        if _version_number(version) < _version_number(self._oldest):
            return self.latest, rest, graph_error(2635, latest=self.latest)
        return self.latest, rest, _unknown_path(segments)

    def _route(self, call: Call, rest: list[str]) -> _Route:
        if call.method != "GET":
            fault = graph_error(
                100, detail=f"Unsupported {call.method.lower()} request."
            )
            return _Route(lambda c, v: fault)
        match rest:
            case ["dataset_quality"]:
                dataset_id = call.params.get("dataset_id", "")
                found = self.datasets.find(dataset_id) if dataset_id else None
                business = self.datasets.business_of(found)
                return _Route(
                    partial(self._dataset_quality, found), business, dataset_id
                )
            case ["debug_token"]:
                return _Route(self._debug_token)
            case [business, "owned_pixels" | "client_pixels" as edge]:
                known = business if business in self.datasets.business_names else None
                return _Route(partial(self._pixels, business, edge), known)
            case [node, *_] if node.isdigit():
                tail = rest[1:]
                fault = (
                    _unknown_path(tail)
                    if tail
                    else graph_error(100, 33, object_id=node)
                )
                return _Route(lambda c, v: fault)
        fault = _unknown_path(rest)
        return _Route(lambda c, v: fault)

    def _throttle(self, usage: Usage) -> GraphFault | None:
        if usage.code is None:
            return None
        return graph_error(usage.code, usage.subcode)

    def _finish(self, result: Result, version: str, usage: Usage | None) -> Answer:
        headers = list(usage.headers) if usage else []
        trace = self.trace_id()
        if not isinstance(result, GraphFault):
            body = result if isinstance(result, bytes) else dumps(result)
            return Answer(200, body, version, trace, headers, usage=usage)
        self.stats.errors_by_code[result.code] += 1
        if result.code in _THROTTLE_CODES:
            self.stats.throttled += 1
        if result.oauth:
            headers.append(
                (
                    "WWW-Authenticate",
                    f'OAuth "Facebook Platform" "invalid_token" "{result.message}"',
                )
            )
        return Answer(
            result.http_status,
            result.body(trace),
            version,
            trace,
            headers,
            html=result.html,
            usage=usage,
        )

    # -- endpoints ----------------------------------------------------------

    def _dataset_quality(
        self, found: DatasetState | int | None, call: Call, version: str
    ) -> Result:
        dataset_id = call.params.get("dataset_id", "")
        if not dataset_id:
            return graph_error(100, detail="The parameter dataset_id is required")
        if not dataset_id.isdigit():
            return graph_error(100, detail="Param dataset_id must be a valid ID")
        if found is None or (
            isinstance(found, DatasetState) and found.access == "unknown"
        ):
            return _refusal(self.settings.unknown_dataset_code, dataset_id)
        if isinstance(found, DatasetState) and found.access == "denied":
            return _refusal(found.denied_code, dataset_id)

        selection = self._selection(call.params.get("fields"))
        if isinstance(selection, GraphFault):
            return selection
        agent = self._agent(call.params.get("agent_name"))
        if isinstance(agent, GraphFault):
            return agent
        if isinstance(found, int):
            return self._generated_body(found, selection, agent)

        error = found.poll(selection.sources, self.elapsed())
        if error is not None:
            return graph_error(
                error.code,
                error.subcode,
                message=error.message,
                http_status=error.http_status,
                html=error.html,
            )
        key = (selection.key, agent)
        body = found.cache.get(key)
        if body is None:
            body = found.cache[key] = self.renderer.body(
                selection, found.visible(agent)
            )
        return body

    def _selection(self, fields: str | None) -> Selection | GraphFault:
        try:
            return self.renderer.selection(fields)
        except FieldSyntaxError as error:
            code = self.settings.syntax_error_code
            return graph_error(
                code, message=str(error) if code == 2500 else f"(#100) {error}"
            )
        except SelectionError as error:
            return graph_error(100, message=error.message)

    def _agent(self, agent_name: str | None) -> str | GraphFault | None:
        if not agent_name:
            return None
        agent = self._normalize(agent_name)
        if self.settings.unknown_agent == "error" and agent not in self.datasets.agents:
            return graph_error(100, detail=f"Unknown agent_name: {agent_name}")
        return agent

    def _generated_body(
        self, index: int, selection: Selection, agent: str | None
    ) -> bytes:
        generated = self.datasets.generated
        assert generated is not None  # an index is only found when there is one
        if agent is not None and agent not in self.datasets.generated_agents:
            return self.renderer.joined_body(
                selection, lambda source: (), generated.variant
            )
        return self.renderer.joined_body(
            selection, partial(generated.events, index), generated.variant
        )

    def _debug_token(self, call: Call, version: str) -> Result:
        token = call.params.get("input_token")
        if not token:
            return graph_error(100, detail="The parameter input_token is required")
        return {"data": self.tokens.debug(token)}

    def _pixels(self, business: str, edge: str, call: Call, version: str) -> Result:
        pixels = self.datasets.pixels(business, edge)
        if pixels is None:
            return graph_error(100, 33, object_id=business)
        params = dict(call.params)
        params.pop("access_token", None)
        if self.settings.next_includes_token and call.credentials.token:
            params["access_token"] = call.credentials.token
        url = f"{call.base_url}/{version}/{business}/{edge}"
        return pixel_page(pixels, params, self.settings, url)

    # -- elapsed time -------------------------------------------------------

    def elapsed(self) -> float:
        """Seconds since the simulator started, on its clock."""
        return self._clock() - self._started


def _version_number(version: str) -> tuple[int, int]:
    found = _VERSION.match(version)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


def _refusal(code: int, dataset_id: str) -> GraphFault:
    """Unknown or forbidden dataset: its own code, or 100/33 when so configured."""
    return graph_error(code, 33 if code == 100 else None, object_id=dataset_id)


def _unknown_path(segments: list[str]) -> GraphFault:
    return graph_error(2500, detail=f"Unknown path components: /{'/'.join(segments)}")
