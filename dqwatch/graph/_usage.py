"""Reading the Graph API's usage headers and pacing calls before it throttles.

The API reports, per business (``X-Business-Use-Case-Usage``) and per app
(``X-App-Usage``), how much of a rolling window's budget is used, as whole
percentages, and while a bucket is blocked how many minutes remain until it
is not. It never says the budget itself. We estimate it from our own calls:
if we made ``n`` calls in the window and the API says ``p`` percent, the
budget is about ``n / p``. Below ``SLOW_AT`` percent calls go out freely;
between ``SLOW_AT`` and ``HOLD_AT`` they are spaced ever closer to the
sustainable rate (budget per window), so usage settles just under the limit
instead of hitting it; at ``HOLD_AT`` a bucket waits until old calls leave
the window. A throttling answer pauses the bucket for the time it names.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

#: Usage percentage at which calls start being spaced out.
SLOW_AT = 75.0
#: Usage percentage at which a bucket waits for room in the window.
HOLD_AT = 95.0
#: The bucket name used for the app-wide ``X-App-Usage`` budget.
APP = "app"


@dataclass
class Bucket:
    """What we know of one rate-limit budget."""

    name: str
    percent: float = 0.0
    paused_until: float = 0.0
    next_slot: float = 0.0
    calls: deque[float] = field(default_factory=deque)

    def calls_in_window(self, now: float, window: float) -> int:
        while self.calls and self.calls[0] <= now - window:
            self.calls.popleft()
        return len(self.calls)


@dataclass(frozen=True)
class Usage:
    """One bucket's figures read from one response."""

    bucket: str
    percent: float
    regain_seconds: float


class UsageGovernor:
    """Decides how long a call to some buckets should wait, and learns from answers.

    ``window`` is the length of the API's rolling window in seconds (an hour
    on the live API); the simulator lets tests shorten it.
    """

    def __init__(self, clock: Callable[[], float], window: float = 3600.0) -> None:
        self._clock = clock
        self.window = window
        self._buckets: dict[str, Bucket] = {}
        self._dataset_buckets: dict[str, tuple[str, ...]] = {}

    def buckets_for(self, dataset_id: str | None) -> tuple[str, ...]:
        """The buckets a call for this dataset draws on, as far as we know."""
        if dataset_id is None:
            return (APP,)
        return (APP, *self._dataset_buckets.get(dataset_id, ()))

    def learn(self, dataset_id: str, bucket: str) -> None:
        """Tie a dataset to a business before its first answer says so."""
        self._dataset_buckets.setdefault(dataset_id, (bucket,))

    def bucket(self, name: str) -> Bucket:
        found = self._buckets.get(name)
        if found is None:
            found = self._buckets[name] = Bucket(name)
        return found

    def snapshot(self) -> dict[str, float]:
        """Latest usage percentage per bucket (for metrics and logs)."""
        return {name: b.percent for name, b in self._buckets.items()}

    def delay(self, buckets: Iterable[str], limit: float = float("inf")) -> float:
        """Seconds to wait before a call to these buckets.

        The call's slot is reserved only when the wait is within ``limit``:
        a caller that gives up on a longer wait must not push later calls
        back.
        """
        now = self._clock()
        chosen = [self.bucket(name) for name in buckets]
        wait = max((self._slot(b, now)[0] for b in chosen), default=0.0)
        if wait <= limit:
            for bucket in chosen:
                _, bucket.next_slot = self._slot(bucket, now)
        return wait

    def paused_for(self, buckets: Iterable[str]) -> float:
        """Seconds until every one of these buckets is out of a pause."""
        now = self._clock()
        return max((self.bucket(n).paused_until - now for n in buckets), default=0.0)

    def pause(self, name: str, seconds: float) -> None:
        """Stop calling a bucket for ``seconds`` (a throttling answer said so)."""
        bucket = self.bucket(name)
        bucket.paused_until = max(bucket.paused_until, self._clock() + seconds)
        log.info("pausing calls to %s for %.0fs", name, seconds)

    def observe(
        self, dataset_id: str | None, headers: Mapping[str, str]
    ) -> list[Usage]:
        """Record one answered call and the usage its headers report."""
        now = self._clock()
        usages = parse_usage_headers(headers)
        named = tuple(u.bucket for u in usages if u.bucket != APP)
        if dataset_id is not None and named:
            self._dataset_buckets[dataset_id] = named
        for name in {APP, *self.buckets_for(dataset_id)}:
            self.bucket(name).calls.append(now)
        for usage in usages:
            bucket = self.bucket(usage.bucket)
            bucket.percent = usage.percent
            if usage.regain_seconds > 0:
                bucket.paused_until = max(
                    bucket.paused_until, now + usage.regain_seconds
                )
        return usages

    def _slot(self, bucket: Bucket, now: float) -> tuple[float, float]:
        """(seconds to wait, the bucket's next free slot after this call)."""
        if bucket.paused_until > now:
            return bucket.paused_until - now, bucket.next_slot
        if bucket.percent < SLOW_AT:
            return 0.0, bucket.next_slot
        made = bucket.calls_in_window(now, self.window)
        budget = max(made, 1) / (bucket.percent / 100.0)
        share = min(1.0, (bucket.percent - SLOW_AT) / (HOLD_AT - SLOW_AT))
        slot = max(now, bucket.next_slot)
        if bucket.percent >= HOLD_AT and bucket.calls:
            # Full: the next call may go when our oldest one leaves the window.
            slot = max(slot, bucket.calls[0] + self.window)
        return slot - now, slot + share * self.window / budget


def parse_usage_headers(headers: Mapping[str, str]) -> list[Usage]:
    """Read ``X-App-Usage`` and ``X-Business-Use-Case-Usage``; ignore garbage."""
    usages: list[Usage] = []
    app = _load(headers.get("X-App-Usage") or headers.get("x-app-usage"))
    if isinstance(app, dict):
        usages.append(Usage(APP, _percent(app), 0.0))
    buc = _load(
        headers.get("X-Business-Use-Case-Usage")
        or headers.get("x-business-use-case-usage")
    )
    if isinstance(buc, dict):
        for key, entries in buc.items():
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, dict):
                    regain = _number(entry.get("estimated_time_to_regain_access"))
                    usages.append(Usage(str(key), _percent(entry), regain * 60.0))
    return usages


def _load(text: str | None) -> object:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        log.debug("ignoring an unreadable usage header")
        return None


def _percent(entry: Mapping[str, object]) -> float:
    fields = ("call_count", "total_time", "total_cputime")
    return max(_number(entry.get(f)) for f in fields)


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value)
