"""Rate limits as the Graph API applies them, over a rolling window.

Each call counts against its business's budget (Business Use Case limits),
the app's budget when the scenario sets one (``X-App-Usage``) and the
token's budget when set (code 17). Every call counts, throttled ones too:
the API says that calling on after the limit keeps the count rising.

The usage headers report whole percentages of the budget and appear only
once a key has made ``headers_after`` calls in the window, as the API's
appear only "once enough calls have been made". While a business is
throttled its header says how many minutes remain until it is not.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dqwatch.simulator.specs import RateLimitSettings

__all__ = ["BUC_CODES", "RateLimiter", "RollingCounter", "Usage"]

#: The throttling error code of each Business Use Case type.
BUC_CODES = {
    "ads_insights": 80000,
    "pages": 80001,
    "instagram": 80002,
    "custom_audience": 80003,
    "ads_management": 80004,
    "leadgen": 80005,
    "messenger": 80006,
}
#: BUC codes that the API sends with subcode 2446079.
_SUBCODED = frozenset({80000, 80003, 80004})
_TIERED = frozenset({"ads_insights", "ads_management"})
#: The API lists at most this many businesses in one usage header.
_HEADER_OBJECTS = 32


class RollingCounter:
    """Calls in a rolling window, counted in slots of 1/60 of the window.

    Slots keep memory small whatever the call rate; the price is that a
    call leaves the window up to one slot late.
    """

    SLOTS = 60

    def __init__(self, window: float) -> None:
        self.window = window
        self._slot = window / self.SLOTS
        self._counts: deque[list[int]] = deque()  # [slot number, calls]
        self._total = 0

    def add(self, now: float, calls: int = 1) -> None:
        slot = int(now // self._slot)
        if self._counts and self._counts[-1][0] == slot:
            self._counts[-1][1] += calls
        else:
            self._counts.append([slot, calls])
        self._total += calls

    def count(self, now: float) -> int:
        oldest = int(now // self._slot) - self.SLOTS + 1
        while self._counts and self._counts[0][0] < oldest:
            self._total -= self._counts.popleft()[1]
        return self._total

    def regain_in(self, now: float, budget: int) -> float:
        """Seconds until fewer than ``budget`` calls remain in the window."""
        remaining = self.count(now)
        if remaining < budget:
            return 0.0
        for slot, calls in self._counts:
            remaining -= calls
            if remaining < budget:
                return max(0.0, (slot + self.SLOTS) * self._slot - now)
        return 0.0


@dataclass(frozen=True)
class Usage:
    """What one counted call learnt: a throttle, and the headers to send."""

    #: The throttling error code (80004, 4, 17...) or None.
    code: int | None
    subcode: int | None
    headers: tuple[tuple[str, str], ...]
    #: Business id -> its usage object, for a batch's combined header.
    businesses: tuple[tuple[str, dict[str, Any]], ...]


class RateLimiter:
    """Counts calls per business, app and token, and decides throttling."""

    def __init__(self, settings: RateLimitSettings, clock: Callable[[], float]) -> None:
        self.settings = settings
        self._clock = clock
        self._businesses: dict[str, RollingCounter] = {}
        self._tokens: dict[str, RollingCounter] = {}
        self._app = RollingCounter(settings.window)

    def record(self, business: str | None, token: str | None) -> Usage:
        """Count one call for ``business`` (None if it has none) and ``token``."""
        now = self._clock()
        self._app.add(now)
        owned: list[tuple[str, dict[str, Any]]] = []
        code = subcode = None
        if business is not None:
            counter = self._counter(self._businesses, business)
            counter.add(now)
            code, subcode, usage = self._business_usage(counter, now)
            if usage is not None:
                owned.append((business, usage))

        app_header, app_code = self._app_usage(now)
        code = code or app_code
        if token is not None and self.settings.token_calls is not None:
            counter = self._counter(self._tokens, token)
            counter.add(now)
            if code is None and counter.count(now) > self.settings.token_calls:
                code = 17

        headers = []
        if owned:
            headers.append(business_header(owned))
        if app_header is not None:
            headers.append(app_header)
        return Usage(code, subcode, tuple(headers), tuple(owned))

    def _counter(self, table: dict[str, RollingCounter], key: str) -> RollingCounter:
        counter = table.get(key)
        if counter is None:
            counter = table[key] = RollingCounter(self.settings.window)
        return counter

    def _business_usage(
        self, counter: RollingCounter, now: float
    ) -> tuple[int | None, int | None, dict[str, Any] | None]:
        settings = self.settings
        calls = counter.count(now)
        throttled = calls > settings.business_calls
        if not throttled and calls < settings.headers_after:
            return None, None, None
        regain = counter.regain_in(now, settings.business_calls) if throttled else 0
        usage = self._percentages(calls, settings.business_calls)
        usage = {"type": settings.buc_type, **usage}
        usage["estimated_time_to_regain_access"] = math.ceil(regain / 60)
        if settings.buc_type in _TIERED:
            usage["ads_api_access_tier"] = settings.access_tier
        if not throttled:
            return None, None, usage
        code = BUC_CODES[settings.buc_type]
        return code, (2446079 if code in _SUBCODED else None), usage

    def _app_usage(self, now: float) -> tuple[tuple[str, str] | None, int | None]:
        budget = self.settings.app_calls
        if budget is None:
            return None, None
        calls = self._app.count(now)
        throttled = calls > budget
        if not throttled and calls < self.settings.headers_after:
            return None, None
        value = json.dumps(self._percentages(calls, budget), separators=(",", ":"))
        return ("X-App-Usage", value), (4 if throttled else None)

    def _percentages(self, calls: int, budget: int) -> dict[str, Any]:
        share = 100 * calls / budget
        return {
            "call_count": math.floor(share),
            "total_cputime": math.floor(share * self.settings.total_cputime_share),
            "total_time": math.floor(share * self.settings.total_time_share),
        }


def business_header(owned: list[tuple[str, dict[str, Any]]]) -> tuple[str, str]:
    """The ``X-Business-Use-Case-Usage`` header for these businesses' usage."""
    value = {business: [usage] for business, usage in owned[:_HEADER_OBJECTS]}
    return ("X-Business-Use-Case-Usage", json.dumps(value, separators=(",", ":")))
