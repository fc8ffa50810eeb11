"""What every command shares: exit codes, loading settings, opening the store."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta

from monitor.config import Settings, load_config, parse_duration
from monitor.store.engine import make_engine
from monitor.store.repository import Repository

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2


def settings_of(args: argparse.Namespace) -> Settings:
    return load_config(args.config)


def repository(settings: Settings) -> Repository:
    return Repository(make_engine(settings.database))


def since_of(value: str | None, now: datetime) -> datetime | None:
    """`now` minus a duration such as 24h or 30d; ValueError if it is not one."""
    if not value:
        return None
    return now - timedelta(seconds=parse_duration(value))
