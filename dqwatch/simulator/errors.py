"""Graph API error answers: the JSON body, the HTTP status, or an HTML page.

The body has the documented shape::

    {"error": {"message": "(#17) User request limit reached",
               "type": "OAuthException", "code": 17, "error_subcode": ...,
               "is_transient": true, "fbtrace_id": "..."}}

``error_subcode`` appears only when there is one and ``is_transient`` only for
the codes real responses were seen carrying it. Most errors are HTTP 400, as
on the live API; clients must key on ``code``, not on the status. Codes 1 and
2 and 5xx answers can be HTML pages instead (``html=True``), as Meta's
proxies send them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

__all__ = ["GraphFault", "graph_error"]

_OAUTH = "OAuthException"
_METHOD = "GraphMethodException"
_RATE_LIMIT_HELP = (
    "Wait a bit and try again. For more info, please refer to "
    "https://developers.facebook.com/docs/graph-api/overview/rate-limiting."
)
_UNSUPPORTED = (
    "Unsupported get request. Object with ID '{object_id}' does not exist, cannot "
    "be loaded due to missing permissions, or does not support this operation. "
    "Please read the Graph API documentation at "
    "https://developers.facebook.com/docs/graph-api"
)

# (code, subcode) -> (message template, type, HTTP status, is_transient)
_CATALOGUE: dict[tuple[int, int | None], tuple[str, str, int, bool | None]] = {
    (1, None): ("An unknown error has occurred.", _OAUTH, 500, True),
    (2, None): (
        "An unexpected error has occurred. Please retry your request later.",
        _OAUTH,
        500,
        True,
    ),
    (4, None): ("(#4) Application request limit reached", _OAUTH, 403, False),
    (10, None): (
        "(#10) Application does not have permission for this action",
        _OAUTH,
        400,
        None,
    ),
    (17, None): ("(#17) User request limit reached", _OAUTH, 400, True),
    (100, None): ("(#100) {detail}", _OAUTH, 400, None),
    (100, 33): (_UNSUPPORTED, _METHOD, 400, None),
    (104, None): (
        "An access token is required to request this resource.",
        _OAUTH,
        400,
        None,
    ),
    (190, None): (
        "Invalid OAuth access token - Cannot parse access token",
        _OAUTH,
        400,
        None,
    ),
    (190, 463): (
        "Error validating access token: Session has expired on {expired}. "
        "The current time is {now}.",
        _OAUTH,
        400,
        None,
    ),
    (190, 467): (
        "Error validating access token: The access token has expired, been "
        "revoked, or is otherwise invalid.",
        _OAUTH,
        400,
        None,
    ),
    (200, None): ("(#200) Permissions error", _OAUTH, 403, None),
    (613, None): (
        "(#613) Calls to this api have exceeded the rate limit.",
        _OAUTH,
        400,
        True,
    ),
    (2500, None): ("{detail}", _OAUTH, 400, None),
    (2635, None): (
        "(#2635) You are calling a deprecated version of the Graph API. "
        "Please update to the latest version: {latest}.",
        _OAUTH,
        400,
        None,
    ),
    (2044055, None): (
        "(#2044055) The dataset_id that was inputted doesn't exist.",
        _OAUTH,
        400,
        None,
    ),
    (80000, None): (
        f"(#80000) There have been too many calls from this ad-account. "
        f"{_RATE_LIMIT_HELP}",
        _OAUTH,
        400,
        None,
    ),
    (80004, None): (
        f"(#80004) There have been too many calls to this ad-account. "
        f"{_RATE_LIMIT_HELP}",
        _OAUTH,
        400,
        None,
    ),
}
_BUC_OBJECTS = {
    80001: "Page account",
    80002: "Instagram account",
    80003: "custom audience account",
    80005: "leadgen account",
    80006: "messenger account",
}
#: What a message says where the caller gave no detail.
_DEFAULT_DETAILS = {
    "detail": "Invalid parameter",
    "object_id": "",
    "expired": "an earlier date",
    "now": "later",
    "latest": "the latest version",
}
_HTML = (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
    "<title>Error</title></head><body><h1>Sorry, something went wrong.</h1>"
    "<p>The service is temporarily unavailable. Please try again later.</p>"
    "</body></html>\n"
)


@dataclass(frozen=True)
class GraphFault:
    """One error answer, ready to be written as JSON or as an HTML page."""

    code: int
    message: str
    type: str = _OAUTH
    subcode: int | None = None
    http_status: int = 400
    is_transient: bool | None = None
    html: bool = False

    @property
    def oauth(self) -> bool:
        """Whether the answer carries a ``WWW-Authenticate`` header (token errors)."""
        return self.code in (104, 190)

    def body(self, fbtrace_id: str) -> bytes:
        """The answer's body: the error JSON, or an HTML page when ``html``."""
        if self.html:
            return _HTML.encode()
        error: dict[str, object] = {
            "message": self.message,
            "type": self.type,
            "code": self.code,
        }
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.is_transient is not None:
            error["is_transient"] = self.is_transient
        error["fbtrace_id"] = fbtrace_id
        return json.dumps({"error": error}, separators=(",", ":")).encode()


def graph_error(
    code: int,
    subcode: int | None = None,
    *,
    message: str | None = None,
    error_type: str | None = None,
    http_status: int | None = None,
    html: bool = False,
    **details: str,
) -> GraphFault:
    """The API's error for ``code``/``subcode``, its message filled from ``details``.

    Known codes get the API's wording, type, status and ``is_transient``;
    ``message``, ``error_type`` and ``http_status`` override them. Other codes
    get a generic ``(#code)`` message. An HTML answer defaults to HTTP 502.
    """
    known = _CATALOGUE.get((code, subcode)) or _CATALOGUE.get((code, None))
    if known is not None:
        template, kind, status, transient = known
        text = template.format(**{**_DEFAULT_DETAILS, **details})
    else:
        kind, status, transient = _OAUTH, 400, None
        text = _generic_message(code)
    fault = GraphFault(
        code, message or text, error_type or kind, subcode, status, transient
    )
    if html:
        return replace(fault, html=True, http_status=http_status or 502)
    return replace(fault, http_status=http_status) if http_status else fault


def _generic_message(code: int) -> str:
    if code in _BUC_OBJECTS:
        return (
            f"(#{code}) There have been too many calls to this {_BUC_OBJECTS[code]}. "
            f"{_RATE_LIMIT_HELP}"
        )
    return f"(#{code}) The simulator answered this error as its scenario asked."
