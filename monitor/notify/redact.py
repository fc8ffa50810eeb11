"""Secret redaction for apprise URLs.

Owns how a channel URL is shown anywhere outside the send itself: in
apprise's privacy form (`mailtos://u...r:****@host`), or a masked scheme when
apprise cannot read it. Also scrubs known secrets out of free text such as a
provider's error message.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

import apprise


def privacy_url(url: str) -> str:
    """`url` with passwords and tokens hidden, as apprise prints it."""
    try:
        plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    except Exception:  # noqa: BLE001 - any failure means "cannot show it"
        plugin = None
    if plugin is not None:
        try:
            # The query string is mostly apprise's defaults: noise on screen.
            return str(plugin.url(privacy=True)).split("?", 1)[0]
        except Exception:  # noqa: BLE001
            pass
    scheme = urlsplit(url).scheme or "?"
    return f"{scheme}://****"


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each secret (and its parts) in `text`."""
    for secret in secrets:
        for part in _secret_parts(secret):
            text = text.replace(part, "****")
    return text


def _secret_parts(url: str) -> list[str]:
    """The whole URL plus the pieces of it that carry credentials."""
    parts = [url]
    split = urlsplit(url)
    if split.password:
        parts.append(split.password)
    if split.username and len(split.username) > 3:
        parts.append(split.username)
    # Slack-style tokens in the path: T.../B.../xxxx
    parts.extend(seg for seg in split.path.split("/") if len(seg) >= 8)
    if split.netloc and "@" not in split.netloc and len(split.netloc) >= 8 and "." not in split.netloc:
        parts.append(split.netloc)
    return sorted(set(parts), key=len, reverse=True)
