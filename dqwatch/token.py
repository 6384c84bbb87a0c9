"""Token health: is the access token valid, and when does it expire?

Checked with ``/debug_token`` at start and daily. The token is sent in the
body of a one-item batch, never in a URL. An invalid token raises the
built-in ``token-invalid`` alert; one expiring within ``EXPIRY_WARNING``
raises ``token-expiring`` (a warning) so there is time to replace it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from dqwatch.alerts import Alert, AlertBook, fingerprint, template_variables
from dqwatch.builtin_alerts import TOKEN_EXPIRING, TOKEN_INVALID
from dqwatch.errors import GraphError
from dqwatch.graph import GraphClient
from dqwatch.templating import compile_summary, render_summary

log = logging.getLogger(__name__)

EXPIRY_WARNING = 7 * 86400.0

_SUMMARIES = {
    TOKEN_EXPIRING: "The access token expires in {{ value }} days: "
    "replace it before then",
    TOKEN_INVALID: "The access token is expired or invalid (error {{ error_code }}): "
    "{{ error_message }}",
}


@dataclass(frozen=True, slots=True)
class TokenHealth:
    """What ``/debug_token`` said about the token."""

    valid: bool
    expires_at: float | None  # None: never expires
    error_code: int = 0
    message: str = ""


async def check_token(client: GraphClient) -> TokenHealth | None:
    """Ask the API about our own token; None when the API could not answer."""
    token = client.options.access_token
    try:
        answer = await client.get_in_body("debug_token", {"input_token": token})
    except GraphError as exc:
        if exc.code in (102, 190):
            return TokenHealth(False, None, exc.code, exc.message)
        log.warning("token check failed: %s", exc)
        return None
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, dict):
        log.warning("token check: the answer has no data object")
        return None
    if not data.get("is_valid", False):
        found = data.get("error")
        error: dict[str, object] = found if isinstance(found, dict) else {}
        return TokenHealth(
            False, None, _int(error.get("code")) or 190, str(error.get("message") or "")
        )
    expires = data.get("expires_at")
    at = float(expires) if isinstance(expires, int | float) and expires > 0 else None
    return TokenHealth(True, at)


def token_transitions(
    book: AlertBook, health: TokenHealth, now: float
) -> list[tuple[Alert, str | None]]:
    """Move token-invalid and token-expiring according to a token check."""
    moves: list[tuple[Alert, str | None]] = []
    invalid = book.get(fingerprint(TOKEN_INVALID, "", "", "", ""))
    expiring = book.get(fingerprint(TOKEN_EXPIRING, "", "", "", ""))
    if not health.valid:
        if invalid is None:
            details: dict[str, str | int | float] = {
                "error_code": health.error_code,
                "error_message": health.message,
            }
            moves.append((_new(TOKEN_INVALID, "critical", now, None, details), None))
        return moves
    if invalid is not None:
        moves.append((invalid.evolve(state="resolved", resolved_at=now), invalid.state))
    soon = health.expires_at is not None and health.expires_at - now < EXPIRY_WARNING
    if soon and expiring is None and health.expires_at is not None:
        days = round(max(0.0, health.expires_at - now) / 86400.0, 1)
        moves.append((_new(TOKEN_EXPIRING, "warning", now, days, {}), None))
    elif not soon and expiring is not None:
        moves.append(
            (expiring.evolve(state="resolved", resolved_at=now), expiring.state)
        )
    return moves


def _new(
    rule: str,
    severity: str,
    now: float,
    value: float | None,
    details: dict[str, str | int | float],
) -> Alert:
    alert = Alert(
        rule=rule,
        dataset_id="",
        source="",
        event="",
        key="",
        metric="",
        severity=severity,
        state="firing",
        count=1,
        active_since=now,
        firing_since=now,
        value=value,
        details=details,
    )
    text = render_summary(compile_summary(_SUMMARIES[rule]), template_variables(alert))
    return alert.evolve(summary=text)


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
