"""Display helpers for the templates: highlighted snippets, times, the inline SVG chart.

A snippet's text is feed text: every piece is escaped, and only the
matches its marks (offsets) name are wrapped in `<mark>`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from markupsafe import Markup, escape

from monitor.models import Snippet


def highlight(snippet: Snippet | str) -> Markup:
    """A snippet as HTML: escaped, each match in <mark>; a plain string
    (a hit's `snippet`) is escaped with nothing marked."""
    if not isinstance(snippet, Snippet):
        return escape(snippet)
    return Markup("").join(
        Markup("<mark>{}</mark>").format(text) if is_match else escape(text) for text, is_match in snippet.parts()
    )


def when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else "—"


def ago(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "never"
    seconds = (now - value).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 90:
        text = f"{seconds:.0f}s"
    elif seconds < 5400:
        text = f"{seconds / 60:.0f}m"
    elif seconds < 172800:
        text = f"{seconds / 3600:.0f}h"
    else:
        text = f"{seconds / 86400:.0f}d"
    return f"in {text}" if future else f"{text} ago"


def bar_chart(counts: Sequence[int], *, labels: Sequence[str] = (), width: int = 300, height: int = 48) -> Markup:
    """A small inline SVG bar chart (one bar per day), with a title per bar for hover."""
    n = max(len(counts), 1)
    top = max(max(counts, default=0), 1)
    gap = 1
    bar = max((width - gap * (n - 1)) / n, 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="hits per day, last {n} days, peak {top}">'
    ]
    for i, count in enumerate(counts):
        h = 0 if not count else max(count / top * (height - 2), 2)
        x = i * (bar + gap)
        label = escape(labels[i]) if i < len(labels) else ""
        parts.append(
            f'<rect x="{x:.1f}" y="{height - h:.1f}" width="{bar:.1f}" height="{h:.1f}">'
            f"<title>{label}: {count}</title></rect>"
        )
    parts.append(f'<line x1="0" y1="{height - 0.5}" x2="{width}" y2="{height - 0.5}" class="axis"/></svg>')
    return Markup("".join(parts))
