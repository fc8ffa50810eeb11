"""Canonical URLs, outlets, repeated paragraphs and content fingerprints (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.core.identity import (
    canonical_url,
    content_fingerprint,
    outlet_key,
    unique_paragraphs,
)

PLAIN = "https://example.com/2026/11/26/security-pact/"


@pytest.mark.parametrize(
    "variant",
    [
        PLAIN,
        "HTTPS://Example.COM/2026/11/26/security-pact/",
        "https://www.example.com/2026/11/26/security-pact/",
        "https://example.com:443/2026/11/26/security-pact/",
        "https://example.com/2026/11/26/security-pact/#comments",
        "https://example.com/2026/11/26/security-pact/?utm_source=rss&utm_medium=feed&utm_campaign=x",
        "https://example.com/2026/11/26/security-pact/?fbclid=IwAR2abc&gclid=xyz&mc_cid=1&ocid=msn",
        "https://amp.example.com/2026/11/26/security-pact/",
        "https://example.com/2026/11/26/security-pact/amp/",
        "https://example.com/amp/2026/11/26/security-pact/",
        "https://example.com/2026/11/26/security-pact/?outputType=amp",
        "https://example.com/2026/11/26/security-pact/?amp=1",
        "https://example-com.cdn.ampproject.org/c/s/example.com/2026/11/26/security-pact/",
    ],
)
def test_variants_of_one_article_share_its_canonical_url(variant: str) -> None:
    assert canonical_url(variant) == PLAIN


def test_remaining_parameters_are_kept_in_a_stable_order() -> None:
    a = canonical_url("https://example.com/article?lang=en&id=GW-1&utm_source=x")
    b = canonical_url("https://EXAMPLE.com:443/article?id=GW-1&lang=en")
    assert a == b == "https://example.com/article?id=GW-1&lang=en"
    # A parameter that names the article is not tracking.
    assert canonical_url("https://example.com/article?id=1") != canonical_url("https://example.com/article?id=2")


def test_configured_parameters_are_dropped_and_others_kept() -> None:
    url = "https://example.com/a?src=home&id=7"
    assert canonical_url(url) == "https://example.com/a?id=7&src=home"
    assert canonical_url(url, strip_params=["SRC"]) == "https://example.com/a?id=7"


def test_non_default_ports_paths_and_http_stay_distinct() -> None:
    assert canonical_url("http://example.com/a") != canonical_url("https://example.com/a")
    assert canonical_url("https://example.com:8443/a") == "https://example.com:8443/a"
    assert canonical_url("https://example.com/A") != canonical_url("https://example.com/a")
    assert canonical_url("https://example.com/amplifier/") == "https://example.com/amplifier/"
    assert canonical_url("https://example.com/a?outputType=print") == "https://example.com/a?outputType=print"


def test_not_a_url_is_returned_as_is() -> None:
    assert canonical_url("  urn:uuid:1234  ") == "urn:uuid:1234"
    assert canonical_url("https://[bad") == "https://[bad"


def test_outlet_is_the_host_without_www_or_amp_else_the_feed() -> None:
    assert outlet_key("https://www.borderwire.example/x", "b") == "borderwire.example"
    assert outlet_key("https://amp.borderwire.example/x", "b") == "borderwire.example"
    assert outlet_key(None, "Wire") == "feed:Wire"


def test_repeated_paragraphs_are_kept_once_short_lines_may_repeat() -> None:
    para = "The agreement commits both governments to joint action against the cartels."
    text = "\n".join([para, "Advertisement", "Second paragraph that is long enough to count here.", "  " + para.upper(), "Advertisement"])
    assert unique_paragraphs(text).split("\n") == [
        para,
        "Advertisement",
        "Second paragraph that is long enough to count here.",
        "Advertisement",
    ]


def test_fingerprint_ignores_case_and_spacing_but_not_a_changed_word() -> None:
    body = "First paragraph of the story, long enough to matter.\nSecond paragraph of the story, also long."
    base = content_fingerprint("Title", body)
    assert content_fingerprint("  TITLE ", body.replace(" ", "  ").replace("\n", "\n\n")) == base
    assert content_fingerprint("Title", body.replace("Second", "Third")) != base
    assert content_fingerprint("Title 2", body) != base


_PATH_CHARS = "abcdefghijklmnopqrstuvwxyzABCXYZ0123456789._~!$&'()*+,;=:@-"


@given(
    st.sampled_from(["http", "https"]),
    st.lists(st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=8), min_size=2, max_size=4),
    st.lists(st.text(_PATH_CHARS, max_size=12), min_size=1, max_size=5),
)
def test_the_fast_path_for_canonical_urls_gives_what_the_full_path_gives(scheme, labels, segments) -> None:
    """Most feed links are canonical already and skip the parsing; the
    result must be exactly what the full normalisation returns."""
    import re

    from monitor.core import identity

    url = f"{scheme}://{'.'.join(labels)}/{'/'.join(segments)}"
    fast = identity.canonical_url(url)
    saved = identity._ALREADY_CANONICAL
    identity._ALREADY_CANONICAL = re.compile(r"(?!)")
    try:
        assert fast == identity.canonical_url(url)
    finally:
        identity._ALREADY_CANONICAL = saved
