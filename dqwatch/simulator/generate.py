"""Thousands of synthetic datasets, derived on demand from a seed.

Nothing is stored per dataset but one version number: a dataset's id,
business, name and event list are pure functions of (seed, index), and each
of its events takes its values from a shared pool of variants per event
name, picked by a hash of (seed, index, slot, version). A pool variant is
built the first time it is needed, so memory grows with the pool, not with
the number of datasets, and renderers can cache one projection per variant.

Values aim to look like real ones: about six match keys (user agent and IP
address always among them), zero to two diagnostics, the three documented
dedupe keys with incremental overall coverage, event coverage against the
documented goal of 75, mostly real-time freshness, and some metrics absent.
"""

from __future__ import annotations

import random
import zlib
from array import array
from typing import Any

from dqwatch.simulator import texts
from dqwatch.simulator.metrics import set_metric
from dqwatch.simulator.specs import GenerateSpec

__all__ = ["Generated", "mix"]

_MASK = (1 << 64) - 1
STANDARD_EVENTS = (
    "PageView",
    "ViewContent",
    "AddToCart",
    "Purchase",
    "Lead",
    "InitiateCheckout",
    "AddPaymentInfo",
    "CompleteRegistration",
    "Search",
    "Contact",
    "Subscribe",
    "StartTrial",
    "AddToWishlist",
    "Schedule",
    "SubmitApplication",
    "CustomizeProduct",
    "FindLocation",
    "Donate",
)
# Step sizes coprime with len(STANDARD_EVENTS), so a stride visits each once.
_STRIDES = (1, 5, 7, 11, 13, 17)
_OFFLINE_EVENTS = ("Purchase", "Lead", "Other")
_EXTRA_KEYS = (
    "email",
    "phone",
    "external_id",
    "fbp",
    "fbc",
    "first_name",
    "last_name",
    "zip",
    "city",
    "country",
)
_BRANDS = (
    "Northwind",
    "Bluebird",
    "Harbor",
    "Juniper",
    "Copperleaf",
    "Maple & Co",
    "Summit",
    "Lumen",
    "Oakridge",
    "Fjord",
    "Sable",
    "Tidewater",
    "Aster",
    "Kestrel",
    "Pinecone",
    "Marigold",
)
_KINDS = ("Store", "Outdoor", "Home", "Beauty", "Travel", "Books", "Fitness", "Pets")


def _splitmix(value: int) -> int:
    value = (value + 0x9E3779B97F4A7C15) & _MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


def mix(*values: int) -> int:
    """A 64-bit hash of integers, the same on every run and platform."""
    state = 0
    for value in values:
        state = _splitmix(state ^ (value & _MASK))
    return state


class Generated:
    """The synthetic datasets of a ``[generate]`` section."""

    def __init__(self, spec: GenerateSpec) -> None:
        self.spec = spec
        self.versions = array("I", bytes(4 * spec.datasets))
        self.epoch = 0

    def index_of(self, dataset_id: str) -> int | None:
        """The index of a generated dataset id, or None if it is not one."""
        if not dataset_id.isdigit():
            return None
        index = int(dataset_id) - self.spec.id_start
        return index if 0 <= index < self.spec.datasets else None

    def dataset_id(self, index: int) -> str:
        return str(self.spec.id_start + index)

    def business_of(self, index: int) -> str:
        return str(self.spec.business_id_start + index % self.spec.businesses)

    def name(self, index: int) -> str:
        pick = mix(self.spec.seed, index, 1)
        brand = _BRANDS[pick % len(_BRANDS)]
        kind = _KINDS[(pick >> 8) % len(_KINDS)]
        return f"{brand} {kind} {index}"

    def business_ids(self) -> list[str]:
        start = self.spec.business_id_start
        return [str(start + k) for k in range(self.spec.businesses)]

    def owned(self, business_id: str) -> range:
        """Indexes of the datasets a generated business owns (empty if none)."""
        if not business_id.isdigit():
            return range(0)
        number = int(business_id) - self.spec.business_id_start
        if not 0 <= number < self.spec.businesses:
            return range(0)
        return range(number, self.spec.datasets, self.spec.businesses)

    def events(self, index: int, source: str) -> list[tuple[str, int]]:
        """(event name, pool variant) of each event of a dataset and source."""
        base = mix(self.spec.seed, index, self.versions[index])
        pool = self.spec.pool
        return [
            (name, _splitmix(base + slot) % pool)
            for slot, name in enumerate(self._event_names(index, source))
        ]

    def _event_names(self, index: int, source: str) -> list[str]:
        if source == "offline":
            return list(_OFFLINE_EVENTS[: self.spec.offline_events]) + [
                f"OfflineEvent{n}"
                for n in range(len(_OFFLINE_EVENTS), self.spec.offline_events)
            ]
        pick = mix(self.spec.seed, index, 2)
        start, stride = (
            pick % len(STANDARD_EVENTS),
            _STRIDES[(pick >> 16) % len(_STRIDES)],
        )
        count = min(self.spec.events, len(STANDARD_EVENTS))
        names = [
            STANDARD_EVENTS[(start + k * stride) % len(STANDARD_EVENTS)]
            for k in range(count)
        ]
        return names + [f"CustomEvent{n}" for n in range(count, self.spec.events)]

    def advance(self, fraction: float) -> int:
        """Change the values of ``fraction`` of the datasets; return how many changed.

        Which datasets change depends only on the seed and the epoch number, so
        two simulators given the same calls change the same datasets.
        """
        self.epoch += 1
        threshold = int(fraction * (1 << 64))
        changed = 0
        for index in range(self.spec.datasets):
            if mix(self.spec.seed, self.epoch, index, 3) < threshold:
                self.versions[index] += 1
                changed += 1
        return changed

    def variant(self, source: str, name: str, variant: int) -> dict[str, Any]:
        """The full event object of one pool variant."""
        rng = random.Random(mix(self.spec.seed, zlib.crc32(name.encode()), variant))
        event: dict[str, Any] = {"event_name": name}
        if source == "offline":
            _offline_values(event, rng)
        elif rng.random() >= 0.05:  # a few events carry nothing but their name
            _web_values(event, rng, self.spec.freshness)
        return event


def _web_values(
    event: dict[str, Any], rng: random.Random, freshness: tuple[str, ...]
) -> None:
    quality = rng.betavariate(5, 2)
    set_metric(
        event,
        "emq",
        None,
        round(min(10.0, max(1.0, 2 + 8 * quality + rng.gauss(0, 0.4))), 1),
    )
    keys = [
        "user_agent",
        "ip_address",
        *rng.sample(_EXTRA_KEYS, rng.choice((3, 4, 4, 5))),
    ]
    for key in keys:
        full = rng.random() < 0.6 + 0.4 * quality
        set_metric(
            event,
            "match_key_coverage",
            key,
            100 if full else round(rng.uniform(20, 99.9), 1),
        )
        if rng.random() < 0.6:
            set_metric(event, "match_key_acr", key, round(rng.uniform(1, 60), 2))
    for name in rng.sample(
        sorted(texts.DIAGNOSTICS), rng.choices((0, 1, 2), (5, 3, 2))[0]
    ):
        _diagnostic(event, rng, name)
    if rng.random() < 0.85:
        _coverage(event, rng)
    if rng.random() < 0.8:
        _dedupe(event, rng)
    if rng.random() < 0.9:
        rare = rng.random() < 0.2 and len(freshness) > 1
        set_metric(
            event,
            "freshness",
            None,
            rng.choice(freshness[1:]) if rare else freshness[0],
        )
    if rng.random() < 0.5:
        set_metric(event, "event_acr", None, round(rng.uniform(5, 50), 1))
    if rng.random() < 0.4:
        set_metric(event, "acr", None, round(rng.uniform(5, 60), 1))


def _diagnostic(event: dict[str, Any], rng: random.Random, name: str) -> None:
    emq = event.setdefault("event_match_quality", {})
    emq.setdefault("diagnostics", []).append(
        {"name": name, "total_event_count": rng.randint(500, 50_000)}
    )
    set_metric(event, "diagnostic", name, round(rng.uniform(5, 80), 1))


def _coverage(event: dict[str, Any], rng: random.Random) -> None:
    percentage = round(rng.uniform(20, 100), 1)
    set_metric(event, "event_coverage", None, percentage)
    set_metric(event, "event_coverage_goal", None, 75)
    if percentage < 75:
        set_metric(event, "coverage_acr", None, round(rng.uniform(5, 40), 1))


def _dedupe(event: dict[str, Any], rng: random.Random) -> None:
    overall = 0.0
    for key in ("event_id", "external_id", "fbp"):
        full = rng.random() < 0.7
        set_metric(
            event, "dedupe_browser", key, 100 if full else round(rng.uniform(0, 100), 1)
        )
        set_metric(
            event, "dedupe_server", key, 100 if full else round(rng.uniform(0, 100), 1)
        )
        # The API's overall coverage is incremental from one key to the next.
        overall = min(100.0, overall + rng.uniform(0, 40 if key == "event_id" else 8))
        set_metric(event, "dedupe_overall", key, round(overall, 2))


def _offline_values(event: dict[str, Any], rng: random.Random) -> None:
    for metric in (
        "offline_composite",
        "offline_match_key",
        "offline_frequency",
        "offline_freshness",
    ):
        set_metric(event, metric, None, round(rng.uniform(2, 10), 1))
    for key in ("email", "phone"):
        set_metric(
            event, "offline_match_key_coverage", key, round(rng.uniform(40, 100), 1)
        )
