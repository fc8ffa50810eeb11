"""Hit snippets keep their highlights as offsets, not as `**` in the text.

Revision ID: 0004_snippet_marks
Revises: 0003_search
Create Date: 2025-01-04

`hits.snippets` was a JSON list of strings with every match wrapped in
`**`, so a feed whose text held `**x**` showed `x` as a match. It becomes a
JSON list of `{"text": ..., "marks": [[start, end], ...]}` (the column type
does not change). Old rows are converted best-effort: `**` pairs become
marks, an unpaired `**` stays text — a publisher's own `**` in an old row
cannot be told from ours, which is why the format changes. Downgrade writes
the `**` form back.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004_snippet_marks"
down_revision = "0003_search"
branch_labels = None
depends_on = None

BATCH = 1000
MARKER = "**"

hits = sa.table("hits", sa.column("id", sa.Integer), sa.column("snippets", sa.JSON))


def marked_to_snippet(marked: str) -> dict[str, Any]:
    """`a **b** c` → {"text": "a b c", "marks": [[2, 3]]}; an unpaired marker stays text."""
    pieces = marked.split(MARKER)
    if len(pieces) % 2 == 0:
        pieces[-2:] = [pieces[-2] + MARKER + pieces[-1]]
    text: list[str] = []
    marks: list[list[int]] = []
    at = 0
    for index, piece in enumerate(pieces):
        if not piece:
            continue
        if index % 2 == 1:
            if marks and marks[-1][1] == at:
                marks[-1][1] = at + len(piece)
            else:
                marks.append([at, at + len(piece)])
        text.append(piece)
        at += len(piece)
    return {"text": "".join(text), "marks": marks}


def snippet_to_marked(item: dict[str, Any]) -> str:
    text = str(item.get("text") or "")
    out: list[str] = []
    at = 0
    for start, end in item.get("marks") or ():
        out += [text[at:start], MARKER, text[start:end], MARKER]
        at = end
    out.append(text[at:])
    return "".join(out)


def _convert(convert: Any, wanted: type) -> None:
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(
            sa.select(hits.c.id, hits.c.snippets).where(hits.c.id > last).order_by(hits.c.id).limit(BATCH)
        ).all()
        if not rows:
            return
        changed = [
            {"hit_id": hit_id, "new": [convert(item) if not isinstance(item, wanted) else item for item in snippets]}
            for hit_id, snippets in rows
            if snippets and any(not isinstance(item, wanted) for item in snippets)
        ]
        if changed:
            bind.execute(
                hits.update().where(hits.c.id == sa.bindparam("hit_id")).values(snippets=sa.bindparam("new")),
                changed,
            )
        last = rows[-1][0]


def upgrade() -> None:
    _convert(lambda item: marked_to_snippet(str(item)), dict)


def downgrade() -> None:
    _convert(lambda item: snippet_to_marked(item) if isinstance(item, dict) else str(item), str)
