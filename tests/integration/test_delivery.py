"""Delivery guarantees against real receivers on loopback, with a frozen clock:
retries deliver exactly once, digests go out once per window (a missed one on
start), storm control summarises the overflow, nothing is dropped."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from monitor.cli import main
from monitor.service import Service

DATA = Path(__file__).resolve().parents[1] / "data"
FIXTURE = (DATA / "us-mexico-security.xml").read_bytes()
MX = ZoneInfo("America/Mexico_City")
ARTICLE = "Trump Administration Torn Over Strategy to Combat Mexican Cartels"
SPANISH = "Delegación mexicana llega a Washington para negociar acuerdo de seguridad"
OPEC = "OPEC+ keeps output steady as oil prices slide"


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def config(feed_url: str, channels: dict, watch_channels: list[str]) -> dict:
    return {
        "poll": {"interval": "15m", "timeout": "5s"},
        "delivery": {"max_attempts": 6, "retry_delay": "1m", "summary_delay": "10m"},
        "feeds": [{"name": "Example World News", "url": feed_url}],
        "channels": channels,
        "watchlists": [
            {"name": "cartels", "keywords": ["cartel", "cartels", "cárteles"], "channels": watch_channels},
        ],
    }


def hook(server, path: str = "/hook") -> str:
    return f"json://127.0.0.1:{server.port}{path}"


def test_receiver_down_for_three_attempts_then_up_delivers_exactly_once(
    feed_server, webhook_server, make_settings
) -> None:
    url = feed_server.add("/feed.xml", FIXTURE)
    clock = Clock(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))
    service = Service(make_settings(config(url, {"hook": {"urls": [hook(webhook_server)]}}, ["hook"])), clock=clock, echo=lambda _: None)
    service.poll(all_feeds=True)
    webhook_server.fail_next(9, status=503)  # three attempts for each of the three hits
    for _ in range(3):
        assert service.dispatch().failed == 3
        clock.advance(hours=1)
    assert service.dispatch().sent == 3
    for _ in range(3):
        clock.advance(hours=2)
        assert service.dispatch().sent == 0
    assert len(webhook_server.posts_to("/hook")) == 3
    assert len(webhook_server.attempts) == 12
    assert service.outbox.counts() == {"sent": 3}


def digest_settings(feed_server, smtp_server, make_settings, **channel):
    url = feed_server.add("/feed.xml", FIXTURE)
    email = {
        "urls": [smtp_server.mailto_url(to="desk@example.org")],
        "mode": "digest",
        "schedule": "0 7,13,19 * * *",
        "timezone": "America/Mexico_City",
        **channel,
    }
    return make_settings(config(url, {"desk-email": email}, ["desk-email"]))


def test_digest_goes_out_once_at_its_time_grouped_newest_first(
    feed_server, smtp_server, make_settings
) -> None:
    settings = digest_settings(feed_server, smtp_server, make_settings)
    clock = Clock(datetime(2026, 11, 29, 12, 0, tzinfo=MX))
    service = Service(settings, clock=clock, echo=lambda _: None)
    assert service.poll(all_feeds=True).hits == 3
    assert service.dispatch().messages == 0  # not 13:00 yet
    assert smtp_server.messages == []
    clock.advance(minutes=60, seconds=2)
    assert service.dispatch().messages == 1
    assert service.dispatch().messages == 0
    clock.advance(hours=8)  # 21:00: the 19:00 window had nothing new
    assert service.dispatch().messages == 0
    (mail,) = smtp_server.messages
    assert "3 hits" in mail.subject and "cartels" in mail.subject
    html = mail.text("html")
    # newest first within the group: the Spanish article (22:40 UTC) before the others
    positions = [html.find(t) for t in ("Delegación mexicana", ARTICLE.split(" Over")[0], "OPEC+")]
    assert all(p >= 0 for p in positions)
    assert service.outbox.counts() == {"sent": 3}


def test_digest_missed_while_stopped_is_sent_once_on_start(feed_server, smtp_server, make_settings) -> None:
    settings = digest_settings(feed_server, smtp_server, make_settings)
    first = Service(settings, clock=Clock(datetime(2026, 11, 29, 12, 0, tzinfo=MX)), echo=lambda _: None)
    first.poll(all_feeds=True)
    first.dispatch()
    # The daemon is down at 13:00; it starts again at 13:40.
    second = Service(settings, clock=Clock(datetime(2026, 11, 29, 13, 40, tzinfo=MX)), echo=lambda _: None)
    assert second.dispatch().messages == 1
    third = Service(settings, clock=Clock(datetime(2026, 11, 29, 13, 45, tzinfo=MX)), echo=lambda _: None)
    assert third.dispatch().messages == 0
    assert len(smtp_server.messages) == 1


def test_min_score_skips_weak_hits(feed_server, webhook_server, make_settings) -> None:
    url = feed_server.add("/feed.xml", FIXTURE)
    channels = {"strict": {"urls": [hook(webhook_server)], "min_score": 3}}
    service = Service(make_settings(config(url, channels, ["strict"])), echo=lambda _: None)
    summary = service.poll(all_feeds=True)
    strong = [h.hit for h in summary.new_hits if h.hit.score >= 3]
    assert 0 < len(strong) < 3
    service.dispatch()
    assert sorted(p.json["title"] for p in webhook_server.posts) == sorted(f"[cartels] {h.title}" for h in strong)


def burst_feed(count: int) -> bytes:
    items = "".join(
        f"<item><title>Cartel story number {i}</title><link>http://burst.example/{i}</link>"
        f"<guid>burst-{i}</guid><description>The cartel struck again, report {i}.</description></item>"
        for i in range(count)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Burst</title>{items}</channel></rss>'.encode()


def test_storm_control_summarises_a_burst_of_200(feed_server, webhook_server, make_settings) -> None:
    url = feed_server.add("/burst.xml", burst_feed(200))
    channels = {"ops": {"urls": [hook(webhook_server)], "max_per_hour": 20}}
    clock = Clock(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))
    service = Service(make_settings(config(url, channels, ["ops"])), clock=clock, echo=lambda _: None)
    assert service.poll(all_feeds=True).hits == 200
    first = service.dispatch()
    assert (first.sent, first.held, first.messages) == (20, 180, 0)
    clock.advance(minutes=5)
    assert service.dispatch().messages == 0  # the summary waits summary_delay for the burst to settle
    clock.advance(minutes=6)
    assert service.dispatch().messages == 1
    posts = webhook_server.posts_to("/hook")
    assert len(posts) == 21
    summary = posts[-1].json
    assert "180" in summary["title"] + summary["message"] and "cartels" in summary["title"] + summary["message"]
    assert service.outbox.counts() == {"sent": 200}
    # An hour later single alerts flow again.
    feed_server.set("/burst.xml", burst_feed(205))
    clock.advance(hours=1)
    service.poll(all_feeds=True)
    assert service.dispatch().sent == 5


def test_deliveries_cli_lists_and_retries_failed(feed_server, webhook_server, write_config, capsys) -> None:
    url = feed_server.add("/feed.xml", FIXTURE)
    data = config(url, {"hook": {"urls": [hook(webhook_server)]}}, ["hook"])
    data["delivery"]["max_attempts"] = 1
    path = write_config(data)
    webhook_server.fail_next(3, status=500)
    assert main(["poll", "--once", "--config", str(path)]) == 0
    capsys.readouterr()
    assert main(["deliveries", "--failed", "--format", "json", "--config", str(path)]) == 0
    failed = json.loads(capsys.readouterr().out)
    assert len(failed) == 3 and all(d["status"] == "failed" and "500" in d["last_error"] for d in failed)
    assert main(["deliveries", "retry", str(failed[0]["id"]), "--config", str(path)]) == 0
    assert "re-queued 1 failed delivery" in capsys.readouterr().out
    assert main(["poll", "--once", "--config", str(path)]) == 0
    assert len(webhook_server.posts) == 1
    assert main(["deliveries", "retry", "--failed", "--config", str(path)]) == 0
    assert main(["poll", "--once", "--config", str(path)]) == 0
    assert len(webhook_server.posts) == 3
    capsys.readouterr()
    assert main(["deliveries", "--config", str(path)]) == 0
    assert capsys.readouterr().out.strip().endswith("sent: 3")


def test_notify_test_reports_each_url(webhook_server, write_config, capsys) -> None:
    channels = {"both": {"urls": [hook(webhook_server, "/up"), "json://user:s3cret@127.0.0.1:9/down"]}}
    path = write_config({"channels": channels})
    assert main(["notify-test", "both", "--config", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("ok: json://")
    assert out[1].startswith("failed: json://") and "s3cret" not in out[1]
    assert len(webhook_server.posts_to("/up")) == 1
    assert main(["notify-test", "nope", "--config", str(path)]) == 2
