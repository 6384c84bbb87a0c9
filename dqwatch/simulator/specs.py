"""The parts of a scenario: one frozen model per TOML section.

Every section and key is optional except what a thing needs to exist (a
dataset's ``id``). Unknown keys are errors, so a misspelt setting cannot
silently do nothing. Facts the API reference leaves uncertain are settings
here, with the documented or best-evidenced behaviour as the default.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    SecretStr,
    model_validator,
)

from dqwatch.durations import parse_duration
from dqwatch.simulator.metrics import METRICS, TEXTED_METRICS
from dqwatch.simulator.schema import OFFLINE_DEFAULT_FIELDS, WEB_DEFAULT_FIELDS

__all__ = [
    "AppSettings",
    "BusinessSpec",
    "ChangeSpec",
    "DatasetSpec",
    "DiagnosticSpec",
    "ErrorSpec",
    "EventSpec",
    "FaultSpec",
    "GenerateSpec",
    "LatencySpec",
    "RateLimitSettings",
    "RemoveSpec",
    "SetSpec",
    "SimulatorSettings",
    "SpecModel",
    "TokenSpec",
]

_VERSION = re.compile(r"^v\d+\.\d+$")
_DIGITS = re.compile(r"^\d+$")


def _duration(value: object) -> float:
    if not isinstance(value, str):
        raise ValueError('write a duration as a string, e.g. "90s", "50ms", "1h"')
    return parse_duration(value)


def _number(low: float | None = None, high: float | None = None) -> PlainValidator:
    """A number (int or float, never bool or text) within ``low``..``high``."""

    def check(value: object) -> int | float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {type(value).__name__}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(f"{value} is outside {low:g}..{high:g}")
        return value

    return PlainValidator(check)


def _id(value: object) -> str:
    text = (
        str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    )
    if not isinstance(text, str) or not _DIGITS.match(text):
        raise ValueError('an id is a string of digits, e.g. "1234567890"')
    return text


Duration = Annotated[float, BeforeValidator(_duration)]
Percent = Annotated[int | float, _number(0, 100)]
Score = Annotated[int | float, _number(0, 10)]
GraphId = Annotated[str, PlainValidator(_id)]
Source = Literal["web", "offline"]


class SpecModel(BaseModel):
    """Base of every scenario part: frozen, and unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class LatencySpec(SpecModel):
    """Delay before each HTTP answer, drawn uniformly from ``min``..``max``."""

    min: Duration = 0.0
    max: Duration = 0.0

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        parse_duration(value)  # reports a bad text once, not for min and max
        return {"min": value, "max": value}

    @model_validator(mode="after")
    def _ordered(self) -> LatencySpec:
        if self.max < self.min:
            raise ValueError("latency max is smaller than min")
        return self


class SimulatorSettings(SpecModel):
    """``[simulator]``: protocol details, including the uncertain ones."""

    api_versions: tuple[str, ...] = ("v22.0", "v23.0", "v24.0", "v25.0")
    latency: LatencySpec = LatencySpec()
    empty_dataset: Literal["empty_list", "empty_object"] = "empty_list"
    web_default_fields: str = WEB_DEFAULT_FIELDS
    offline_default_fields: str = OFFLINE_DEFAULT_FIELDS
    syntax_error_code: Literal[100, 2500] = 2500
    unknown_dataset_code: Literal[2044055, 100] = 2044055
    unknown_agent: Literal["empty", "error"] = "empty"
    batch_limit: int = Field(default=50, ge=1)
    batch_null_fraction: float = Field(default=0.0, ge=0, le=1)
    page_size: int = Field(default=25, ge=1)
    max_page_size: int = Field(default=500, ge=1)
    next_includes_token: bool = False
    content_type: str = "application/json; charset=UTF-8"
    seed: int = 0
    record_requests: int = Field(default=10_000, ge=0)
    render_cache_mb: float = Field(default=16.0, ge=0)

    @model_validator(mode="after")
    def _versions(self) -> SimulatorSettings:
        bad = [v for v in self.api_versions if not _VERSION.match(v)]
        if bad or not self.api_versions:
            raise ValueError(
                f'api_versions must list versions like "v24.0", got {bad or "none"}'
            )
        return self


class AppSettings(SpecModel):
    """``[app]``: the app the tokens belong to, and its secret."""

    id: GraphId = "1000000000000001"
    name: str = "dqwatch simulator"
    secret: SecretStr | None = None
    require_proof: bool = False
    proof_max_age: Duration = 300.0


class TokenSpec(SpecModel):
    """``[[token]]``: an access token the simulator knows."""

    value: SecretStr
    status: Literal["valid", "expired", "invalid"] = "valid"
    type: Literal["USER", "PAGE", "APP", "SYSTEM_USER"] = "SYSTEM_USER"
    #: Time after the simulator starts at which the token expires; None: never.
    expires_in: Duration | None = None
    scopes: tuple[str, ...] = ("ads_read", "ads_management", "business_management")
    user_id: GraphId = "100000000000001"


class RateLimitSettings(SpecModel):
    """``[rate_limit]``: budgets over a rolling window and the usage headers."""

    window: Duration = 3600.0
    business_calls: int = Field(default=10_000, ge=1)
    app_calls: int | None = Field(default=None, ge=1)
    token_calls: int | None = Field(default=None, ge=1)
    headers_after: int = Field(default=10, ge=0)
    buc_type: Literal[
        "ads_management",
        "ads_insights",
        "custom_audience",
        "pages",
        "instagram",
        "leadgen",
        "messenger",
    ] = "ads_management"
    access_tier: str = "standard_access"
    total_time_share: float = Field(default=0.9, ge=0)
    total_cputime_share: float = Field(default=0.6, ge=0)


class BusinessSpec(SpecModel):
    """``[[business]]``: a business that owns datasets or has client datasets."""

    id: GraphId
    name: str = ""


class DiagnosticSpec(SpecModel):
    """One EMQ diagnostic of an event; texts default to the known catalogue."""

    name: str
    percentage: Percent
    description: str | None = None
    solution: str | None = None
    total_event_count: int | None = Field(default=None, ge=0)
    affected_event_count: int | None = Field(default=None, ge=0)


class EventSpec(SpecModel):
    """``[[dataset.event]]``: one event and its values, by catalogue name."""

    name: str = Field(min_length=1)
    source: Source = "web"
    agents: tuple[str, ...] = ()
    emq: Score | None = None
    match_key_coverage: dict[str, Percent] = {}
    match_key_acr: dict[str, Percent] = {}
    diagnostic: tuple[DiagnosticSpec, ...] = ()
    event_coverage: Percent | None = None
    event_coverage_goal: Percent | None = None
    coverage_acr: Percent | None = None
    dedupe_browser: dict[str, Percent] = {}
    dedupe_server: dict[str, Percent] = {}
    dedupe_overall: dict[str, Percent] = {}
    freshness: str | None = None
    event_acr: Percent | None = None
    acr: Percent | None = None
    offline_composite: Score | None = None
    offline_match_key: Score | None = None
    offline_frequency: Score | None = None
    offline_freshness: Score | None = None
    offline_match_key_coverage: dict[Literal["email", "phone"], Percent] = {}
    #: Replacement texts: "metric" or "metric:key" -> description/recommendation.
    texts: dict[str, str] = {}

    @model_validator(mode="after")
    def _one_source(self) -> EventSpec:
        wrong = [
            name
            for name in self.model_fields_set
            if name in METRICS and METRICS[name].source != self.source
        ]
        if wrong:
            raise ValueError(
                f"{', '.join(sorted(wrong))} cannot be set on a {self.source} event; "
                f'give the event source = "{METRICS[wrong[0]].source}"'
            )
        for where in self.texts:
            self._check_text(where)
        return self

    def _check_text(self, where: str) -> None:
        """A ``texts`` key must name a metric with a text that this event has."""
        metric, _, key = where.partition(":")
        if metric not in TEXTED_METRICS:
            raise ValueError(
                f"texts.{where}: only these metrics have a text: "
                f"{', '.join(sorted(TEXTED_METRICS))}"
            )
        value = getattr(self, metric)
        present = key in value if isinstance(value, dict) else value is not None
        if not present or bool(key) != METRICS[metric].keyed:
            form = f"{metric}:<key>" if METRICS[metric].keyed else metric
            raise ValueError(
                f"texts.{where} has no value to go with; write {form!r} for a "
                f"{metric} this event sets"
            )


class SetSpec(SpecModel):
    """Give a metric a value (``set`` of a change)."""

    event: str
    metric: str
    key: str | None = None
    value: Annotated[int | float | str, PlainValidator(lambda v: _value(v))]

    @model_validator(mode="after")
    def _fits_metric(self) -> SetSpec:
        check_metric_value(self.metric, self.key, self.value)
        return self


class RemoveSpec(SpecModel):
    """Make something absent (``remove`` of a change); None means "all"."""

    event: str | None = None
    metric: str | None = None
    key: str | None = None
    source: Source = "web"

    @model_validator(mode="after")
    def _known(self) -> RemoveSpec:
        if self.metric is not None and self.metric not in METRICS:
            raise ValueError(_unknown_metric(self.metric))
        if self.key is not None and self.metric is None:
            raise ValueError("a key needs its metric")
        return self


class ErrorSpec(SpecModel):
    """An error answer: a Graph error code, or an HTML page when ``html``."""

    code: int
    subcode: int | None = None
    http_status: int | None = Field(default=None, ge=400, le=599)
    html: bool = False
    message: str | None = None


class ChangeSpec(SpecModel):
    """``[[dataset.change]]``: what happens at the n-th poll or after a time."""

    poll: int | None = Field(default=None, ge=1)
    after: Duration | None = None
    #: The source whose polls are counted, and that an error answers.
    source: Source = "web"
    set: tuple[SetSpec, ...] = ()
    remove: tuple[RemoveSpec, ...] = ()
    error: ErrorSpec | None = None
    #: How many polls the error answers.
    times: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _trigger_and_action(self) -> ChangeSpec:
        if (self.poll is None) == (self.after is None):
            raise ValueError('give exactly one of poll = N or after = "90s"')
        if not (self.set or self.remove or self.error):
            raise ValueError("a change needs set, remove or error")
        return self


class DatasetSpec(SpecModel):
    """``[[dataset]]``: a dataset (Pixel), its owner and its events."""

    id: GraphId
    name: str = ""
    business: GraphId | None = None
    clients: tuple[GraphId, ...] = ()
    access: Literal["ok", "unknown", "denied"] = "ok"
    denied_code: Literal[10, 200, 100] = 10
    event: tuple[EventSpec, ...] = ()
    change: tuple[ChangeSpec, ...] = ()


class FaultSpec(ErrorSpec):
    """``[[fault]]``: errors answered to matching requests from the start."""

    dataset: GraphId | None = None
    #: How many requests the fault answers; 0 for no end.
    times: int = Field(default=1, ge=0)
    #: Answer every n-th matching request only.
    every: int = Field(default=1, ge=1)


class GenerateSpec(SpecModel):
    """``[generate]``: many synthetic datasets, derived on demand from a seed."""

    datasets: int = Field(default=1000, ge=0, le=10_000_000)
    events: int = Field(default=10, ge=0, le=100)
    offline_events: int = Field(default=0, ge=0, le=20)
    seed: int = 1
    id_start: int = Field(default=120_000_000_000_000, ge=1)
    businesses: int = Field(default=10, ge=1)
    business_id_start: int = Field(default=900_000_000_000, ge=1)
    #: Distinct value sets per event name; datasets draw from this pool.
    pool: int = Field(default=64, ge=1, le=100_000)
    agents: tuple[str, ...] = ()
    freshness: tuple[str, ...] = ("real_time", "hourly")


def _value(value: object) -> int | float | str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("a value is a number, or a text for freshness")
    return value


def _unknown_metric(metric: str) -> str:
    return f"unknown metric {metric!r}; use one of {', '.join(METRICS)}"


def check_metric_value(metric: str, key: str | None, value: object) -> None:
    """Raise ValueError unless ``value`` (with ``key``) fits catalogue ``metric``."""
    spec = METRICS.get(metric)
    if spec is None:
        raise ValueError(_unknown_metric(metric))
    if spec.keyed and not key:
        raise ValueError(f"{metric} needs a key (which identifier, dedupe key...)")
    if not spec.keyed and key is not None:
        raise ValueError(f"{metric} has no key; remove key = {key!r}")
    if spec.keys and key not in spec.keys:
        raise ValueError(f"{metric} keys are {', '.join(spec.keys)}, not {key!r}")
    if spec.kind == "text":
        if not isinstance(value, str):
            raise ValueError(f'{metric} is a text such as "real_time"')
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{metric} is a number")
    high = 10 if spec.kind == "score" else 100
    if not 0 <= value <= high:
        raise ValueError(f"{metric} must be within 0..{high}, got {value}")
