"""Feed text can ping no one and link nowhere, on every chat service apprise
reaches that has mentions or auto-links.

The medium comes from the channel URL's scheme (`medium_for`); each service
gets one title and snippet holding every mention syntax we know of (Slack
`<!channel>`/`<@U…>`/`@here`, Discord `@everyone`/`<@id>`/`<@&role>`, Matrix
`@room`/`@user:server`, Mattermost and Rocket.Chat `@all`/`@channel`,
Telegram `@username`, Mastodon `@user@instance`, Zulip `@**all**`, Lark
`<at user_id="all">`, QQ/OneBot `[CQ:at,qq=all]`) and bare domains. Where the
service's endpoint can be pointed at a loopback server, the message goes
through apprise and the real payload is checked; for the rest, the body and
title our renderer hands apprise are.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from monitor.models import HitRecord, Snippet
from monitor.notify.render import Medium, medium_for, render_alert, render_digest
from monitor.notify.sender import Notifier, limits_for
from tests.servers import SLACK_TOKENS

ARTICLE = "https://news.example.test/world/cartel-boss"
MENTIONS = (
    "@everyone @here @channel @room @all <!channel> <!here> <@U123ABC> <@123456789012345678> <@&456> <#789> "
    "@bob:matrix.org @alice@mastodon.social @durov @**all** @_**Bob** <at user_id=\"all\"></at> "
    "[CQ:at,qq=all] <users/all> <@all>"
)
DOMAINS = ("evil.com", "login.evil.co.uk", "пример.рф", "matrix.org", "mastodon.social")
TITLE = f"Cartel boss {MENTIONS} visit evil.com"
SNIPPET_TEXT = f"the cartel said {MENTIONS} see login.evil.co.uk, пример.рф or https://evil.example/x"


def hit() -> HitRecord:
    start = SNIPPET_TEXT.index("cartel")
    return HitRecord(
        id=1, watchlist="cartels", title=TITLE, link=ARTICLE, feed="Wire @here", terms=("cartel",),
        snippet=SNIPPET_TEXT, score=1.0, published=datetime(2026, 11, 27, 14, 5, tzinfo=UTC),
        found_at=datetime(2026, 11, 27, 14, 6, tzinfo=UTC),
        snippets=(Snippet(SNIPPET_TEXT, ((start, start + 6),)),),
    )


def assert_inert(text: str) -> None:
    """No mention of any service and no link but the article's in `text`."""
    assert not re.search("@(?!\u200b)", text), "an @ that is not followed by a zero-width space"
    assert not re.search(r"<\s*[@!#&]|<at\b|<users/", text, re.IGNORECASE)
    assert "[CQ:" not in text
    for domain in DOMAINS:
        assert domain not in text, domain
    assert not re.search(r"https?://(?!news\.example\.test/)", text)
    assert "evil.example" not in text


def assert_linked_once(text: str) -> None:
    assert [m.group(0) for m in re.finditer(r"https?://[^\s)>|\]\"\\]+", text)] == [ARTICLE]


# -- through apprise, to a loopback stand-in for the service ------------------------------


def send(url: str) -> None:
    message = render_alert(hit(), medium_for(url), limits=limits_for(url), channel="desk")
    result = Notifier().send(url, message)
    assert result.ok, result.reason


def payload_text(post: object) -> str:
    """The whole payload as text, less apprise's own icon URL."""
    body = getattr(post, "json", None)
    text = getattr(post, "body").decode("utf-8") if body is None else json.dumps(body, ensure_ascii=False)  # noqa: B009
    return re.sub(r"https://github\.com/caronc/apprise/[^\"]+", "", text)


def test_slack(slack_webhook: str, webhook_server) -> None:
    assert medium_for(slack_webhook) is Medium.SLACK
    send(slack_webhook)
    (post,) = webhook_server.posts_to("/slack/" + "/".join(SLACK_TOKENS))
    text = payload_text(post)
    assert_inert(text)
    assert re.findall(r"<(https?://[^|>]+)", text) == [ARTICLE]  # the only <url|label>


def test_discord(webhook_server, monkeypatch: pytest.MonkeyPatch) -> None:
    from apprise.plugins.discord import NotifyDiscord

    monkeypatch.setattr(NotifyDiscord, "notify_url", webhook_server.url("/discord"))
    url = "discord://1234/abcdefgh"
    assert medium_for(url) is Medium.MARKDOWN
    send(url)
    (post,) = webhook_server.posts_to("/discord/1234/abcdefgh")
    text = payload_text(post)
    assert_inert(text)
    assert_linked_once(text)


def test_matrix(webhook_server) -> None:
    url = f"matrix://bot:hooktoken@127.0.0.1:{webhook_server.port}/?mode=matrix"
    assert medium_for(url) is Medium.CHAT
    send(url)
    (post,) = webhook_server.posts_to("/api/v1/matrix/hook/hooktoken")
    text = post.json["text"]
    assert_inert(text)
    assert_linked_once(text)
    assert "Cartel boss @\u200beveryone @\u200bhere" in text  # reads the same


def test_mattermost(webhook_server) -> None:
    url = f"mmost://127.0.0.1:{webhook_server.port}/abcdefghijklmnopqrstuvwxyz"
    assert medium_for(url) is Medium.MARKDOWN
    send(url)
    (post,) = webhook_server.posts_to("/hooks/abcdefghijklmnopqrstuvwxyz")
    text = payload_text(post)
    assert_inert(text)
    assert_linked_once(text)


def test_rocket_chat(webhook_server) -> None:
    url = f"rocket://abcdefgh/ijklmnop@127.0.0.1:{webhook_server.port}/#general"
    assert medium_for(url) is Medium.MARKDOWN
    send(url)
    (post,) = webhook_server.posts
    text = payload_text(post)
    assert_inert(text)
    assert_linked_once(text)


def test_telegram(webhook_server, monkeypatch: pytest.MonkeyPatch) -> None:
    from apprise.plugins.telegram import NotifyTelegram

    monkeypatch.setattr(NotifyTelegram, "notify_url", webhook_server.url("/bot"))
    url = "tgram://123456789:abcdefg_hijklmnop/12345"
    assert medium_for(url) is Medium.CHAT
    send(url)
    (post,) = webhook_server.posts_to("/bot123456789:abcdefg_hijklmnop/sendMessage")
    text = post.json["text"]
    assert_inert(text)
    assert_linked_once(text)


def test_nextcloud_talk(webhook_server) -> None:
    url = f"nctalk://user:pass@127.0.0.1:{webhook_server.port}/roomid"
    assert medium_for(url) is Medium.MARKDOWN
    webhook_server.set_response(201, b"{}", "application/json")
    send(url)
    (post,) = webhook_server.posts
    text = payload_text(post)
    assert_inert(text)
    assert_linked_once(text)


# -- services on fixed https endpoints: what our renderer gives apprise ---------------------


@pytest.mark.parametrize(
    "url",
    [
        "msteams://team/abc-123/def-456/ghi-789",
        "workflows://host.example:443/workflow/signature",
        "zulip://bot@org/abcdefghijklmnopqrstuvwxyzabcdef/stream",
        "gchat://workspace/key/token",
        "webex://abcdefghijklmnopqrstuvwxyzabcdefghijklmnop",
        "guilded://1234/abcdef",
        "revolt://bottoken/channelid",
        "mastodons://token@mastodon.example",
        "misskeys://token@misskey.example",
        "bsky://user.bsky.social/apppassword",
        "x://ck/cs/ak/as",
        "lark://token",
        "feishu://token",
        "onebot://127.0.0.1/token",
        "qq://token",
        "dingtalk://token",
        "wecombot://key",
        "line://token/user",
        "signal://127.0.0.1/+15551234567/+15557654321",
        "kook://token/channel",
        "ryver://org/token",
        "twist://pass:email@example.com",
    ],
)
def test_every_other_chat_service(url: str) -> None:
    medium = medium_for(url)
    assert medium in (Medium.MARKDOWN, Medium.CHAT, Medium.SLACK)
    message = render_alert(hit(), medium)
    assert_inert(message.title)
    assert_inert(message.body)
    assert_linked_once(message.body)
    digest = render_digest("desk", [hit()], hit().found_at, hit().found_at, medium)
    assert_inert(digest.title + "\n" + digest.body)


def test_email_keeps_the_text_as_written() -> None:
    """Email is HTML-escaped, not defanged: no client of it pings, and it fetches no previews."""
    message = render_alert(hit(), medium_for("mailto://127.0.0.1:25/?to=a@b.example"))
    assert "@everyone @here" in message.body and "evil.com" in message.body
    assert "<!channel>" not in message.body and "&lt;!channel&gt;" in message.body


def test_plain_services_without_mentions_are_left_alone() -> None:
    assert medium_for("ntfy://topic") is Medium.TEXT
    assert "@here" in render_alert(hit(), Medium.TEXT).body
