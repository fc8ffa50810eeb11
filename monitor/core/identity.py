"""Who an article is: its canonical URL, its outlet, and a fingerprint of its text.

Pure functions. The canonical URL identifies one article however a feed
links to it (tracking parameters, AMP variants, host case, default ports,
fragments, parameter order); the content fingerprint tells an update of an
entry from a mere re-listing; the outlet key counts who reported a story.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

__all__ = [
    "TRACKING_PARAMS",
    "canonical_url",
    "content_fingerprint",
    "outlet_key",
    "unique_paragraphs",
]

# Exact names, compared case-insensitively; any `utm_*` is dropped too.
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gclsrc",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "ocid",
        "igshid",
        "yclid",
        "_ga",
        "_gl",
        "cmpid",
        "smid",
        "sr_share",
        "at_medium",
        "at_campaign",
        "ito",
        "ref_src",
        "rss",
    }
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_AMP_CACHE = re.compile(r"^[a-z0-9-]+\.cdn\.ampproject\.org$")
# amp.example.com and www.example.com are the same site as example.com.
_HOST_PREFIXES = ("www.", "amp.")
# A URL already in canonical form, the common case in feeds: lower-case
# http(s), a host that is not www./amp./an AMP cache and does not end in a
# dot, no port, user, query or fragment, a path of unreserved characters
# with no AMP segment or suffix. `canonical_url` returns it as it is.
_ALREADY_CANONICAL = re.compile(
    r"https?://(?!www\.|amp\.)[a-z0-9-]+(?:\.[a-z0-9-]+)+(?<!\.cdn\.ampproject\.org)"
    r"(?:/(?!amp(?:/|$))[A-Za-z0-9._~!$&'()*+,;=:@-]*)+"
)
_PARAGRAPH_MIN = 40  # shorter lines ("Advertisement", "—") may repeat legitimately


def canonical_url(url: str, strip_params: Iterable[str] = ()) -> str:
    """The one URL an article is known by.

    Lower-case scheme and host (without `www.`), no default port, no fragment, no tracking
    parameters (`utm_*`, fbclid, gclid, ... and `strip_params`), AMP forms
    (`amp.` hosts, `/amp/` path segments, `.amp.html`, `?outputType=amp`,
    `?amp=1`, Google's AMP cache) mapped to the plain page, the remaining
    query parameters in a stable order. Not a URL (no scheme or host): the
    text itself, stripped.
    """
    url = url.strip()
    if _ALREADY_CANONICAL.fullmatch(url) and not url.endswith((".amp", ".amp.html")):
        return url
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if not scheme or not host:
        return url
    path = parts.path or "/"
    if _AMP_CACHE.match(host):
        unwrapped = _unwrap_amp_cache(path, parts.query)
        if unwrapped:
            return canonical_url(unwrapped, strip_params)
    for prefix in _HOST_PREFIXES:
        if host.startswith(prefix) and host.count(".") >= 2:
            host = host[len(prefix) :]
    path = _plain_path(path)
    drop = {p.lower() for p in strip_params}
    query = [
        (key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True) if not _tracking(key, value, drop)
    ]
    query.sort()
    netloc = host
    if parts.username or parts.password:
        netloc = f"{parts.username or ''}{':' + parts.password if parts.password else ''}@{host}"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{netloc}:{port}"
    return urlunsplit((scheme, netloc, _normal_path(path), urlencode(query, quote_via=quote), ""))


def _tracking(key: str, value: str, drop: set[str]) -> bool:
    lowered = key.lower()
    if lowered.startswith("utm_") or lowered in drop:
        return True
    if lowered == "outputtype":
        return value.lower() == "amp"
    if lowered == "amp":
        return value.lower() in ("", "1", "true", "yes")
    return lowered in TRACKING_PARAMS


def _plain_path(path: str) -> str:
    """The path of the non-AMP page."""
    segments = path.split("/")
    if "amp" in segments[1:]:
        segments = [seg for i, seg in enumerate(segments) if i == 0 or seg != "amp"]
        path = "/".join(segments) or "/"
    if path.endswith(".amp.html"):
        path = path[: -len(".amp.html")] + ".html"
    elif path.endswith(".amp"):
        path = path[: -len(".amp")]
    return path


def _normal_path(path: str) -> str:
    # Decode what needs no encoding and re-encode the rest the same way every time.
    return quote(unquote(path), safe="/:@!$&'()*+,;=-._~%") or "/"


def _unwrap_amp_cache(path: str, query: str) -> str | None:
    """https://www-example-com.cdn.ampproject.org/c/s/www.example.com/a → https://www.example.com/a"""
    parts = path.split("/")
    # /c/s/host/path (https) or /c/host/path (http); /v/ for viewer URLs.
    if len(parts) < 4 or parts[1] not in ("c", "v", "i"):
        return None
    rest = parts[2:]
    scheme = "http"
    if rest and rest[0] == "s":
        scheme, rest = "https", rest[1:]
    if not rest or "." not in rest[0]:
        return None
    target = f"{scheme}://{'/'.join(rest)}"
    return f"{target}?{query}" if query else target


def outlet_key(link: str | None, feed: str) -> str:
    """Who published it: the link's host without www./amp./m., else the feed's name."""
    if link:
        try:
            host = (urlsplit(link).hostname or "").lower()
        except ValueError:
            host = ""
        for prefix in ("www.", "amp.", "m.", "mobile."):
            if host.startswith(prefix) and host.count(".") >= 2:
                host = host[len(prefix) :]
        if host:
            return host
    return f"feed:{feed}"


def unique_paragraphs(text: str) -> str:
    """The text with repeated paragraphs (lines) kept only once.

    Syndication often doubles paragraphs; counted twice they would inflate
    a match's score and skew similarity. Short lines may repeat.
    """
    if "\n" not in text:
        return text
    seen: set[str] = set()
    kept = []
    for line in text.split("\n"):
        if len(line) >= _PARAGRAPH_MIN:
            key = " ".join(line.casefold().split())
            if key in seen:
                continue
            seen.add(key)
        kept.append(line)
    return "\n".join(kept)


def content_fingerprint(title: str, text: str) -> str:
    """A stable hash of what an entry says (not when it says it).

    Case and spacing do not count, so a re-rendered feed is not an update; a
    changed word in the title or body is. (Doubled paragraphs are gone
    already: the parser keeps each once.)
    """
    normal = " ".join(title.casefold().split()) + "\x00" + " ".join(text.casefold().split())
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()[:32]
