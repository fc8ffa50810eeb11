"""HTML email through apprise to a real SMTP server on loopback (aiosmtpd).

apprise sends an HTML body as multipart/alternative: the text/plain part is
apprise's own conversion of our HTML, the text/html part is ours verbatim.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

from monitor.models import HitRecord
from monitor.notify.render import Medium, medium_for, render_alert, render_digest
from monitor.notify.sender import Notifier, limits_for
from tests.snippets import marked

ARTICLE = "https://news.example.test/world/2026/11/cartel-labs?id=7&lang=en"
T0 = datetime(2026, 11, 27, 19, 0, tzinfo=UTC)


def make_hit(n: int = 1, **changes: object) -> HitRecord:
    data: dict[str, object] = dict(
        id=n,
        watchlist="cartels",
        title="US weighs strikes on cartel labs",
        link=ARTICLE,
        feed="Example World News",
        terms=("cartel", "fentanyl"),
        snippet="Officials said cartel labs making fentanyl",
        score=2.5,
        published=T0,
        found_at=T0 + timedelta(minutes=1),
        snippets=(marked("Officials said **cartel** labs making **fentanyl**"),),
    )
    data.update(changes)
    return HitRecord(**data)  # type: ignore[arg-type]


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.links: list[tuple[str | None, str]] = []
        self._href: str | None = None
        self._text: list[str] = []
        self.h3: list[str] = []
        self._in_h3 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "a":
            self._href, self._text = dict(attrs).get("href"), []
        self._in_h3 = tag == "h3" or self._in_h3

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self.links.append((self._href, "".join(self._text)))
            self._href = None
        if tag == "h3":
            self._in_h3 = False

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)
        if self._in_h3:
            self.h3.append(data)


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


def send(url: str, message) -> None:  # type: ignore[no-untyped-def]
    result = Notifier(timeout=5).send(url, message)
    assert result.ok, result.reason


def test_alert_email_has_subject_text_and_html_parts(smtp_server) -> None:
    url = smtp_server.mailto_url()
    assert medium_for(url) is Medium.EMAIL
    send(url, render_alert(make_hit(), Medium.EMAIL, tz="America/Mexico_City", limits=limits_for(url)))

    (mail,) = smtp_server.messages
    assert mail.subject == "[cartels] US weighs strikes on cartel labs"
    assert mail.message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in mail.message.iter_parts()] == ["text/plain", "text/html"]

    plain = mail.text("plain")
    assert ARTICLE in plain
    assert "Source: Example World News" in plain
    assert "Matched: cartel, fentanyl" in plain
    assert "13:00 CST (19:00 UTC)" in plain

    page = parse(mail.text("html"))
    assert page.links[0] == (ARTICLE, "US weighs strikes on cartel labs")
    assert {href for href, _ in page.links} == {ARTICLE}
    assert "<mark>cartel</mark>" in mail.text("html")


def test_html_from_the_feed_arrives_escaped(smtp_server) -> None:
    hit = make_hit(
        title='<b>x</b> <script>alert("pwned")</script> & co',
        feed="<i>Feed</i>",
        snippets=(marked('the **cartel** <img src=x onerror=alert(1)> "quoted"'),),
    )
    url = smtp_server.mailto_url()
    send(url, render_alert(hit, Medium.EMAIL))

    (mail,) = smtp_server.messages
    assert mail.subject == '[cartels] <b>x</b> <script>alert("pwned")</script> & co'  # a header is plain text
    html = mail.text("html")
    page = parse(html)
    assert not {"b", "script", "img", "i"} & set(page.tags)
    assert "&lt;b&gt;x&lt;/b&gt; &lt;script&gt;" in html
    assert page.links[0] == (ARTICLE, '<b>x</b> <script>alert("pwned")</script> & co')
    assert {href for href, _ in page.links} == {ARTICLE}


def test_javascript_link_is_not_linked(smtp_server) -> None:
    send(smtp_server.mailto_url(), render_alert(make_hit(link="javascript:alert(1)"), Medium.EMAIL))
    (mail,) = smtp_server.messages
    assert parse(mail.text("html")).links == []
    assert "javascript:" not in mail.text("html")


def test_subject_never_carries_a_line_break(smtp_server) -> None:
    hit = make_hit(title="Breaking\r\nBcc: victim@example.org\nX-Evil: 1")
    send(smtp_server.mailto_url(), render_alert(hit, Medium.EMAIL))
    (mail,) = smtp_server.messages
    assert mail.subject == "[cartels] Breaking Bcc: victim@example.org X-Evil: 1"
    assert mail.rcpt_tos == ["desk@example.org"]
    assert mail.message["X-Evil"] is None


def test_format_text_in_the_url_gives_a_plain_email(smtp_server) -> None:
    url = smtp_server.mailto_url(format="text")
    send(url, render_alert(make_hit(title="<b>x</b>"), medium_for(url)))
    (mail,) = smtp_server.messages
    assert mail.message.get_content_type() == "text/plain"
    body = mail.text("plain")
    assert "<b>x</b>" in body and ARTICLE in body and "<html" not in body


def test_digest_email_grouped_by_watchlist_newest_first(smtp_server) -> None:
    hits = [
        make_hit(1, title="Older cartel story", published=T0 - timedelta(hours=3)),
        make_hit(2, watchlist="security", title="Port security story", link="https://news.example.test/port",
                 published=T0 - timedelta(hours=1)),
        make_hit(3, title="Newest cartel story", link="https://news.example.test/newest", published=T0),
        make_hit(4, title="Middle cartel story", link="https://news.example.test/middle",
                 published=T0 - timedelta(hours=2)),
    ]
    url = smtp_server.mailto_url()
    message = render_digest("desk", hits, T0 - timedelta(hours=6), T0, Medium.EMAIL, tz="America/Mexico_City")
    send(url, message)

    (mail,) = smtp_server.messages
    assert mail.subject == "monitor digest: 4 hits (cartels 3, security 1)"
    html = mail.text("html")
    page = parse(html)
    assert [h.strip() for h in page.h3] == ["cartels (3)", "security (1)"]
    titles = [text for _, text in page.links if not text.startswith("http")]
    assert titles == ["Newest cartel story", "Middle cartel story", "Older cartel story", "Port security story"]
    assert ("https://news.example.test/newest", "Newest cartel story") in page.links
    assert "4 hits, 07:00–13:00 America/Mexico_City" in html
    plain = mail.text("plain")
    assert plain.index("Newest cartel story") < plain.index("Middle cartel story") < plain.index("Port security")
