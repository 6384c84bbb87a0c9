"""The usage governor: reading usage headers and pacing calls before a throttle."""

from __future__ import annotations

import json

import pytest

from dqwatch.graph import UsageGovernor, parse_usage_headers


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def buc(business: str, percent: int, regain: int = 0) -> dict[str, str]:
    entry = {
        "type": "ads_management",
        "call_count": percent,
        "total_cputime": 1,
        "total_time": 1,
        "estimated_time_to_regain_access": regain,
    }
    return {"X-Business-Use-Case-Usage": json.dumps({business: [entry]})}


def test_headers_are_parsed_with_the_highest_percentage() -> None:
    """The largest of call_count, total_time and total_cputime is the usage."""
    headers = {
        "x-app-usage": json.dumps(
            {"call_count": 3, "total_time": 41, "total_cputime": 7}
        ),
        **buc("555", 12, regain=2),
    }
    usages = {u.bucket: u for u in parse_usage_headers(headers)}
    assert usages["app"].percent == 41
    assert usages["555"].percent == 12
    assert usages["555"].regain_seconds == 120


@pytest.mark.parametrize(
    "value", ["not json", "[]", '{"555": "x"}', '{"555": [{"call_count": "high"}]}']
)
def test_garbage_headers_are_ignored(value: str) -> None:
    """Unreadable usage headers never raise; they tell us nothing."""
    usages = parse_usage_headers({"X-Business-Use-Case-Usage": value})
    assert all(u.percent == 0 for u in usages)


def test_low_usage_means_no_wait() -> None:
    """Below 75% calls go out at once."""
    clock = FakeClock()
    governor = UsageGovernor(clock, window=60)
    governor.observe("1001", buc("555", 50))
    assert governor.buckets_for("1001") == ("app", "555")
    assert governor.delay(governor.buckets_for("1001")) == 0


def test_high_usage_spaces_calls_towards_the_sustainable_rate() -> None:
    """At 95% calls are spaced by window / budget, estimated from our own calls."""
    clock = FakeClock()
    governor = UsageGovernor(clock, window=60)
    for _ in range(19):
        governor.observe("1001", buc("555", 10))
        clock.now += 0.01
    governor.observe("1001", buc("555", 95))  # 20 calls made = 95%: budget ~21
    buckets = governor.buckets_for("1001")
    first = governor.delay(buckets)
    second = governor.delay(buckets)
    third = governor.delay(buckets)
    assert first >= 0
    spacing = 60 / (20 / 0.95)
    assert second - first == pytest.approx(spacing, rel=0.01)
    assert third - second == pytest.approx(spacing, rel=0.01)


def test_spacing_grows_with_usage() -> None:
    """The closer usage is to the limit, the longer the spacing between calls."""
    waits = []
    for percent in (76, 85, 94):
        clock = FakeClock()
        governor = UsageGovernor(clock, window=60)
        for _ in range(10):
            governor.observe("1001", buc("555", percent))
        buckets = governor.buckets_for("1001")
        governor.delay(buckets)
        waits.append(governor.delay(buckets))
    assert waits[0] < waits[1] < waits[2]


def test_regain_time_pauses_only_that_business() -> None:
    """A named regain time pauses the business; other businesses go on."""
    clock = FakeClock()
    governor = UsageGovernor(clock, window=60)
    governor.observe("1001", buc("555", 100, regain=3))
    governor.observe("2001", buc("777", 10))
    assert governor.paused_for(governor.buckets_for("1001")) == pytest.approx(180)
    assert governor.paused_for(governor.buckets_for("2001")) <= 0
    clock.now += 181
    assert governor.paused_for(governor.buckets_for("1001")) <= 0
