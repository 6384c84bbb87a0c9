"""The two alerts that need no rule file: dataset-unreachable and token-invalid.

``dataset-unreachable`` is one alert per dataset. It fires when a poll of
any of its sources fails with a permanent error (unknown dataset, no
permission, a rejected request, an unreadable answer) or outlasts its
retries, and resolves once every failing source has been polled again
successfully. ``token-invalid`` is a single alert for the access token:
every dataset fails alike when the token is bad, and one message says so.
Throttled polls tell nothing about either and change neither.
"""

from __future__ import annotations

from dqwatch.alerts import Alert, AlertBook, fingerprint, template_variables
from dqwatch.errors import GraphError
from dqwatch.poller import MALFORMED, OK, PERMANENT, TOKEN, TRANSIENT, PollResult
from dqwatch.templating import compile_summary, render_summary

UNREACHABLE = "dataset-unreachable"
TOKEN_INVALID = "token-invalid"
#: Raised by the daemon's daily token check (see ``dqwatch.token``).
TOKEN_EXPIRING = "token-expiring"
BUILTIN_RULES = frozenset({UNREACHABLE, TOKEN_INVALID, TOKEN_EXPIRING})
UNREACHABLE_OUTCOMES = frozenset({PERMANENT, MALFORMED, TRANSIENT})

SUMMARIES = {
    UNREACHABLE: "Dataset {{ dataset_name }} ({{ dataset }}) cannot be polled: "
    "error {{ error_code }}: {{ error_message }}",
    TOKEN_INVALID: "The access token is expired or invalid (error {{ error_code }}): "
    "{{ error_message }}",
}

#: (alert as it is now, its state before) for each built-in alert a poll touched.
Touched = list[tuple[Alert, str | None]]


def builtin_transitions(result: PollResult, book: AlertBook) -> Touched:
    """Move the built-in alerts according to one poll's outcome."""
    touched: Touched = []
    token = book.get(fingerprint(TOKEN_INVALID, "", "", "", ""))
    if result.outcome == TOKEN:
        if token is None and result.error is not None:
            touched.append((_new(TOKEN_INVALID, "", result, result.error), None))
        return touched
    if result.outcome == OK and token is not None:
        touched.append((_resolve(token, result.finished), token.state))
    touched.extend(_unreachable(result, book))
    return touched


def _unreachable(result: PollResult, book: AlertBook) -> Touched:
    dataset = result.target.dataset_id
    alert = book.get(fingerprint(UNREACHABLE, dataset, "", "", ""))
    source = result.target.source
    if result.outcome in UNREACHABLE_OUTCOMES and result.error is not None:
        if alert is None:
            return [(_new(UNREACHABLE, dataset, result, result.error), None)]
        failing = sorted({*_failing(alert), source})
        details = {
            **alert.details,
            **_error_details(result.error),
            "failing_sources": ",".join(failing),
        }
        return [(alert.evolve(details=details, count=alert.count + 1), alert.state)]
    if result.outcome != OK or alert is None or source not in _failing(alert):
        return []
    failing = sorted(set(_failing(alert)) - {source})
    if failing:
        details = {**alert.details, "failing_sources": ",".join(failing)}
        return [(alert.evolve(details=details), alert.state)]
    return [(_resolve(alert, result.finished), alert.state)]


def _new(rule: str, dataset: str, result: PollResult, error: GraphError) -> Alert:
    target = result.target
    details: dict[str, str | int | float] = {**_error_details(error)}
    if rule == UNREACHABLE:
        details["failing_sources"] = target.source
    alert = Alert(
        rule=rule,
        dataset_id=dataset,
        source="",
        event="",
        key="",
        metric="",
        severity="critical",
        state="firing",
        count=1,
        active_since=result.finished,
        firing_since=result.finished,
        details=details,
        dataset_name=target.name if dataset else "",
        owner=target.owner if dataset else "",
    )
    summary = render_summary(
        compile_summary(SUMMARIES[rule]), template_variables(alert)
    )
    return alert.evolve(summary=summary)


def _resolve(alert: Alert, now: float) -> Alert:
    return alert.evolve(state="resolved", resolved_at=now)


def _failing(alert: Alert) -> list[str]:
    return [s for s in str(alert.details.get("failing_sources", "")).split(",") if s]


def _error_details(error: GraphError) -> dict[str, str | int | float]:
    return {"error_code": error.code, "error_message": error.message}
