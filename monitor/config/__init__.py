"""config.yaml → validated, frozen settings (`model`), read and checked by `loading`."""

from monitor.config.durations import format_duration, parse_duration
from monitor.config.loading import find_config, format_loc, load_config, parse_config, template_path
from monitor.config.model import (
    CONFIG_ENV,
    DEFAULT_CONFIG,
    ChannelConfig,
    ClusterSettings,
    DedupSettings,
    DeliverySettings,
    EntityConfig,
    FeedConfig,
    FulltextSettings,
    PollSettings,
    RetentionSettings,
    Secret,
    Settings,
    WatchlistConfig,
    WebSettings,
    redact_url,
)

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG",
    "ChannelConfig",
    "ClusterSettings",
    "DedupSettings",
    "DeliverySettings",
    "EntityConfig",
    "FeedConfig",
    "FulltextSettings",
    "PollSettings",
    "RetentionSettings",
    "Secret",
    "Settings",
    "WatchlistConfig",
    "WebSettings",
    "find_config",
    "format_duration",
    "format_loc",
    "load_config",
    "parse_config",
    "parse_duration",
    "redact_url",
    "template_path",
]
