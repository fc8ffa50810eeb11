"""Article-page extraction (monitor.fetch.extract) on the labelled pages and on hostile ones.

The pages in tests/data/articles/ were written for these tests; their README
says what is article text and which term is where. Quality is word-level
precision and recall (multisets of matching's words) against the hand-marked
.txt; hostile inputs must end in ExtractError or a bounded result, never
another exception (outcomes are asserted, not times: bench/fulltext.py
measures speed).
"""

from __future__ import annotations

import concurrent.futures
import html
import pickle
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.core.text import words
from monitor.fetch.extract import MAX_ELEMENTS, MAX_PAGE_TEXT, ExtractError, extract_article, extract_job

ARTICLES = Path(__file__).resolve().parents[1] / "data" / "articles"
PAGES = sorted(path.stem for path in ARTICLES.glob("*.html"))
HTML = {"Content-Type": "text/html; charset=utf-8"}
URL = "https://news.example.test/2026/01/article"
PARA = "<p>" + " ".join(["cartel", "border", "security", "talks"] * 12) + ".</p>"

# Terms that occur only in boilerplate of a page: they must not be extracted.
BOILERPLATE_ONLY = [
    ("en_news_menu_term", "Calderwood"),  # main menu
    ("es_related_term", "Tlacoyunga"),  # related stories
    ("en_comments_term", "Brokenshire"),  # a comment
    ("es_cookie_term", "Nubeloop"),  # cookie banner
    ("es_newsletter_footer", "Huizachal"),  # newsletter box inside the body
    ("es_newsletter_footer", "Ravensmoor"),  # footer
]
# Terms only in the sixth paragraph of the body: they must be extracted.
PARAGRAPH_SIX = [("en_wordpress_para6", "Quetzalara"), ("es_para6", "Sinaloa")]


def _page(name: str) -> bytes:
    return (ARTICLES / f"{name}.html").read_bytes()


def _label(name: str) -> str:
    return (ARTICLES / f"{name}.txt").read_text(encoding="utf-8")


def _overlap(got: str, want: str) -> tuple[int, int, int]:
    g, w = Counter(words(got)), Counter(words(want))
    return sum((g & w).values()), sum(g.values()), sum(w.values())


def _doc(body: str) -> bytes:
    return f"<!DOCTYPE html><html><head><title>A page</title></head><body>{body}</body></html>".encode()


# --- the labelled pages --------------------------------------------------------


def test_there_are_enough_labelled_pages() -> None:
    assert len(PAGES) >= 12
    for name in PAGES:
        assert (ARTICLES / f"{name}.txt").is_file(), name


@pytest.mark.parametrize("name", PAGES)
def test_labelled_page_precision_and_recall(name: str) -> None:
    text = extract_article(_page(name), HTML, URL)
    common, got, want = _overlap(text, _label(name))
    assert common / got >= 0.9, f"precision {common / got:.3f}"
    assert common / want >= 0.9, f"recall {common / want:.3f}"


def test_labelled_set_f1() -> None:
    totals = [0, 0, 0]
    for name in PAGES:
        for i, n in enumerate(_overlap(extract_article(_page(name), HTML, URL), _label(name))):
            totals[i] += n
    precision, recall = totals[0] / totals[1], totals[0] / totals[2]
    assert 2 * precision * recall / (precision + recall) >= 0.95


@pytest.mark.parametrize(("name", "term"), BOILERPLATE_ONLY)
def test_boilerplate_only_terms_are_not_article_text(name: str, term: str) -> None:
    assert term in _page(name).decode()  # the fixture does carry it
    assert term not in _label(name)
    text = extract_article(_page(name), HTML, URL)
    assert term.casefold() not in words(text)


@pytest.mark.parametrize(("name", "term"), PARAGRAPH_SIX)
def test_a_term_in_paragraph_six_is_extracted(name: str, term: str) -> None:
    label_lines = _label(name).splitlines()
    assert all(term not in line for line in label_lines[:5])
    text = extract_article(_page(name), HTML, URL)
    assert term in text
    assert term not in "\n".join(text.splitlines()[:5])


@pytest.mark.parametrize("name", PAGES)
def test_shape_like_feed_text(name: str) -> None:
    text = extract_article(_page(name), HTML, URL)
    lines = text.split("\n")
    assert len(lines) >= 4
    assert all(line and line == line.strip() and "  " not in line for line in lines)
    assert "\x00" not in text and "\r" not in text and "\t" not in text
    assert len(text) <= MAX_PAGE_TEXT


@pytest.mark.parametrize("name", PAGES)
def test_the_headline_is_not_the_first_line(name: str) -> None:
    title = html.unescape(_page(name).decode().split("<title>", 1)[1].split("</title>", 1)[0])
    headline = title.rsplit(" | ", 1)[0].rsplit(" - ", 1)[0]
    assert headline in _page(name).decode().replace(html.escape(headline), headline).split("</head>", 1)[1]
    text = extract_article(_page(name), HTML, URL)
    assert text.split("\n")[0] != headline
    assert headline not in _label(name)


def test_a_headline_repeated_in_the_body_stays() -> None:
    body = "<article><h1>Talks resume</h1><p>Talks resume</p>" + PARA * 4 + "</article>"
    page = f"<html><head><title>Talks resume</title></head><body>{body}</body></html>".encode()
    text = extract_article(page, HTML, URL)
    assert text.split("\n")[0] == "Talks resume"  # the body's own line; the headline went
    assert text.count("Talks resume") == 1


def test_repeated_paragraphs_are_kept_once() -> None:
    text = extract_article(_doc("<article>" + PARA * 6 + "</article>"), HTML, URL)
    assert text.count("\n") == 0 and text.startswith("cartel border")


# --- content types and charsets -----------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "named"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "application/pdf", "application/pdf"),
        (b"%PDF-1.4\n1 0 obj", "text/html", "application/pdf, served as text/html"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png", "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "text/html; charset=utf-8", "image/jpeg"),
        (b"GIF89a\x01\x00\x01\x00", "", "image/gif"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp", "image/webp"),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00", "video/mp4", "video/mp4"),
        (b"PK\x03\x04\x14\x00\x06\x00", "application/octet-stream", "application/zip"),
        (b'{"title": "Talks", "body": "<p>x</p>"}', "application/json", "application/json"),
        (b'[{"a": 1}]', "", "application/json"),
        (b"<?xml version='1.0'?><rss version='2.0'><channel/></rss>", "application/rss+xml", "application/rss+xml"),
        (b"<?xml version='1.0'?><rss version='2.0'><channel/></rss>", "text/xml", "a feed"),
        (b"plain words and nothing else " * 20, "text/plain", "text/plain"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><title>x</title></svg>", "image/svg+xml", "image/svg+xml"),
        (bytes(range(256)) * 8, "application/octet-stream", "application/octet-stream"),
        (b"\x00\x01\x02\x03" * 300, "text/html", "binary data"),
    ],
)
def test_not_html_is_refused_by_name(body: bytes, content_type: str, named: str) -> None:
    with pytest.raises(ExtractError) as caught:
        extract_article(body, {"Content-Type": content_type}, URL)
    assert caught.value.reason.startswith("not an HTML page")
    assert named in caught.value.reason


@pytest.mark.parametrize("content_type", ["", "text/plain", "application/octet-stream", "application/xhtml+xml"])
def test_html_under_another_or_no_content_type_is_read(content_type: str) -> None:
    headers = {"content-type": content_type} if content_type else {}
    text = extract_article(_page("es_para6"), headers, URL)
    assert "Sinaloa" in text


def test_empty_page() -> None:
    for body in (b"", b"   \n  "):
        with pytest.raises(ExtractError, match="empty page"):
            extract_article(body, HTML, URL)


def _accented(encoding: str, meta: str = "") -> bytes:
    body = "<article>" + "<p>La señal de alarma sonó en la aduana de Mazatlán, según el informe.</p>" * 1
    body += "".join(f"<p>Párrafo {i}: el operativo continuó durante la mañana con más agentes.</p>" for i in range(6))
    return f"<html><head>{meta}<title>T</title></head><body>{body}</article></body></html>".encode(encoding)


def test_charset_from_the_header() -> None:
    text = extract_article(_accented("latin-1"), {"Content-Type": "text/html; charset=ISO-8859-1"}, URL)
    assert "señal" in text and "Mazatlán" in text


def test_charset_from_meta() -> None:
    page = _accented("cp1252", '<meta charset="windows-1252">')
    assert "Mazatlán" in extract_article(page, {"Content-Type": "text/html"}, URL)
    page = _accented("latin-1", '<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">')
    assert "Mazatlán" in extract_article(page, {}, URL)


def test_header_charset_beats_meta() -> None:
    page = _accented("utf-8", '<meta charset="iso-8859-1">')
    assert "Mazatlán" in extract_article(page, {"Content-Type": "text/html; charset=utf-8"}, URL)


def test_charset_sniffed_without_a_declaration() -> None:
    assert "Mazatlán" in extract_article(_accented("utf-8"), {"Content-Type": "text/html"}, URL)
    assert "Mazatlán" in extract_article(_accented("cp1252"), {"Content-Type": "text/html"}, URL)


def test_byte_order_mark_wins() -> None:
    page = "\ufeff".encode("utf-16-le") + _accented("utf-8").decode().encode("utf-16-le")
    assert "Mazatlán" in extract_article(page, {"Content-Type": "text/html; charset=iso-8859-1"}, URL)


def test_unknown_charset_label_falls_back() -> None:
    text = extract_article(_accented("utf-8"), {"Content-Type": "text/html; charset=x-no-such-thing"}, URL)
    assert "Mazatlán" in text


# --- hostile pages ---------------------------------------------------------------


def test_fifty_thousand_nested_divs() -> None:
    page = _doc("<div>" * 50_000 + PARA + "</div>" * 50_000)
    with pytest.raises(ExtractError, match="too deeply nested"):
        extract_article(page, HTML, URL)


def test_nesting_a_browser_would_show_is_read() -> None:
    page = _doc("<div>" * 200 + "<article>" + PARA + PARA.replace("cartel", "aduana") + "</article>" + "</div>" * 200)
    assert "aduana" in extract_article(page, HTML, URL)


def test_five_megabytes_of_one_paragraph_is_capped() -> None:
    page = _doc("<article><p>" + "lorem ipsum dolor sit amet " * 200_000 + "</p></article>")
    assert len(page) > 5_000_000
    text = extract_article(page, HTML, URL)
    assert 0.9 * MAX_PAGE_TEXT <= len(text) <= MAX_PAGE_TEXT
    assert text.startswith("lorem ipsum") and not text.endswith(" ")


@pytest.mark.parametrize(
    "body",
    [
        "<span>a</span>" * 100_000,
        "<article>" + "<div><p>ab cd</p></div>" * 100_000 + "</article>",
        "<p><b><i>" * 20_000 + "text",
        "<article>" + PARA * 5 + "a < b " * 200_000 + "</article>",
    ],
    ids=["100k-spans", "100k-divs", "unclosed-inline", "200k-lt-signs"],
)
def test_too_many_elements(body: str) -> None:
    with pytest.raises(ExtractError, match="page too large") as caught:
        extract_article(_doc(body), HTML, URL)
    assert f"limit {MAX_ELEMENTS:,}" in caught.value.reason


def test_many_elements_under_the_limit_are_read() -> None:
    body = "<article>" + "<div><p>ab cd</p></div>" * (MAX_ELEMENTS // 2 - 100) + "</article>"
    assert extract_article(_doc(body), HTML, URL).startswith("ab cd")


def test_nul_bytes_are_dropped() -> None:
    page = _doc("<article>" + PARA.replace("border", "bor\x00der") * 5 + "</article>")
    text = extract_article(page, HTML, URL)
    assert "\x00" not in text and "border" in text


def test_malformed_markup() -> None:
    page = _doc("<<<>>><p <p>" + PARA * 3 + "</b></i></table><tr><td><p>Fin de la nota con aduanas</td>")
    text = extract_article(page, HTML, URL)
    assert "cartel border" in text


def test_scripts_styles_and_comments_are_not_text() -> None:
    junk = "<script>var s = '<p>scripted words</p>';</script><style>p{color:red}</style><!-- commented words -->"
    page = _doc(junk * 1000 + "<article>" + PARA * 3 + "</article><script>unterminated <p>")
    text = extract_article(page, HTML, URL)
    assert "scripted" not in text and "commented" not in text and "color" not in text
    assert "cartel" in text


@pytest.mark.parametrize(
    "page",
    [b"just text, no markup at all " * 30, _doc("<!--" * 50_000 + PARA), _doc("<script>" + PARA), _doc("")],
    ids=["no-markup", "unclosed-comment", "unclosed-script", "empty-body"],
)
def test_pages_without_article_text(page: bytes) -> None:
    with pytest.raises(ExtractError) as caught:
        extract_article(page, HTML, URL)
    assert caught.value.reason == "no article text found"


def test_a_page_of_links_gives_little() -> None:
    # trafilatura falls back to the whole (tiny) page; core.fulltext.page_adds turns such stubs down.
    text = extract_article(_doc("<div><a href='/'>Home</a> <a href='/a'>About</a></div>"), HTML, URL)
    assert len(words(text)) <= 2


# --- the process-pool form ---------------------------------------------------------


def test_extract_job_ok_and_error() -> None:
    assert extract_job(_page("es_para6"), dict(HTML), URL)[0] == "ok"
    assert extract_job(b"%PDF-1.5", {"content-type": "application/pdf"}, URL) == (
        "error", "not an HTML page (application/pdf)")


def test_extract_job_turns_a_crash_into_an_error() -> None:
    outcome = extract_job(_page("es_para6"), None, URL)  # type: ignore[arg-type]  # headers that are no mapping
    assert outcome[0] == "error" and outcome[1].startswith("extractor crashed: AttributeError")


def test_extract_job_in_a_process_pool() -> None:
    jobs = [(_page(name), dict(HTML), URL) for name in ("en_amp", "es_div_soup")]
    jobs.append((b"\x89PNG\r\n\x1a\n", {"content-type": "image/png"}, URL))
    with concurrent.futures.ProcessPoolExecutor(max_workers=1) as pool:
        outcomes = [pool.submit(extract_job, *job).result(timeout=120) for job in jobs]
    assert [kind for kind, _ in outcomes] == ["ok", "ok", "error"]
    assert "gobernadores" in outcomes[1][1].casefold()
    assert pickle.loads(pickle.dumps(outcomes)) == outcomes


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=3000),
        st.lists(
            st.sampled_from(["<div>", "</div>", "<p>", "</p>", "<article>", "<!--", "-->", "<script>", "<br>", "&amp;",
                             "&#0;", "&#x110000;", "\x00", "palabra ", "señal ", "<meta charset='utf-16'>", "<", ">",
                             "<h1>", "</h1>", "<title>", "]]>", "<?xml ?>", "\ufeff", "\ud800"]),
            max_size=400,
        ).map(lambda parts: "".join(parts).encode("utf-8", "surrogatepass")),
    ),
    st.sampled_from(["text/html", "text/html; charset=utf-16", "", "application/xml", "text/html; charset=bogus"]),
)
def test_extract_job_never_raises(body: bytes, content_type: str) -> None:
    kind, value = extract_job(body, {"Content-Type": content_type}, URL)
    assert kind in ("ok", "error") and isinstance(value, str)
    if kind == "ok":
        assert value and len(value) <= MAX_PAGE_TEXT and "\x00" not in value
    else:
        assert not value.startswith("extractor crashed"), value
