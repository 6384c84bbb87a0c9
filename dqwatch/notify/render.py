"""Turning notices into what channels send: Slack blocks, email parts, console text.

Templates only ever receive plain data (the variables below); every piece of
markup lives in the template files, so an override can change any of it and
the escaping of each flavour applies to every value a template prints.

Per alert, templates see the variables of
:func:`dqwatch.alerts.template_variables` plus ``summary``, ``kind``
(``firing``, ``repeat`` or ``resolved``), ``silence_command`` and
``since_utc``. Per dataset (a *group*): ``dataset``, ``dataset_name``,
``owner``, ``severity`` (the worst), ``firing``, ``repeat``, ``resolved``
(counts), ``alerts`` and, for Slack, ``part`` and ``parts``. Per message
(email and console): ``channel``, ``groups``, ``alerts`` and the three counts
over all groups. ``docs/notifications.md`` lists them for template authors.
"""

from __future__ import annotations

import difflib
import hashlib
import shlex
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import jinja2

from dqwatch.alerts import Alert, template_variables
from dqwatch.notify.model import Message, Notice, NoticeKind, by_dataset
from dqwatch.notify.templates import Flavour, Templates

__all__ = [
    "CONSOLE",
    "EMAIL_HTML",
    "EMAIL_SUBJECT",
    "EMAIL_TEXT",
    "SLACK_ALERT",
    "SLACK_FALLBACK",
    "SLACK_HEADER",
    "USES",
    "EmailParts",
    "SlackPost",
    "alert_variables",
    "block_id",
    "check_templates",
    "console_text",
    "email_parts",
    "group_variables",
    "message_variables",
    "resolved_blocks",
    "sample_messages",
    "silence_command",
    "slack_posts",
]

SLACK_HEADER = "slack_header.md.j2"
SLACK_ALERT = "slack_alert.md.j2"
SLACK_FALLBACK = "slack_fallback.md.j2"
EMAIL_SUBJECT = "email_subject.txt.j2"
EMAIL_TEXT = "email_body.txt.j2"
EMAIL_HTML = "email_body.html.j2"
CONSOLE = "console.txt.j2"

#: Every template the channels render, with the flavour each is rendered in.
USES: dict[str, Flavour] = {
    SLACK_HEADER: "slack",
    SLACK_ALERT: "slack",
    SLACK_FALLBACK: "slack",
    EMAIL_SUBJECT: "text",
    EMAIL_TEXT: "text",
    EMAIL_HTML: "html",
    CONSOLE: "text",
}

_SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}

# Slack refuses a section text over 3,000 characters and a message over 50
# blocks. API texts are quoted up to a length that keeps an alert's section
# well inside the limit; a dataset with more alerts than fit in one message
# is sent as several numbered parts.
SLACK_SECTION_LIMIT = 3000
SLACK_QUOTE_LIMIT = 600
SLACK_ALERTS_PER_POST = 40
_SLACK_QUOTED = (
    "summary",
    "description",
    "solution",
    "recommendation",
    "error_message",
)

# The longest subject people read whole in a mail client's list.
SUBJECT_LIMIT = 200


def silence_command(alert: Alert) -> str:
    """The command that silences this alert for two hours, quoted for a shell.

    ``CONFIG`` stays a literal placeholder: the daemon cannot know which
    path the reader will use for the config file.
    """
    words = ["dqwatch", "silence", "add", "-c", "CONFIG", "--rule", alert.rule]
    for option, value in (
        ("--dataset", alert.dataset_id),
        ("--event", alert.event),
        ("--key", alert.key),
    ):
        if value:
            words += [option, value]
    words += ["--duration", "2h"]
    return " ".join(shlex.quote(word) for word in words)


def alert_variables(notice: Notice) -> dict[str, Any]:
    """What a template sees for one alert of one notice."""
    alert = notice.alert
    variables: dict[str, Any] = template_variables(alert)
    since = float(alert.firing_since or alert.active_since)
    variables.update(
        summary=alert.summary,
        kind=notice.kind,
        silence_command=silence_command(alert),
        since_utc=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(since)),
    )
    return variables


def _slack_alert_variables(notice: Notice) -> dict[str, Any]:
    variables = alert_variables(notice)
    for name in _SLACK_QUOTED:
        variables[name] = _clip(str(variables[name]), SLACK_QUOTE_LIMIT)
    return variables


def group_variables(dataset_id: str, notices: Sequence[Notice]) -> dict[str, Any]:
    """What a template sees for the notices of one dataset."""
    alerts = [alert_variables(n) for n in notices]
    first = notices[0].alert
    return {
        "dataset": dataset_id,
        "dataset_name": first.dataset_name or dataset_id,
        "owner": first.owner,
        "severity": _worst(n.alert.severity for n in notices),
        **_counts(notices),
        "alerts": alerts,
    }


def message_variables(message: Message) -> dict[str, Any]:
    """What a template sees for a whole message, its datasets in ``groups``."""
    groups = [group_variables(d, ns) for d, ns in by_dataset(message.notices).items()]
    return {
        "channel": message.channel,
        "groups": groups,
        "alerts": [alert for group in groups for alert in group["alerts"]],
        **_counts(message.notices),
    }


def _counts(notices: Sequence[Notice]) -> dict[str, int]:
    kinds = [n.kind for n in notices]
    return {kind: kinds.count(kind) for kind in ("firing", "repeat", "resolved")}


def _worst(severities: Iterable[str]) -> str:
    return max(severities, key=lambda s: _SEVERITY_RANK.get(s, -1), default="info")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass(frozen=True, slots=True)
class SlackPost:
    """One Slack message: notification text, blocks, and the notices it shows."""

    text: str
    blocks: list[dict[str, Any]]
    notices: tuple[Notice, ...]


def block_id(fingerprint: str) -> str:
    """The Slack block id of an alert's section, stable across messages."""
    return "dq-" + hashlib.sha256(fingerprint.encode()).hexdigest()[:24]


def slack_section(templates: Templates, notice: Notice) -> dict[str, Any]:
    """One alert's section block."""
    variables = _slack_alert_variables(notice)
    text = templates.render("slack", SLACK_ALERT, variables).strip()
    return {
        "type": "section",
        "block_id": block_id(notice.alert.fingerprint),
        "text": {"type": "mrkdwn", "text": _clip(text, SLACK_SECTION_LIMIT)},
    }


def slack_posts(templates: Templates, notices: Sequence[Notice]) -> list[SlackPost]:
    """The Slack messages for some notices: one per dataset (more if very long)."""
    posts: list[SlackPost] = []
    for dataset_id, group in by_dataset(notices).items():
        size = SLACK_ALERTS_PER_POST
        chunks = [group[i : i + size] for i in range(0, len(group), size)]
        whole = group_variables(dataset_id, group)
        for part, chunk in enumerate(chunks, start=1):
            alerts = [_slack_alert_variables(n) for n in chunk]
            variables = {**whole, "alerts": alerts, "part": part, "parts": len(chunks)}
            posts.append(_slack_post(templates, variables, chunk))
    return posts


def _slack_post(
    templates: Templates, variables: dict[str, Any], notices: Sequence[Notice]
) -> SlackPost:
    header = templates.render("slack", SLACK_HEADER, variables).strip()
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _clip(header, SLACK_SECTION_LIMIT)},
        },
        {"type": "divider"},
    ]
    blocks += [slack_section(templates, notice) for notice in notices]
    text = templates.render("slack", SLACK_FALLBACK, variables).strip()
    return SlackPost(_clip(text, SLACK_SECTION_LIMIT), blocks, tuple(notices))


def resolved_blocks(
    templates: Templates, blocks: Sequence[dict[str, Any]], notices: Sequence[Notice]
) -> list[dict[str, Any]] | None:
    """An earlier message's blocks with these resolved alerts' sections redrawn.

    Returns None when the message shows none of the alerts, so there is
    nothing to edit.
    """
    redrawn = {
        block_id(n.alert.fingerprint): slack_section(templates, n) for n in notices
    }
    if not any(block.get("block_id") in redrawn for block in blocks):
        return None
    return [redrawn.get(str(block.get("block_id")), block) for block in blocks]


@dataclass(frozen=True, slots=True)
class EmailParts:
    """A rendered email: one-line subject, plain-text and HTML bodies."""

    subject: str
    text: str
    html: str


def email_parts(templates: Templates, message: Message) -> EmailParts:
    """Subject and both bodies of the email for one message."""
    variables = message_variables(message)
    subject = " ".join(templates.render("text", EMAIL_SUBJECT, variables).split())
    return EmailParts(
        subject=_clip(subject, SUBJECT_LIMIT),
        text=templates.render("text", EMAIL_TEXT, variables) + "\n",
        html=templates.render("html", EMAIL_HTML, variables) + "\n",
    )


def console_text(templates: Templates, message: Message) -> str:
    """The block of plain text the console prints for one message."""
    return templates.render("text", CONSOLE, message_variables(message)).rstrip()


def check_templates(templates: Templates) -> list[str]:
    """Render every template with :func:`sample_messages`; list the problems.

    Each problem reads ``TEMPLATE:LINE: what is wrong``. Templates are
    rendered in the flavour their channel uses, with every kind of notice,
    so a misspelt variable in a branch only resolved alerts take is found
    too. A user file whose name is close to, but not, a template name is
    reported: dqwatch would silently never use it.
    """
    problems: list[str] = []
    broken: set[str] = set()
    for name, flavour, variables in _renderings():
        if name in broken:
            continue
        try:
            templates.render(flavour, name, variables)
        except jinja2.TemplateSyntaxError as error:
            where = error.filename or error.name or name
            problems.append(f"{where}:{error.lineno}: {error.message}")
            broken.add(name)
        # A template's expressions can raise anything (a filter applied to
        # the wrong type, the sandbox refusing an attribute): all are problems.
        except Exception as error:
            problems.append(_located(name, error))
            broken.add(name)
    return problems + _misnamed(templates)


def _located(name: str, error: Exception) -> str:
    where, line = name, 0
    tb: TracebackType | None = error.__traceback__
    while tb is not None:
        # Jinja rewrites tracebacks so template frames carry the file and line.
        if "__jinja_exception__" in tb.tb_frame.f_globals:
            where, line = tb.tb_frame.f_code.co_filename, tb.tb_lineno
        tb = tb.tb_next
    fix = "the variables each template receives are listed in docs/notifications.md"
    what = error.message if isinstance(error, jinja2.TemplateError) else str(error)
    return f"{where}:{line}: {what}; {fix}"


def _misnamed(templates: Templates) -> list[str]:
    problems = []
    for name in templates.names():
        if name in USES or name.startswith("digest"):
            continue
        close = difflib.get_close_matches(name, list(USES), n=1, cutoff=0.8)
        if close:
            problems.append(
                f"{name}:1: no template has this name, so dqwatch never uses it; "
                f"rename it to {close[0]} to override that template"
            )
    return problems


def _renderings() -> list[tuple[str, Flavour, dict[str, Any]]]:
    """(template, flavour, variables) for every render the samples cause."""
    renderings: list[tuple[str, Flavour, dict[str, Any]]] = []
    for message in sample_messages():
        variables = message_variables(message)
        for name in (EMAIL_SUBJECT, EMAIL_TEXT, EMAIL_HTML, CONSOLE):
            renderings.append((name, USES[name], variables))
        for dataset_id, group in by_dataset(message.notices).items():
            slack = {**group_variables(dataset_id, group), "part": 1, "parts": 1}
            slack["alerts"] = [_slack_alert_variables(n) for n in group]
            renderings.append((SLACK_HEADER, "slack", slack))
            renderings.append((SLACK_FALLBACK, "slack", slack))
            for notice in group:
                alert = _slack_alert_variables(notice)
                renderings.append((SLACK_ALERT, "slack", alert))
    # Imported here: the digest sends mail through the email channel, which
    # renders with this module.
    from dqwatch.digest import TEMPLATES, digest_variables, sample_digest

    digest = digest_variables(sample_digest())
    subject, text, html = TEMPLATES
    renderings += [
        (subject, "text", digest),
        (text, "text", digest),
        (html, "html", digest),
    ]
    return renderings


# Sample notices: 2025-12-03 14:00 UTC, one of every kind, both sources, the
# built-in alerts, and outside text written to break naive escaping.
_T0 = 1764770400.0
_HOSTILE = "<!channel> & <@U123>"


def _sample(rule: str, dataset: tuple[str, str], **changes: object) -> Alert:
    alert = Alert(
        rule=rule,
        dataset_id=dataset[0],
        source="web",
        event="Purchase",
        key="",
        metric="",
        severity="warning",
        state="firing",
        count=1,
        active_since=_T0,
        firing_since=_T0,
        dataset_name=dataset[1],
        owner="acme",
    )
    return alert.evolve(**changes)


def _sample_alerts() -> list[tuple[NoticeKind, Alert]]:
    acme, globex = ("1234567890", "Acme web shop"), ("2233445566", "Globex store")
    initech = ("3344556677", f"Initech {_HOSTILE} shop")
    ip_text = f"Server events carry IP addresses unlike the browser's {_HOSTILE}."
    return [
        ("firing", _sample("emq-drop", acme, metric="emq", value=5.9, before=7.8,
            summary="EMQ for Purchase fell from 7.8 to 5.9")),
        ("firing", _sample("match-key-lost", acme, metric="match_key_coverage",
            key="phone", value=0.0, before=64.0,
            summary="Match key phone is no longer sent with Purchase (was 64%)")),
        ("firing", _sample("new-diagnostic", acme, metric="diagnostic",
            event=f"Lead {_HOSTILE}", key=f"ip_mismatch <b>{_HOSTILE}</b>",
            severity="info", value=12.5,
            summary=f"New diagnostic for Lead {_HOSTILE}: ip_mismatch (12.5%)",
            details={"description": ip_text,
                     "solution": "Send the client IP address seen by the browser."})),
        ("resolved", _sample("event-coverage-low", acme, metric="event_coverage",
            event="AddToCart", state="resolved", value=81.0, before=70.0,
            threshold=75.0, resolved_at=_T0 + 3600,
            summary="Event coverage for AddToCart is 70%, below 75%")),
        ("repeat", _sample("offline-composite-low", globex, source="offline",
            metric="offline_composite", owner="globex", value=7.9, threshold=8.5,
            summary="Offline data quality for Purchase is 7.9, below 8.5",
            details={"recommendation": "Upload offline conversions more often."})),
        ("resolved", _sample("freshness-not-realtime", globex, metric="freshness",
            owner="globex", event="Lead", state="resolved", value="real_time",
            before="real_time", resolved_at=_T0 + 900,
            summary="Lead events no longer arrive in real time (now hourly)")),
        ("firing", _sample("dataset-unreachable", initech, source="", event="",
            severity="critical", owner="initech",
            summary=f"Dataset Initech {_HOSTILE} shop (3344556677) cannot be "
            "polled: error 2044055: Dataset not found",
            details={"error_code": 2044055, "error_message": "Dataset not found"})),
        ("firing", _sample("token-invalid", ("", ""), source="", event="",
            severity="critical", owner="",
            summary="The access token is expired or invalid (error 190): "
            "Session has expired",
            details={"error_code": 190, "error_message": "Session has expired"})),
    ]  # fmt: skip


def sample_messages() -> list[Message]:
    """Realistic notices for rendering every template without a database.

    One message per dataset (as Slack sends them) and one with every notice
    (as an immediate email channel does).
    """
    notices = [
        Notice(i, "samples", kind, alert, created=_T0, group="sample-cycle")
        for i, (kind, alert) in enumerate(_sample_alerts(), start=1)
    ]
    messages = [Message("samples", tuple(g)) for g in by_dataset(notices).values()]
    return [*messages, Message("samples", tuple(notices))]
