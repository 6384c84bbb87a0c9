"""The explanatory texts the API returns next to its numbers.

The wording follows the documented sample responses, so a scenario that
gives only numbers still answers what the documentation shows. A scenario
may override any text (see ``texts`` in the scenario format).
"""

from __future__ import annotations

import re

__all__ = [
    "DIAGNOSTICS",
    "acr_text",
    "coverage_acr_text",
    "dedupe_text",
    "event_acr_text",
    "match_key_acr_text",
    "offline_text",
    "percent",
]

EVENT_COVERAGE = (
    "The percentage of events received from your Conversions API compared to "
    "unique browser events from the Meta Pixel."
)
FRESHNESS = (
    "The average frequency with which instances of this event are received "
    "through the Conversions API."
)
_DEDUPE = {
    "browser_events_with_dedupe_key": (
        "The percentage of browser events that contain this dedupe key."
    ),
    "server_events_with_dedupe_key": (
        "The percentage of server events that contain this dedupe key."
    ),
    "overall_browser_coverage_from_dedupe_key": (
        "The overall percentage of browser events that are deduped with "
        "Conversions API events using this key. This percentage is incremental "
        "for each dedupe key."
    ),
}
_OFFLINE = {
    "composite": "Your offline data quality score is ok, but could be improved.",
    "match_key": (
        "Sending email and phone number parameters can help improve your match "
        "key score."
    ),
    "frequency": (
        "Sharing your offline data more often can help improve your frequency "
        "score and help you get better ad outcomes."
    ),
    "freshness": (
        "Sending your most recent offline conversion data sooner can help "
        "improve your score and help you get better ad outcomes."
    ),
}
_OFFLINE_GOOD = "Your {what} score is good. Keep sharing data the way you do now."

#: Known EMQ diagnostics: name -> (description, solution).
DIAGNOSTICS: dict[str, tuple[str, str]] = {
    "Update your IPv4 IP addresses to IPv6 IP addresses": (
        "Your server is sending IPV4 IP addresses through the Conversions API. "
        "We recommend updating to IPV6 IP addresses because this is the industry "
        "standard and offers better durability for this integration.",
        "You can update your web server and DNS provider configuration to support "
        "IPv6. In your server payload, send the client_ip_address retrieved from "
        "customer interactions. Use the payload helper to see how this value "
        "should be structured when it's sent to Meta. If this issue is not "
        "applicable or actionable, you can ignore it.",
    ),
    "Server sending mismatched IP addresses": (
        "Your server is sending client IP addresses that do not match those from "
        "Meta Pixel. This may impact the attribution and optimization of your ad "
        "campaigns.",
        "In your server payload, send the client_ip_address retrieved from "
        "customer interactions. Use the payload helper to see how this value "
        "should be structured when it's sent to Meta.",
    ),
    "Server sending invalid fbc parameter": (
        "Your server is sending fbc values that are not in the expected format, so "
        "they cannot be used to match events to ad clicks.",
        "Send the fbc value exactly as read from the _fbc cookie, or build it as "
        "fb.1.<creation time>.<fbclid> from the landing page URL.",
    ),
    "Missing email addresses": (
        "Many of your server events arrive without a hashed email address, the "
        "customer information parameter that matches events best.",
        "Send the em parameter, normalised and hashed with SHA-256, whenever the "
        "customer has given an email address.",
    ),
}
_DIAGNOSTIC_FALLBACK = (
    "The Conversions API received events with a problem in their customer "
    "information parameters.",
    "Check the payload helper for how each customer information parameter "
    "should be formatted and hashed.",
)


def percent(value: float) -> str:
    """A percentage as the API writes it in texts: ``100``, ``58.96``."""
    return f"{value:g}"


def _words(identifier: str) -> str:
    """``ip_address`` -> ``Ip Address``, as the API's ACR texts spell keys."""
    return " ".join(part.capitalize() for part in identifier.split("_"))


def _spaced(event: str) -> str:
    """``PageView`` -> ``Page View``, as the API's ACR texts spell events."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", event)


def match_key_acr_text(event: str, identifier: str, value: float) -> str:
    return (
        f"Similar advertisers who sent valid {_words(identifier)} for {event} saw "
        f"a {percent(value)}% median increase in their existing additional "
        "conversions reported."
    )


def coverage_acr_text(event: str, value: float) -> str:
    return (
        f"Similar advertisers who send the same {event} pixel events with matching "
        "deduplication keys through Conversions API saw a median of "
        f"{percent(value)}% additional conversions reported versus those that "
        "only used Meta Pixel."
    )


def event_acr_text(event: str, value: float) -> str:
    return (
        f"Similar advertisers who set up Conversions API for {event} events saw a "
        f"median of {percent(value)}% additional conversions reported versus those "
        "that only used Meta Pixel."
    )


def acr_text(event: str, value: float) -> str:
    return (
        f"In the last 7 days, you saw about {percent(value)}% more conversions "
        f"reported for {_spaced(event)} events by using the Conversions API "
        "alongside the Meta Pixel."
    )


def dedupe_text(field: str) -> str:
    """The fixed description of one of the three dedupe-key percentages."""
    return _DEDUPE[field]


def diagnostic_texts(name: str) -> tuple[str, str]:
    """(description, solution) of a diagnostic, generic for unknown names."""
    return DIAGNOSTICS.get(name, _DIAGNOSTIC_FALLBACK)


def offline_text(field: str, score: float) -> str:
    """The recommendation for an offline score; good scores get praise."""
    if score >= 8.5:
        return _OFFLINE_GOOD.format(what=field.replace("_", " "))
    return _OFFLINE[field]
