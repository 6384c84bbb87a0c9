"""The validated, frozen shape of a dqwatch configuration file.

Field names follow the TOML keys (aliases where a key is a Python keyword or
a table is named in the singular). Paths are resolved against the config
file's folder, taken from the validation context key ``"base"``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    WrapSerializer,
    field_validator,
    model_validator,
)

from dqwatch.config._channels import Channel
from dqwatch.config._fields import (
    DigitsId,
    HttpUrl,
    Int,
    NonBlank,
    OptionalSecret,
    OptionalText,
    duration,
    int_between,
    invalid,
    quote,
    unique,
)
from dqwatch.durations import format_duration
from dqwatch.model import Source

Severity = Literal["info", "warning", "critical"]
Edge = Literal["owned_pixels", "client_pixels"]
_API_VERSION = re.compile(r"v\d+\.\d+")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _base(info: ValidationInfo) -> Path | None:
    context = info.context
    return context.get("base") if isinstance(context, dict) else None


def _under_base(path: Path, info: ValidationInfo) -> Path:
    path = path.expanduser()
    base = _base(info)
    return base / path if base is not None and not path.is_absolute() else path


def _secret_not_blank(value: SecretStr) -> SecretStr:
    if not value.get_secret_value().strip():
        raise invalid(
            "is empty", "set it to the token, e.g. from an environment variable"
        )
    return value


Sources = Annotated[tuple[Source, ...], AfterValidator(unique("source"))]


class GraphSettings(_Model):
    """How to reach the Graph API: ``[graph]``."""

    base_url: HttpUrl = "https://graph.facebook.com"
    api_version: str = "v24.0"
    access_token: Annotated[SecretStr, AfterValidator(_secret_not_blank)]
    app_secret: OptionalSecret = None
    agent_name: OptionalText = None
    max_concurrency: Annotated[Int, int_between(1, 1000)] = 32
    timeout: Annotated[float, duration(positive=True, maximum=600)] = 30.0
    max_retries: Annotated[Int, int_between(0, 10)] = 4
    batch_size: Annotated[Int, int_between(0, 50)] = 0
    usage_window: Annotated[float, duration(positive=True)] = 3600.0
    """The API's rolling rate-limit window; only the simulator needs another."""
    """Requests per batch call; 0 sends every request on its own."""

    @field_validator("api_version")
    @classmethod
    def _version_form(cls, value: str) -> str:
        if not _API_VERSION.fullmatch(value):
            raise invalid(
                f"{quote(value)} is not an API version",
                'write it as "v" and the version number, e.g. "v24.0"',
            )
        return value


class StorageSettings(_Model):
    """Where snapshots are kept and for how long: ``[storage]``."""

    path: Path = Field(default=Path("dqwatch.db"), validate_default=True)
    history: Annotated[float, duration(positive=True)] = 90 * 86400.0

    @field_validator("path")
    @classmethod
    def _resolve(cls, value: Path, info: ValidationInfo) -> Path:
        return _under_base(value, info)


class PollSettings(_Model):
    """How often each dataset is polled: ``[poll]``."""

    interval: Annotated[float, duration(minimum=10)] = 15 * 60.0
    jitter: Annotated[float, duration()] = 60.0
    """Each dataset's due time is spread by up to this much."""

    @model_validator(mode="after")
    def _jitter_below_interval(self) -> PollSettings:
        if self.jitter >= self.interval:
            raise invalid(
                "must be shorter than the poll interval",
                "lower jitter or raise interval",
                at="jitter",
            )
        return self


class DatasetConfig(_Model):
    """One dataset (Pixel) to watch: a ``[[dataset]]`` table."""

    id: DigitsId
    name: str
    """Defaults to the id."""
    owner: str = ""
    sources: Sources = ("web",)

    @model_validator(mode="before")
    @classmethod
    def _name_defaults_to_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("name") and "id" in data:
            return {**data, "name": str(data["id"]).strip()}
        return data


class DiscoverConfig(_Model):
    """Datasets found through a business: a ``[[discover]]`` table."""

    business_id: DigitsId
    owner: str = ""
    sources: Sources = ("web",)
    edges: Annotated[tuple[Edge, ...], AfterValidator(unique("edge"))] = (
        "owned_pixels",
        "client_pixels",
    )


class RulesSettings(_Model):
    """Which rule files apply: ``[rules]``.

    ``configured`` is False when the file has no ``[rules]`` table: the
    packaged default rules apply then.
    """

    filled_by_loader: ClassVar[frozenset[str]] = frozenset({"configured"})

    paths: tuple[NonBlank, ...] = ()
    """Glob patterns, absolute."""
    configured: bool = False

    @field_validator("paths")
    @classmethod
    def _absolute(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        return tuple(str(_under_base(Path(pattern), info)) for pattern in value)

    @model_validator(mode="after")
    def _paths_given(self) -> RulesSettings:
        if self.configured and "paths" not in self.model_fields_set:
            raise invalid(
                "is missing: [rules] replaces the packaged rules with your files",
                'add paths = ["rules/*.toml"], '
                "or remove [rules] to use the packaged rules",
                at="paths",
            )
        return self


class TemplatesSettings(_Model):
    """A folder of templates overriding the packaged ones by name: ``[templates]``."""

    path: Path | None = None

    @field_validator("path")
    @classmethod
    def _existing_folder(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        folder = _under_base(value, info)
        if not folder.is_dir():
            raise invalid(
                f"folder {quote(folder)} does not exist",
                "create it, correct the path (relative to the config file), "
                "or remove [templates] to use the packaged templates",
            )
        return folder


def _non_empty(values: tuple[str, ...]) -> tuple[str, ...]:
    if not values:
        raise invalid(
            "is an empty list, which matches nothing",
            "list at least one value, or remove the key to match everything",
        )
    return values


class RouteMatch(_Model):
    """What a route takes; a key left out matches everything.

    Each key holds alternatives: an alert matches when its value is one of
    them (``event`` values are globs).
    """

    rule: Annotated[tuple[str, ...], AfterValidator(_non_empty)] = ()
    severity: Annotated[tuple[Severity, ...], AfterValidator(_non_empty)] = ()
    dataset: Annotated[tuple[DigitsId, ...], AfterValidator(_non_empty)] = ()
    owner: Annotated[tuple[str, ...], AfterValidator(_non_empty)] = ()
    source: Annotated[tuple[Source, ...], AfterValidator(_non_empty)] = ()
    event: Annotated[tuple[str, ...], AfterValidator(_non_empty)] = ()

    @field_validator("*", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return value if isinstance(value, list | tuple) else (value,)


class Route(_Model):
    """One ``[[route]]``: alerts it matches go to the channels in ``to``."""

    match: RouteMatch = RouteMatch()
    to: Annotated[tuple[str, ...], AfterValidator(unique("channel name"))]
    continue_: bool = Field(default=False, alias="continue")
    """Whether later routes are tried after this one matched."""


class OutboxSettings(_Model):
    """How long notifications are retried before they are given up: ``[outbox]``."""

    max_age: Annotated[float, duration(positive=True)] = 86400.0
    """A notification still undelivered this long after it was written is given up."""


class WebSettings(_Model):
    """The status page, ``/metrics`` and ``/healthz``: ``[web]``."""

    listen: str = "127.0.0.1:8787"
    """``host:port``; an IPv6 host goes in brackets; port 0 picks a free port."""

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        if not _is_host_port(value):
            raise invalid(
                f"{quote(value)} is not host:port",
                'write e.g. "127.0.0.1:8787", "0.0.0.0:8787" or "[::1]:8787"',
            )
        return value

    @property
    def host(self) -> str:
        """The host part, without brackets."""
        return self.listen.rpartition(":")[0].removeprefix("[").removesuffix("]")

    @property
    def port(self) -> int:
        """The port part."""
        return int(self.listen.rpartition(":")[2])


def _is_host_port(text: str) -> bool:
    host, colon, port = text.rpartition(":")
    bare = host.removeprefix("[").removesuffix("]")
    # An IPv6 address has colons of its own and must be bracketed.
    bracketed_if_ipv6 = (":" in bare) == host.startswith("[")
    return (
        bool(colon and bare and port.isdigit() and bracketed_if_ipv6)
        and int(port) <= 65535
        and not any(c.isspace() for c in host)
    )


def _frozen_mapping(channels: Mapping[str, Channel]) -> Mapping[str, Channel]:
    return MappingProxyType(dict(channels))


Channels = Annotated[
    Mapping[str, Channel],
    AfterValidator(_frozen_mapping),
    WrapSerializer(lambda value, serialize: serialize(dict(value))),
]


class Config(_Model):
    """A whole configuration file, validated; build it with ``load_config``."""

    filled_by_loader: ClassVar[frozenset[str]] = frozenset({"source"})

    source: Path
    """The configuration file, absolute."""
    graph: GraphSettings
    storage: StorageSettings = StorageSettings()
    poll: PollSettings = PollSettings()
    datasets: tuple[DatasetConfig, ...] = Field(default=(), alias="dataset")
    discover: tuple[DiscoverConfig, ...] = ()
    rules: RulesSettings = RulesSettings()
    templates: TemplatesSettings = TemplatesSettings()
    routes: tuple[Route, ...] = Field(default=(), alias="route")
    channels: Channels = Field(
        default_factory=lambda: MappingProxyType({}), alias="channel"
    )
    outbox: OutboxSettings = OutboxSettings()
    web: WebSettings = WebSettings()

    @model_validator(mode="before")
    @classmethod
    def _storage_from_context(cls, data: Any) -> Any:
        # The default database path is relative to the config file too, so an
        # absent [storage] is validated like an empty one, with the context.
        if isinstance(data, dict) and "storage" not in data:
            return {**data, "storage": {}}
        return data

    @field_validator("rules", mode="before")
    @classmethod
    def _mark_configured(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        if "configured" in value:
            raise invalid("unknown key", "remove it", at="configured")
        return {**value, "configured": True}

    def describe(self) -> str:
        """One line for the start-up log: what is watched and where alerts go."""
        channels = ", ".join(f"{name}: {ch.type}" for name, ch in self.channels.items())
        rules = (
            "packaged rules"
            if not self.rules.configured
            else (f"rules from {len(self.rules.paths)} pattern(s)")
        )
        return (
            f"{_count(len(self.datasets), 'dataset')}, "
            f"{_count(len(self.discover), 'discover entry', 'discover entries')}, "
            f"{_count(len(self.channels), 'channel')}"
            f"{f' ({channels})' if channels else ''}, "
            f"{_count(len(self.routes), 'route')}, {rules}, "
            f"polling every {format_duration(self.poll.interval)}, "
            f"storage {self.storage.path}"
        )


def _count(number: int, one: str, many: str = "") -> str:
    return f"{number} {one if number == 1 else many or one + 's'}"
