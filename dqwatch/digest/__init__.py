"""Advertiser digests: a periodic email per owner about their datasets.

A digest covers one owner's datasets over a period (since the previous
digest, or a week): each event's score now and its trend, event coverage
against its goal, data freshness, the alerts firing now and those resolved
during the period, and the API's top recommendations ranked by the
additional conversions they could bring. ``docs/digests.md`` shows one.

``send_digests`` builds, renders and mails them for every email channel
with a ``digest`` schedule; the parts can also be used one by one::

    digests = await digests_for_channel(store, channel, now=now, period=7 * DAY)
    for digest in digests:
        subject, text, html = render_digest(digest, templates)
"""

from dqwatch.digest._build import (
    DAY,
    TOP_RECOMMENDATIONS,
    build_digest,
    digests_for_channel,
    sample_times,
)
from dqwatch.digest._model import DatasetDigest, Digest, EventDigest, Recommendation
from dqwatch.digest._render import TEMPLATES, digest_variables, render_digest, sparkline
from dqwatch.digest._sample import sample_digest
from dqwatch.digest._send import DigestsSent, send_digests

__all__ = [
    "DAY",
    "TEMPLATES",
    "TOP_RECOMMENDATIONS",
    "DatasetDigest",
    "Digest",
    "DigestsSent",
    "EventDigest",
    "Recommendation",
    "build_digest",
    "digest_variables",
    "digests_for_channel",
    "render_digest",
    "sample_digest",
    "sample_times",
    "send_digests",
    "sparkline",
]
