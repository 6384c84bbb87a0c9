"""The configuration file: load, interpolate the environment, validate.

:func:`load_config` is the one way in; it returns a frozen :class:`Config`
or raises :class:`~dqwatch.errors.ConfigError` with every problem at once.
"""

from dqwatch.config._channels import Channel, ConsoleChannel, EmailChannel, SlackChannel
from dqwatch.config._load import SECRET_KEYS, load_config
from dqwatch.config._models import (
    Config,
    DatasetConfig,
    DiscoverConfig,
    GraphSettings,
    OutboxSettings,
    PollSettings,
    Route,
    RouteMatch,
    RulesSettings,
    StorageSettings,
    TemplatesSettings,
    WebSettings,
)

__all__ = [
    "SECRET_KEYS",
    "Channel",
    "Config",
    "ConsoleChannel",
    "DatasetConfig",
    "DiscoverConfig",
    "EmailChannel",
    "GraphSettings",
    "OutboxSettings",
    "PollSettings",
    "Route",
    "RouteMatch",
    "RulesSettings",
    "SlackChannel",
    "StorageSettings",
    "TemplatesSettings",
    "WebSettings",
    "load_config",
]
