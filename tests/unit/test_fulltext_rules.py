"""The full-text decision rules (monitor.core.fulltext): when to fetch a page, when its text is used."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.core.fulltext import MODES, article_text, is_teaser, page_adds, wants_page
from monitor.fetch.extract import extract_article

ARTICLES = Path(__file__).resolve().parents[1] / "data" / "articles"
PAGES = sorted(path.stem for path in ARTICLES.glob("*.html"))

LONG = " ".join(f"palabra{i}" for i in range(400))
LEAD = ("The United States and Mexico will conduct a joint review of the security framework that has governed "
        "their cooperation against organised crime since 2024, officials said on Tuesday.")
ARTICLE = "\n".join([
    LEAD,
    "The review, to be completed within ninety days, will examine how many extradition requests have been "
    "granted and how many firearms traced to US sellers have been seized in Mexico.",
    "American officials pointed to a sharp rise in seizures of synthetic drug precursors at Mexican ports.",
    "Mexican officials want more attention paid to the flow of rifles and ammunition moving south.",
    "A first progress report is expected in May, ahead of a meeting of the two presidents.",
])


# --- wants_page ------------------------------------------------------------------


def test_never_and_always() -> None:
    for text in ("", "Short…", LONG):
        assert wants_page("never", text, 150) is False
        assert wants_page("always", text, 150) is True


def test_unknown_mode() -> None:
    assert MODES == ("auto", "always", "never")
    with pytest.raises(ValueError, match="unknown full-text mode 'sometimes'"):
        wants_page("sometimes", "text", 150)


def test_auto_fetches_short_text() -> None:
    assert wants_page("auto", "", 150)
    assert wants_page("auto", LEAD, 150)
    assert not wants_page("auto", LONG, 150)


def test_auto_threshold_counts_matchings_words() -> None:
    # words as matching counts them: "Mexico's" is two words, punctuation is none.
    assert not wants_page("auto", "uno dos tres", 3)
    assert wants_page("auto", "uno dos", 3)
    assert not wants_page("auto", "Mexico's cartels", 3)
    assert wants_page("auto", "— ¿ ! … — uno dos", 3)
    assert not wants_page("auto", "señal " * 150, 150)
    assert wants_page("auto", "señal " * 149, 150)


def test_auto_counts_a_text_of_long_tokens_in_full() -> None:
    # the word count does not stop at a prefix of the text
    token = "x" * 200
    assert not wants_page("auto", " ".join([token] * 160), 150)
    assert wants_page("auto", " ".join([token] * 140), 150)


def test_zero_threshold_fetches_only_teasers() -> None:
    assert not wants_page("auto", "", 0)
    assert wants_page("auto", LONG + " Read more", 0)


def test_auto_fetches_long_teasers() -> None:
    assert wants_page("auto", LONG + " […]", 150)
    assert wants_page("auto", LONG + "\nThe post Talks resume appeared first on Border Dispatch.", 150)


@pytest.mark.parametrize(
    "text",
    [
        "The talks will resume in June…",
        "The talks will resume in June...",
        "The talks will resume in June [...]",
        "The talks will resume in June […]",
        "The talks will resume in June (…)",
        "He said it was “a first step…”",
        "The talks will resume. Read more",
        "The talks will resume. Read more »",
        "The talks will resume.\nRead the full story →",
        "The talks will resume.\nContinue reading",
        "The talks will resume. Continue reading “Talks resume in June” →",
        "The talks will resume.\nMore »",
        "Las pláticas se reanudarán.\nVer más",
        "The talks will resume.\nKeep reading",
        "Las pláticas se reanudarán. Leer más",
        "Las pláticas se reanudarán. Leer más...",
        "Las pláticas se reanudarán. Seguir leyendo →",
        "Las pláticas se reanudarán. Sigue leyendo «Reanudan pláticas»",
        "Las pláticas se reanudarán.\n[Leer nota completa]",
        "Les pourparlers reprendront. Lire la suite",
        "As negociações serão retomadas. Leia mais",
        "Die Gespräche werden fortgesetzt. Weiterlesen",
        "Le trattative riprenderanno. Leggi tutto",
        "Talks resume.\nThe post Talks resume in June appeared first on Border Dispatch.",
        "Pláticas.\nLa entrada Reanudan pláticas se publicó primero en Diario del Altiplano.",
    ],
)
def test_teasers(text: str) -> None:
    assert is_teaser(text)
    assert wants_page("auto", LONG + " " + text, 150)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "The talks will resume in June.",
        "Officials want more",
        "There was nothing more.",
        "Readers should continue reading to their children every night.",
        "Quieren ver más.",  # "ver más" marks a teaser only as a line of its own
        "Furthermore",
        "More\nThe talks will resume in June.",
        "“We will meet again,” she said.",
    ],
)
def test_not_teasers(text: str) -> None:
    assert not is_teaser(text)
    assert not wants_page("auto", LONG + " " + text, 150)


# --- page_adds and article_text --------------------------------------------------


def test_empty_page_text_does_not_add() -> None:
    assert not page_adds(LEAD, "")
    assert not page_adds(LEAD, " \n ")
    assert article_text(LEAD, "") == LEAD


def test_page_text_no_longer_than_the_feed_does_not_add() -> None:
    assert not page_adds(ARTICLE, ARTICLE)
    assert not page_adds(ARTICLE, LEAD)  # a full-content feed; the extractor found only the lead
    assert not page_adds(LEAD + " Read more", LEAD)


def test_teaser_that_is_a_prefix_adds() -> None:
    teaser = LEAD[:120] + "…"
    assert page_adds(teaser, ARTICLE)
    assert article_text(teaser, ARTICLE) == ARTICLE


def test_rewritten_summary_of_the_same_article_adds() -> None:
    summary = "Officials said the United States and Mexico will review their security cooperation framework."
    assert page_adds(summary, ARTICLE)


@pytest.mark.parametrize(
    "page",
    [
        "Subscribe to continue reading\nYou have reached your limit of free articles this month.\n"
        "Already a subscriber? Log in to your account to keep reading our award-winning journalism.\n"
        "Get unlimited digital access for just $1 a week. Cancel anytime. Terms and conditions apply.",
        "Before you continue\nWe use cookies and data to deliver and maintain services, track outages and protect "
        "against spam, fraud and abuse, measure audience engagement and site statistics, develop new services, "
        "deliver and measure the effectiveness of ads, show personalised content and ads.",
        "Storm warnings issued for the Gulf coast\nForecasters expect heavy rain and strong winds from Thursday, "
        "with flooding possible in low-lying coastal areas and river valleys across three states this week.",
    ],
    ids=["paywall", "consent-wall", "another-article"],
)
def test_a_page_that_shares_almost_nothing_does_not_add(page: str) -> None:
    assert len(page.split()) > len(LEAD.split())
    assert not page_adds(LEAD, page)
    assert article_text(LEAD, page) == LEAD


def test_a_feed_text_too_short_to_judge() -> None:
    assert page_adds("", ARTICLE)
    assert page_adds("Talks resume…", ARTICLE)
    assert page_adds("Talks resume…", "Some other page entirely, with many more words than the feed.")


def test_a_stub_of_links_does_not_add() -> None:
    assert not page_adds("Officials meet in Washington to talk security…", "Home\nAbout")


@pytest.mark.parametrize("name", PAGES)
def test_labelled_pages_add_to_their_lead(name: str) -> None:
    """A summary-only feed carrying each page's first paragraph (cut, with an ellipsis) fetches and uses the page."""
    label = (ARTICLES / f"{name}.txt").read_text(encoding="utf-8")
    lead = label.split("\n")[0]
    teaser = lead[: max(len(lead) * 2 // 3, 40)].rsplit(" ", 1)[0] + " […]"
    assert wants_page("auto", teaser, 150)
    page = extract_article((ARTICLES / f"{name}.html").read_bytes(), {"Content-Type": "text/html"}, "https://x.test/")
    assert page_adds(teaser, page)
    assert article_text(teaser, page) == page
    # the whole labelled text as a full-content feed is long enough: no fetch
    assert not wants_page("auto", label, 150)
