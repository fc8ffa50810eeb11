"""Alerts rendered per medium and sent through apprise to a local Slack stand-in:
untrusted feed text must never ping, mention or link."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from monitor.models import HitRecord
from monitor.notify.render import Medium, medium_for, render_hit
from monitor.notify.sender import Notifier
from tests.servers import SLACK_TOKENS

EVIL_TITLE = "<!channel> Cartel <@U123> <http://evil.example|click> <!here> & more >"


def evil_hit(**changes) -> HitRecord:
    data = dict(
        id=1,
        watchlist="cartels",
        title=EVIL_TITLE,
        link="http://news.example.test/real-article",
        feed="Feed <!subteam^S1>",
        terms=("cartel",),
        snippet="the cartel <@U999|boss> said <https://evil.example/x>",
        score=1.0,
        published=datetime(2026, 11, 27, 14, 5, tzinfo=UTC),
        found_at=datetime(2026, 11, 27, 14, 6, tzinfo=UTC),
    )
    data.update(changes)
    return HitRecord(**data)


def test_medium_is_chosen_by_url() -> None:
    assert medium_for("slack://T1/B2/C3") is Medium.SLACK
    assert medium_for("https://hooks.slack.com/services/T1/B2/C3") is Medium.SLACK
    assert medium_for("mailtos://u:p@host") is Medium.TEXT
    assert medium_for("json://host/path") is Medium.TEXT


def test_slack_message_contains_no_control_sequences() -> None:
    message = render_hit(evil_hit(), Medium.SLACK)
    lines = [message.title, *message.body.split("\n")]
    assert not [line for line in lines if "<" in line or ">" in line.removeprefix("> ")]
    assert not [line for line in lines if "http://evil" in line or "https://evil" in line]
    assert "(http://news.example.test/real-article)" in message.body


def test_plain_text_title_has_no_line_breaks() -> None:
    message = render_hit(evil_hit(title="Line one\r\nBcc: victim@example.org"), Medium.TEXT)
    assert "\n" not in message.title and "\r" not in message.title


def test_evil_title_through_apprise_to_slack(slack_webhook, webhook_server) -> None:
    hit = evil_hit()
    result = Notifier().send(slack_webhook, render_hit(hit, Medium.SLACK))
    assert result.ok, result.reason
    (post,) = webhook_server.posts_to("/slack/" + "/".join(SLACK_TOKENS))
    payload = json.dumps(post.json, ensure_ascii=False)
    for control in ("<!channel", "<!here", "<!subteam", "<@U123", "<@U999", "http://evil", "https://evil"):
        assert control not in payload, control
    assert re.findall(r"<(https?://[^|>]+)", payload) == ["http://news.example.test/real-article"]


def test_failed_send_reports_the_reason_without_the_secret(webhook_server) -> None:
    webhook_server.fail_next(1, status=500)
    url = f"json://user:s3cretpass@127.0.0.1:{webhook_server.port}/hook"
    result = Notifier().send(url, render_hit(evil_hit(), Medium.TEXT))
    assert not result.ok
    assert "500" in result.reason
    assert "s3cretpass" not in result.reason
