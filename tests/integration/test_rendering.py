"""Alerts rendered per medium and sent through apprise to a local Slack stand-in:
untrusted feed text must never ping, mention or link."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from monitor.models import HitRecord
from monitor.notify.render import Medium, medium_for, render_alert, render_digest, render_hit
from monitor.notify.sender import Notifier
from tests.servers import SLACK_TOKENS
from tests.snippets import marked

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
    assert medium_for("mailtos://u:p@host") is Medium.EMAIL
    assert medium_for("mailto://host:25/?to=a@b.example") is Medium.EMAIL
    assert medium_for("discord://1234/token") is Medium.MARKDOWN
    assert medium_for("https://discord.com/api/webhooks/1/x") is Medium.MARKDOWN
    assert medium_for("mmost://host/token") is Medium.MARKDOWN
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


def test_slack_payload_shape_for_an_alert(slack_webhook, webhook_server) -> None:
    hit = evil_hit(title="Cartel *labs* hit", snippets=(marked("the **cartel** said <!channel>"),))
    assert Notifier().send(slack_webhook, render_alert(hit, medium_for(slack_webhook))).ok
    (post,) = webhook_server.posts_to("/slack/" + "/".join(SLACK_TOKENS))
    assert post.json["mrkdwn"] is True
    (attachment,) = post.json["attachments"]
    assert attachment["title"] == "[cartels] Cartel ∗labs∗ hit"  # feed emphasis is a look-alike, never bold
    text = attachment["text"]
    assert text.startswith("*cartels*: <http://news.example.test/real-article|Cartel ")
    assert "*cartel*" in text  # **term** arrives as Slack bold
    assert "<!channel" not in json.dumps(post.json)


def test_slack_digest_links_only_the_articles(slack_webhook, webhook_server) -> None:
    hits = [
        evil_hit(id=1),
        evil_hit(id=2, watchlist="security", link="https://news.example.test/two", published=datetime(2026, 11, 27, 15, tzinfo=UTC)),
        evil_hit(id=3, link="javascript:alert(1)"),
    ]
    start, end = datetime(2026, 11, 27, 13, tzinfo=UTC), datetime(2026, 11, 27, 19, tzinfo=UTC)
    message = render_digest("desk", hits, start, end, Medium.SLACK)
    assert message.title == "monitor digest: 3 hits (cartels 2, security 1)"
    assert Notifier().send(slack_webhook, message).ok
    (post,) = webhook_server.posts_to("/slack/" + "/".join(SLACK_TOKENS))
    payload = json.dumps(post.json, ensure_ascii=False)
    for control in ("<!channel", "<!here", "<!subteam", "<@U", "http://evil", "https://evil", "javascript:"):
        assert control not in payload, control
    assert sorted(re.findall(r"<(https?://[^|>]+)", payload)) == [
        "http://news.example.test/real-article",
        "https://news.example.test/two",
    ]


def test_discord_message_cannot_ping(webhook_server, monkeypatch) -> None:
    from apprise.plugins.discord import NotifyDiscord

    monkeypatch.setattr(NotifyDiscord, "notify_url", webhook_server.url("/discord"))
    url = "discord://1234/abcdefgh"
    assert medium_for(url) is Medium.MARKDOWN
    hit = evil_hit(
        title="@everyone <@123> <@&456> <#789> @here [click](https://evil.example)",
        feed="@here news",
        snippets=(marked("**cartel** boss @everyone"),),
        link="https://news.example.test/@desk/story",
    )
    assert Notifier().send(url, render_alert(hit, Medium.MARKDOWN)).ok
    (post,) = webhook_server.posts_to("/discord/1234/abcdefgh")
    payload = json.dumps(post.json, ensure_ascii=False)
    assert not re.search("@(?!\u200b)", payload)  # every @ is followed by a zero-width space
    assert "allow_mentions" not in payload
    assert not re.search(r"<[@#!]", payload)
    assert re.findall(r"\]\((https?://[^)]+)\)", payload) == ["https://news.example.test/%40desk/story"]
    assert "https://evil" not in payload
