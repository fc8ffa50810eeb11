"""Snippets written the short way in tests: ``marked("the **cartel** said")``.

Only for test data and assertions we write ourselves; the code under test
never reads ``**`` as a highlight (feed text is shown literally).
"""

from __future__ import annotations

from monitor.models import Snippet


def marked(text: str) -> Snippet:
    """A Snippet whose matches are the ``**``-wrapped pieces of `text`."""
    pieces = text.split("**")
    if len(pieces) % 2 == 0:
        raise ValueError(f"unpaired ** in {text!r}")
    return Snippet.from_parts((piece, index % 2 == 1) for index, piece in enumerate(pieces))


def starred(snippet: Snippet) -> str:
    """A snippet with its marks shown as ``**`` (for readable assertions)."""
    return "".join(f"**{text}**" if is_match else text for text, is_match in snippet.parts())
