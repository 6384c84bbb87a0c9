"""Turning a Graph API answer into a typed error.

The decision is made on the API's ``error.code``, never on the HTTP status
alone (most Graph errors are HTTP 400, whatever they mean). Bodies that are
not JSON, as the HTML pages of a 502, are transient when the status is 5xx.
"""

from __future__ import annotations

import json

from dqwatch.errors import (
    GraphError,
    MalformedResponseError,
    PermanentGraphError,
    ThrottledError,
    TokenError,
    TransientGraphError,
)

TRANSIENT_CODES = frozenset({1, 2})
THROTTLE_CODES = frozenset({4, 17, 32, 341, 613, *range(80000, 80015)})
TOKEN_CODES = frozenset({102, 190})

#: Seconds to wait after a throttling answer that names no time.
DEFAULT_THROTTLE_PAUSE = 60.0


def error_from_answer(
    status: int,
    body: str,
    scrub: Scrubber,
    regain_seconds: float = 0.0,
    *,
    shape: type = dict,
) -> GraphError | None:
    """The error an answer carries, or None when it is a success.

    ``shape`` is what a successful body must decode to: an object for every
    call but a batch, whose answer is a list.
    """
    try:
        document = json.loads(body) if body else None
    except ValueError:
        document = None
    if isinstance(document, dict) and isinstance(document.get("error"), dict):
        return _from_error_object(status, document["error"], scrub, regain_seconds)
    if status >= 500:
        return TransientGraphError(
            "the API answered with a server error page", http_status=status
        )
    if status >= 400:
        return PermanentGraphError(
            "the API refused the request without an error body", http_status=status
        )
    if not isinstance(document, shape):
        return MalformedResponseError(
            f"the API answered 200 with a body that is not a JSON {shape.__name__}",
            http_status=status,
        )
    return None


def _from_error_object(
    status: int, error: dict[str, object], scrub: Scrubber, regain_seconds: float
) -> GraphError:
    message = scrub(str(error.get("message") or "no message"))[:500]
    code = _int(error.get("code"))
    subcode = _int(error.get("error_subcode")) or None
    error_type = str(error.get("type") or "") or None
    trace = str(error.get("fbtrace_id") or "") or None
    if code in THROTTLE_CODES:
        return ThrottledError(
            message,
            retry_after=regain_seconds
            if regain_seconds > 0
            else DEFAULT_THROTTLE_PAUSE,
            code=code,
            subcode=subcode,
            http_status=status,
            error_type=error_type,
            fbtrace_id=trace,
        )
    kind: type[GraphError] = PermanentGraphError
    if code in TOKEN_CODES:
        kind = TokenError
    elif code in TRANSIENT_CODES or error.get("is_transient") is True or status >= 500:
        kind = TransientGraphError
    return kind(
        message,
        code=code,
        subcode=subcode,
        http_status=status,
        error_type=error_type,
        fbtrace_id=trace,
    )


def _int(value: object) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return 0


class Scrubber:
    """Removes secrets from text that came from outside before it goes anywhere."""

    def __init__(self, *secrets: str | None) -> None:
        self._secrets = [s for s in secrets if s]

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text
