"""Database fixtures: SQLite in a temp dir always, PostgreSQL too when
MONITOR_TEST_DATABASE_URL is set. Each PostgreSQL test gets a schema of its
own, created and dropped here, so the suite never assumes an empty database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from monitor.config import Settings, load_config

PG_ENV = "MONITOR_TEST_DATABASE_URL"


def _backends() -> list[str]:
    return ["sqlite", "postgresql"] if os.environ.get(PG_ENV) else ["sqlite"]


@pytest.fixture(params=_backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL on each backend under test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/db/monitor.db"
        return
    base = os.environ[PG_ENV]
    schema = f"monitor_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def write_config(tmp_path: Path, database_url: str) -> Callable[..., Path]:
    """Write a config.yaml for this test (database filled in) and return its path."""

    def write(data: dict, name: str = "config.yaml") -> Path:
        data = {"database": database_url, **data}
        # The sample feeds link to made-up public sites: tests that are not
        # about full text do not reach for their article pages.
        poll = data.get("poll")
        if poll is None or (isinstance(poll, dict) and "fulltext" not in poll):
            data["poll"] = {**(poll or {}), "fulltext": "never"}
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
        return path

    return write


@pytest.fixture
def make_settings(write_config: Callable[..., Path]) -> Callable[..., Settings]:
    def make(data: dict) -> Settings:
        return load_config(write_config(data))

    return make
