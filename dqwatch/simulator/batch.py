"""Batch requests: ``POST /`` with ``batch=[{"method", "relative_url"}, ...]``.

The batch's token (and proof) is checked once; each item may carry its own
``access_token`` in its URL and otherwise uses the batch's. Each item is a
call of its own: counted against the rate limits, throttled and faulted
alone, and answered as ``{"code", "headers", "body"}`` with the body as a
JSON string. ``include_headers=false`` leaves the headers out. An item can
come back ``null``, as when the API cuts a batch short: by an injected
timeout or, at random, by the scenario's ``batch_null_fraction``.

The usage headers of the batch's own answer combine those of its items.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from dqwatch.simulator.auth import Credentials
from dqwatch.simulator.engine import Answer, Call, Engine
from dqwatch.simulator.errors import GraphFault, graph_error
from dqwatch.simulator.ratelimit import business_header
from dqwatch.simulator.render import dumps

__all__ = ["run_batch"]

_VERSIONED = re.compile(r"^v\d+\.\d+(/|$)")


def run_batch(
    engine: Engine,
    form: Mapping[str, str],
    credentials: Credentials,
    version: str,
    base_url: str,
) -> Answer:
    """Answer a whole batch request."""
    fault = engine.tokens.check(credentials)
    if fault is not None:
        return engine.error_answer(fault, version)
    items = _items(form.get("batch"), engine.settings.batch_limit)
    if isinstance(items, GraphFault):
        return engine.error_answer(items, version)

    with_headers = form.get("include_headers", "true").lower() != "false"
    results: list[dict[str, Any] | None] = []
    businesses: dict[str, dict[str, Any]] = {}
    app_usage: tuple[str, str] | None = None
    for item in items:
        call = _call(item, credentials, version, base_url)
        answer = (
            engine.error_answer(call, version)
            if isinstance(call, GraphFault)
            else engine.answer(call)
        )
        if answer.usage is not None:
            businesses.update(answer.usage.businesses)
            app_usage = next(
                (h for h in answer.usage.headers if h[0] == "X-App-Usage"), app_usage
            )
        dataset_id = (
            None if isinstance(call, GraphFault) else call.params.get("dataset_id")
        )
        if _cut_short(engine, dataset_id):
            results.append(None)
        else:
            results.append(_result(engine, answer, with_headers))

    headers = [business_header(list(businesses.items()))] if businesses else []
    headers += [app_usage] if app_usage else []
    return Answer(200, dumps(results), version, engine.trace_id(), headers)


def _items(text: str | None, limit: int) -> list[Any] | GraphFault:
    if text is None:
        return graph_error(100, detail="The parameter batch is required")
    try:
        items = json.loads(text)
    except ValueError:
        items = None
    if not isinstance(items, list) or not items:
        return graph_error(
            100, detail="The parameter batch must be a non-empty JSON array"
        )
    if len(items) > limit:
        return graph_error(
            100,
            detail=f"Too many requests in batch message. Maximum batch size is {limit}",
        )
    return items


def _call(
    item: Any, outer: Credentials, version: str, base_url: str
) -> Call | GraphFault:
    if not isinstance(item, dict) or not isinstance(item.get("relative_url"), str):
        return graph_error(100, detail="Each batch request needs a relative_url")
    method = str(item.get("method", "GET")).upper()
    path, _, query = item["relative_url"].partition("?")
    params = dict(parse_qsl(query, keep_blank_values=True))
    if isinstance(item.get("body"), str):
        params.update(parse_qsl(item["body"], keep_blank_values=True))
    path = path.strip("/")
    if not _VERSIONED.match(path):
        path = f"{version}/{path}"
    token = params.get("access_token") or outer.token
    return Call(method, f"/{path}", params, Credentials(token), base_url, in_batch=True)


def _cut_short(engine: Engine, dataset_id: str | None) -> bool:
    if engine.faults.times_out(dataset_id):
        return True
    fraction = engine.settings.batch_null_fraction
    return fraction > 0 and engine.rng.random() < fraction


def _result(engine: Engine, answer: Answer, with_headers: bool) -> dict[str, Any]:
    result: dict[str, Any] = {"code": answer.status}
    if with_headers:
        content_type = (
            "text/html; charset=utf-8" if answer.html else engine.settings.content_type
        )
        pairs = [
            ("Content-Type", content_type),
            ("facebook-api-version", answer.version),
            *answer.headers,
        ]
        result["headers"] = [{"name": name, "value": value} for name, value in pairs]
    result["body"] = answer.body.decode()
    return result
