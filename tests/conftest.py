"""Shared pytest fixtures.

``tests`` is a package (``tests/__init__.py``, and one in each sub-folder), so
pytest puts the repository root on ``sys.path`` and test modules can
``from tests.servers import ...`` under plain ``pytest``, ``python -m pytest``
and pytest-xdist alike.

Here: local servers (loopback only) -- feed_server, webhook_server,
slack_webhook, smtp_server, apprise_unthrottled, wait_for.

Elsewhere: the database fixtures (database_url on SQLite and, with
MONITOR_TEST_DATABASE_URL, PostgreSQL; write_config; make_settings) are in
tests/integration/conftest.py, and the fakes for unit-testing the poller
(FakeClock, FakeTransport, FakeFeedStore) in tests/fakes.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import servers

# ==========================================================================
# Local servers (loopback only)
#
# Function-scoped: every test gets fresh servers on fresh ports, started
# before the test body runs and closed (port released) afterwards, even if
# the test stopped them.  Each starts in a few milliseconds.
# ==========================================================================


@pytest.fixture
def feed_server() -> Iterator[servers.FeedServer]:
    """HTTP server for feed documents; see ``tests.servers.FeedServer``."""
    with servers.FeedServer() as server:
        yield server


@pytest.fixture
def webhook_server() -> Iterator[servers.WebhookServer]:
    """HTTP server recording webhook posts; answers 200 ``ok``."""
    with servers.WebhookServer() as server:
        yield server


@pytest.fixture
def apprise_unthrottled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Switch off apprise's rate limit (5.5 s email, 1.2 s Slack between sends
    from one plugin instance). Use when a test sends twice through one
    Apprise object or plugin."""
    servers.unthrottle_apprise(monkeypatch)


@pytest.fixture
def slack_webhook(
    webhook_server: servers.WebhookServer,
    monkeypatch: pytest.MonkeyPatch,
    apprise_unthrottled: None,
) -> str:
    """An apprise ``slack://`` URL whose posts land on ``webhook_server``.

    Posts arrive at ``/slack/<token_a>/<token_b>/<token_c>``
    (``"/slack/" + "/".join(servers.SLACK_TOKENS)``).  Also unthrottles apprise.
    """
    return servers.slack_base(webhook_server, monkeypatch)


@pytest.fixture
def smtp_server() -> Iterator[servers.SmtpServer]:
    """aiosmtpd server collecting messages; ``smtp_server.mailto_url()`` for apprise."""
    with servers.SmtpServer() as server:
        yield server


@pytest.fixture(name="wait_for")
def wait_for_fixture() -> object:
    """``tests.servers.wait_for``, for tests that prefer a fixture to an import."""
    return servers.wait_for
