"""Turning a failed poll from the poll log back into the error it was."""

from __future__ import annotations

from dqwatch.errors import (
    GraphError,
    MalformedResponseError,
    PermanentGraphError,
    ThrottledError,
    TokenError,
    TransientGraphError,
)
from dqwatch.poller import MALFORMED, PERMANENT, THROTTLED, TOKEN, TRANSIENT, outcome_of

_BY_OUTCOME: dict[str, type[GraphError]] = {
    TOKEN: TokenError,
    PERMANENT: PermanentGraphError,
    TRANSIENT: TransientGraphError,
    THROTTLED: ThrottledError,
    MALFORMED: MalformedResponseError,
}

_THROTTLE_CODES = frozenset({4, 17, 32, 613})
_PERMANENT_CODES = frozenset({10, 100, 2500, 2044055})


def rebuild_error(
    outcome: str, code: int | None, subcode: int | None, message: str | None
) -> tuple[str, GraphError]:
    """The outcome and error of a failed poll, as the poller first saw them.

    The stored outcome decides the error's class: it is what the poller
    concluded when the error was live (a code 0 connection failure that
    outlasted its retries is transient, which its code alone cannot say).
    An outcome this version does not know falls back to the API code.
    """
    text = message or "no error message was recorded"
    kind = _BY_OUTCOME.get(outcome)
    if kind is None:
        kind = error_type(code or 0)
    if kind is ThrottledError:
        # How long the API asked to wait is not kept, and a replay never waits.
        error: GraphError = ThrottledError(
            text, retry_after=0.0, code=code or 0, subcode=subcode
        )
    else:
        error = kind(text, code=code or 0, subcode=subcode)
    return (outcome if outcome in _BY_OUTCOME else outcome_of(error)), error


def error_type(code: int) -> type[GraphError]:
    """The class of error an API error code stands for."""
    if code in (190, 102):
        return TokenError
    if code in (1, 2):
        return TransientGraphError
    if code in _THROTTLE_CODES or 80000 <= code <= 80014:
        return ThrottledError
    if code in _PERMANENT_CODES or 200 <= code <= 299:
        return PermanentGraphError
    return GraphError
