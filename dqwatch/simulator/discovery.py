"""``/{business}/owned_pixels`` and ``/client_pixels``: paged pixel lists.

Pages follow the Graph API's cursor paging: ``{"data": [...], "paging":
{"cursors": {"before", "after"}, "next", "previous"}}``. Cursors are opaque
strings; ``next`` appears only while more items remain, which is the only
end signal a client may rely on. ``limit`` defaults to the scenario's page
size and is capped at its maximum; ``summary=true`` (or ``total_count``)
adds ``summary.total_count``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from dqwatch.simulator.errors import GraphFault, graph_error
from dqwatch.simulator.fields import FieldSyntaxError, parse_fields
from dqwatch.simulator.specs import SimulatorSettings

__all__ = ["PIXEL_FIELDS", "pixel_page"]

#: AdsPixel fields the simulator answers; the other documented ones are
#: accepted and omitted, as fields without data are.
PIXEL_FIELDS = ("id", "name")
_OTHER_PIXEL_FIELDS = frozenset(
    {
        "automatic_matching_fields",
        "can_proxy",
        "code",
        "config",
        "creation_time",
        "creator",
        "data_use_setting",
        "description",
        "duplicate_entries",
        "enable_auto_assign_to_accounts",
        "enable_automatic_matching",
        "event_stats",
        "event_time_max",
        "event_time_min",
        "first_party_cookie_status",
        "has_1p_pixel_event",
        "is_consolidated_container",
        "is_created_by_business",
        "is_crm",
        "is_mta_use",
        "is_restricted_use",
        "is_unavailable",
        "last_fired_time",
        "last_upload_app",
        "last_upload_app_changed_time",
        "match_rate_approx",
        "matched_entries",
        "owner_ad_account",
        "owner_business",
        "usage",
        "user_access_expire_time",
        "valid_entries",
        "permitted_tasks",
    }
)
_CURSOR_PREFIX = "pixel:"


def pixel_page(
    pixels: Sequence[tuple[str, str]],
    params: Mapping[str, str],
    settings: SimulatorSettings,
    url: str,
) -> dict[str, Any] | GraphFault:
    """One page of ``pixels`` as the API answers it; ``url`` is the edge's URL."""
    fields = _fields(params.get("fields"))
    if isinstance(fields, GraphFault):
        return fields
    limit = params.get("limit", str(settings.page_size))
    if not limit.isdigit() or int(limit) < 1:
        return graph_error(100, detail="Param limit must be a positive integer")
    size = min(int(limit), settings.max_page_size)

    start = 0
    try:
        if "after" in params:
            start = _decode(params["after"]) + 1
        elif "before" in params:
            start = max(0, _decode(params["before"]) - size)
    except ValueError:
        return graph_error(100, detail="Invalid cursor")
    stop = min(len(pixels), start + size)
    data = [_pixel(pixels[i], fields) for i in range(start, stop)]
    page: dict[str, Any] = {"data": data}
    if data:
        page["paging"] = _paging(params, start, stop, len(pixels), size, url)
    if params.get("summary") in ("true", "1", "total_count"):
        page["summary"] = {"total_count": len(pixels)}
    return page


def _fields(text: str | None) -> tuple[str, ...] | GraphFault:
    if not text:
        return PIXEL_FIELDS
    try:
        requested = parse_fields(text)
    except FieldSyntaxError as error:
        return graph_error(2500, message=str(error))
    for field in requested:
        if field.name not in PIXEL_FIELDS and field.name not in _OTHER_PIXEL_FIELDS:
            return graph_error(
                100,
                message=f"(#100) Tried accessing nonexisting field ({field.name}) "
                "on node type (AdsPixel)",
            )
    return tuple(field.name for field in requested if field.name in PIXEL_FIELDS)


def _pixel(pixel: tuple[str, str], fields: tuple[str, ...]) -> dict[str, str]:
    values = {"id": pixel[0], "name": pixel[1]}
    return {name: values[name] for name in fields if values[name]}


def _paging(
    params: Mapping[str, str], start: int, stop: int, total: int, size: int, url: str
) -> dict[str, Any]:
    paging: dict[str, Any] = {
        "cursors": {"before": _encode(start), "after": _encode(stop - 1)}
    }
    kept = {
        k: v for k, v in params.items() if k in ("fields", "access_token", "summary")
    }
    if stop < total:
        query = {**kept, "limit": str(size), "after": _encode(stop - 1)}
        paging["next"] = f"{url}?{urlencode(query)}"
    if start > 0:
        query = {**kept, "limit": str(size), "before": _encode(start)}
        paging["previous"] = f"{url}?{urlencode(query)}"
    return paging


def _encode(position: int) -> str:
    return base64.b64encode(f"{_CURSOR_PREFIX}{position}".encode()).decode()


def _decode(cursor: str) -> int:
    try:
        text = base64.b64decode(cursor, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError(cursor) from None
    if not text.startswith(_CURSOR_PREFIX) or not text[len(_CURSOR_PREFIX) :].isdigit():
        raise ValueError(cursor)
    return int(text[len(_CURSOR_PREFIX) :])
