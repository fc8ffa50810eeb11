"""Self-tests for the local test servers in tests/servers.py.

They exercise the servers with real clients (httpx, smtplib, apprise) so that
integration tests of the monitor can rely on them.
"""

from __future__ import annotations

import gzip
import smtplib
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

import apprise
import httpx
import pytest

from tests.servers import (
    LOOPBACK,
    SLACK_TOKENS,
    FeedServer,
    SmtpServer,
    WebhookServer,
    wait_for,
)

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>T</title><link>https://example.org/</link>
<description>d</description><item><title>One</title><guid>1</guid></item></channel></rss>
"""
RSS_2 = RSS.replace(b"<guid>1</guid>", b"<guid>2</guid>")


# --------------------------------------------------------------------------
# FeedServer
# --------------------------------------------------------------------------


def test_feed_server_serves_registered_feed_on_loopback(feed_server: FeedServer) -> None:
    url = feed_server.add("/feed.xml", RSS)

    response = httpx.get(url)

    assert url == f"http://127.0.0.1:{feed_server.port}/feed.xml" == feed_server.url("/feed.xml")
    assert response.status_code == 200
    assert response.content == RSS
    assert response.headers["content-type"] == "application/rss+xml; charset=utf-8"
    assert response.headers["etag"] == feed_server.etag("/feed.xml")
    assert response.headers["etag"].startswith('"')  # strong
    assert feed_server.statuses("/feed.xml") == [200]


def test_feed_server_unknown_path_is_404(feed_server: FeedServer) -> None:
    assert httpx.get(feed_server.url("/nope")).status_code == 404
    assert feed_server.statuses("/nope") == [404]


def test_feed_server_etag_conditional_get(feed_server: FeedServer) -> None:
    url = feed_server.add("/feed", RSS)

    first = httpx.get(url)
    second = httpx.get(url, headers={"If-None-Match": first.headers["etag"]})
    feed_server.set("/feed", RSS_2)
    third = httpx.get(url, headers={"If-None-Match": first.headers["etag"]})

    assert second.status_code == 304
    assert second.content == b""
    assert second.headers["etag"] == first.headers["etag"]
    assert third.status_code == 200
    assert third.content == RSS_2
    assert third.headers["etag"] != first.headers["etag"]
    assert feed_server.statuses("/feed") == [200, 304, 200]
    assert feed_server.requests_to("/feed")[1].headers["if-none-match"] == first.headers["etag"]


def test_feed_server_if_modified_since(feed_server: FeedServer) -> None:
    modified = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    url = feed_server.add("/feed", RSS, etag=False, last_modified=modified)

    first = httpx.get(url)
    same = httpx.get(url, headers={"If-Modified-Since": first.headers["last-modified"]})
    older = httpx.get(
        url, headers={"If-Modified-Since": format_datetime(modified - timedelta(seconds=1), usegmt=True)}
    )

    assert "etag" not in first.headers
    assert first.headers["last-modified"] == "Wed, 01 May 2024 12:00:00 GMT"
    assert [same.status_code, older.status_code] == [304, 200]
    assert feed_server.statuses("/feed") == [200, 304, 200]


def test_feed_server_gzip_only_when_accepted(feed_server: FeedServer) -> None:
    url = feed_server.add("/feed", RSS, gzip=True)

    with httpx.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as response:
        raw = b"".join(response.iter_raw())
    plain = httpx.get(url, headers={"Accept-Encoding": "identity"})

    assert response.headers["content-encoding"] == "gzip"
    assert gzip.decompress(raw) == RSS
    assert "content-encoding" not in plain.headers
    assert plain.content == RSS


def test_feed_server_status_and_redirect(feed_server: FeedServer) -> None:
    feed_server.set_status("/down", 503, b"busy", headers={"Retry-After": "120"})
    feed_server.add("/new", RSS)
    feed_server.redirect("/old", "/new")

    down = httpx.get(feed_server.url("/down"))
    moved = httpx.get(feed_server.url("/old"), follow_redirects=True)

    assert (down.status_code, down.content, down.headers["retry-after"]) == (503, b"busy", "120")
    assert moved.status_code == 200
    assert moved.content == RSS
    assert moved.history[0].status_code == 301
    assert moved.history[0].headers["location"] == feed_server.url("/new")
    assert feed_server.statuses("/old") == [301]

    feed_server.set("/down", RSS)  # recovers: back to 200, Retry-After gone
    recovered = httpx.get(feed_server.url("/down"))
    assert recovered.status_code == 200
    assert "retry-after" not in recovered.headers


def test_feed_server_records_requests(feed_server: FeedServer) -> None:
    feed_server.add("/feed", RSS)

    httpx.get(feed_server.url("/feed?page=2"), headers={"User-Agent": "monitor-test/1"})
    httpx.head(feed_server.url("/feed"))

    (get, head) = feed_server.requests
    assert (get.method, get.path, get.headers["user-agent"]) == ("GET", "/feed?page=2", "monitor-test/1")
    assert (head.method, head.path) == ("HEAD", "/feed")
    assert feed_server.count("/feed") == 2
    assert feed_server.count("/feed?page=2") == 1


def test_feed_server_hang_times_out_client_and_does_not_block_stop(feed_server: FeedServer) -> None:
    url = feed_server.hang("/slow", 30)

    with pytest.raises(httpx.ReadTimeout):
        httpx.get(url, timeout=httpx.Timeout(5.0, read=0.2))
    started = time.monotonic()
    feed_server.stop()

    assert time.monotonic() - started < 2.0  # not the 30 s of the hang
    assert feed_server.count("/slow") == 1
    assert feed_server.statuses("/slow") == []


def test_feed_server_down_then_up_on_same_port(feed_server: FeedServer) -> None:
    url = feed_server.add("/feed", RSS)
    port = feed_server.port

    feed_server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url)
    feed_server.start()

    assert feed_server.port == port
    assert httpx.get(url).content == RSS


# --------------------------------------------------------------------------
# WebhookServer
# --------------------------------------------------------------------------


def test_webhook_server_records_json_posts(webhook_server: WebhookServer) -> None:
    response = httpx.post(webhook_server.url("/hook"), json={"text": "hi"})

    assert (response.status_code, response.text) == (200, "ok")
    (post,) = webhook_server.posts
    assert post.path == "/hook"
    assert post.json == {"text": "hi"}
    assert post.body == b'{"text":"hi"}'
    assert post.headers["content-type"] == "application/json"


def test_webhook_server_fail_next(webhook_server: WebhookServer) -> None:
    webhook_server.fail_next(2, status=503, headers={"Retry-After": "1"})

    statuses = [httpx.post(webhook_server.url("/h"), content=b"x").status_code for _ in range(3)]

    assert statuses == [503, 503, 200]
    assert [a.status for a in webhook_server.attempts] == [503, 503, 200]
    assert len(webhook_server.posts) == 1
    assert webhook_server.posts[0].json is None


def test_webhook_server_down_then_up_on_same_port(webhook_server: WebhookServer) -> None:
    url = webhook_server.url("/h")

    webhook_server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.post(url, content=b"lost")
    webhook_server.start()
    httpx.post(url, content=b"kept")

    assert [p.body for p in webhook_server.posts] == [b"kept"]


def test_apprise_json_url_lands_on_webhook_server(webhook_server: WebhookServer) -> None:
    notifier = apprise.Apprise()
    assert notifier.add(f"json://{LOOPBACK}:{webhook_server.port}/alerts")

    assert notifier.notify(title="Title", body="Body")

    (post,) = webhook_server.posts
    assert post.path == "/alerts"
    assert post.json == {
        "version": "1.0",
        "title": "Title",
        "message": "Body",
        "attachments": [],
        "type": "info",
    }


def test_apprise_slack_lands_on_webhook_server(webhook_server: WebhookServer, slack_webhook: str) -> None:
    notifier = apprise.Apprise()
    assert notifier.add(slack_webhook)

    assert notifier.notify(title="Hit: <Acme> & co", body="line 1\nline 2", body_format=apprise.NotifyFormat.TEXT)

    (post,) = webhook_server.posts
    assert post.path == "/slack/" + "/".join(SLACK_TOKENS)
    assert post.headers["content-type"] == "application/json; charset=utf-8"
    assert post.json["mrkdwn"] is False  # TEXT in -> plain text out
    (attachment,) = post.json["attachments"]
    # apprise entity-escapes &, < and > for Slack itself.
    assert attachment["title"] == "Hit: &lt;Acme&gt; &amp; co"
    assert attachment["text"] == "line 1\nline 2"
    assert {"color", "footer", "ts"} <= attachment.keys()


def test_apprise_slack_reports_failure_from_webhook(webhook_server: WebhookServer, slack_webhook: str) -> None:
    notifier = apprise.Apprise()
    notifier.add(slack_webhook)

    webhook_server.fail_next(1, status=500)
    failed = notifier.notify(body="first")
    webhook_server.set_response(200, b'{"ok": true}', "application/json")
    not_ok_body = notifier.notify(body="second")  # webhook mode wants exactly b"ok"
    webhook_server.set_response()
    webhook_server.stop()
    down = notifier.notify(body="third")  # connection refused: False, no exception
    webhook_server.start()
    delivered = notifier.notify(body="fourth")

    assert (bool(failed), bool(not_ok_body), bool(down), bool(delivered)) == (False, False, False, True)
    assert [a.status for a in webhook_server.attempts] == [500, 200, 200]
    assert [p.json["attachments"][0]["text"] for p in webhook_server.posts] == ["second", "fourth"]


def test_wait_for_delivery_from_another_thread(webhook_server: WebhookServer) -> None:
    def send() -> None:
        httpx.post(webhook_server.url("/async"), json={"n": 1})

    thread = threading.Thread(target=send)
    thread.start()
    posts = wait_for(lambda: webhook_server.posts_to("/async"), timeout=5, message="POST /async")
    thread.join()

    assert posts[0].json == {"n": 1}


def test_wait_for_fails_clearly() -> None:
    with pytest.raises(AssertionError, match=r"timed out after 0.05s waiting for nothing \(last value: \[\]\)"):
        wait_for(lambda: [], timeout=0.05, message="nothing")


# --------------------------------------------------------------------------
# SmtpServer
# --------------------------------------------------------------------------


def test_smtp_server_receives_smtplib_message(smtp_server: SmtpServer) -> None:
    message = EmailMessage()
    message["Subject"] = "Héllo"
    message["From"] = "a@example.org"
    message["To"] = "b@example.org"
    message.set_content("body ✓\n")

    with smtplib.SMTP(smtp_server.host, smtp_server.port, local_hostname="localhost", timeout=5) as client:
        client.send_message(message)

    (mail,) = smtp_server.messages
    assert (mail.mail_from, mail.rcpt_tos) == ("a@example.org", ["b@example.org"])
    assert mail.subject == "Héllo"
    assert mail.text() == "body ✓\n"


def test_apprise_mailto_delivers_to_smtp_server(smtp_server: SmtpServer) -> None:
    notifier = apprise.Apprise()
    url = smtp_server.mailto_url(to="desk@example.org")
    assert url == f"mailto://127.0.0.1:{smtp_server.port}/?to=desk@example.org&from=monitor@example.org&mode=insecure"
    assert notifier.add(url)

    assert notifier.notify(title="Alert: Ünïcode", body="first line\nsecond line", body_format=apprise.NotifyFormat.TEXT)

    (mail,) = smtp_server.messages
    assert mail.mail_from == "monitor@example.org"
    assert mail.rcpt_tos == ["desk@example.org"]
    assert mail.subject == "Alert: Ünïcode"
    assert mail.to == "desk@example.org"
    assert mail.message.get_content_type() == "text/plain"
    assert mail.text().splitlines() == ["first line", "second line"]


def test_apprise_mailto_failure_then_recovery(smtp_server: SmtpServer, apprise_unthrottled: None) -> None:
    notifier = apprise.Apprise()
    notifier.add(smtp_server.mailto_url())
    port = smtp_server.port

    smtp_server.fail_next(1)
    rejected = notifier.notify(body="rejected")
    smtp_server.stop()
    down = notifier.notify(body="down")
    smtp_server.start()
    delivered = notifier.notify(body="delivered")

    assert (bool(rejected), bool(down), bool(delivered)) == (False, False, True)
    assert smtp_server.port == port
    assert [m.text().strip() for m in smtp_server.messages] == ["delivered"]


# --------------------------------------------------------------------------
# All servers
# --------------------------------------------------------------------------


@pytest.mark.parametrize("server_class", [FeedServer, WebhookServer, SmtpServer])
def test_servers_listen_on_loopback_only_and_release_port(server_class: type) -> None:
    with server_class() as server:
        port = server.port
        with socket.create_connection((LOOPBACK, port), timeout=5):
            pass
        # Bound to 127.0.0.1 only, not 0.0.0.0: another loopback address is refused.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.2", port), timeout=5).close()
    assert not server.running
    with socket.socket() as sock:
        # SO_REUSEADDR only to ignore TIME_WAIT leftovers of closed connections.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, port))  # nothing holds the port any more
        sock.listen()
