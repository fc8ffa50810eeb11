"""SQLite's story index moves from the `story_keys` table to memory.

Revision ID: 0012_sqlite_keys_in_memory
Revises: 0011_pg_search_hits_only
Create Date: 2026-12-06

Articles gain `story_keys`, a blob of their story index keys (little-endian
int64s). On SQLite (one daemon per database) the daemon now holds the
index in memory (`store.memkeys`), rebuilt at start from these blobs:
writing ~18 rows an article into `story_keys` and its two indexes, then
probing them, was a fifth of the storing thread in a cold cycle. The
upgrade fills each article's blob from its `story_keys` rows and empties
the table; articles with no keys get theirs computed at the next start.

PostgreSQL keeps its `story_keys` table (daemons share it); the column is
added there too, so both schemas stay one, and stays empty.

Downgrade puts SQLite's rows back from the blobs and drops the column.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import islice

import sqlalchemy as sa
from alembic import op

revision = "0012_sqlite_keys_in_memory"
down_revision = "0011_pg_search_hits_only"
branch_labels = None
depends_on = None

BATCH = 5000


def _blob(keys: list[int]) -> bytes:
    return b"".join(key.to_bytes(8, "little", signed=True) for key in keys)


def upgrade() -> None:
    op.add_column("articles", sa.Column("story_keys", sa.LargeBinary(), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    keys: dict[int, list[int]] = defaultdict(list)
    for article_id, key in bind.exec_driver_sql("SELECT article_id, key FROM story_keys ORDER BY article_id, id"):
        keys[int(article_id)].append(int(key))
    rows = iter(keys.items())
    while batch := list(islice(rows, BATCH)):
        bind.exec_driver_sql(
            "UPDATE articles SET story_keys = ? WHERE id = ?",
            [(_blob(article_keys), article_id) for article_id, article_keys in batch],
        )
    bind.exec_driver_sql("DELETE FROM story_keys")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        found = bind.exec_driver_sql("SELECT id, story_keys FROM articles WHERE story_keys IS NOT NULL ORDER BY id")
        rows = (
            (int.from_bytes(blob[i : i + 8], "little", signed=True), int(article_id))
            for article_id, blob in found.all()
            for i in range(0, len(blob), 8)
        )
        while batch := list(islice(rows, BATCH)):
            bind.exec_driver_sql("INSERT INTO story_keys (key, article_id) VALUES (?, ?)", batch)
    op.drop_column("articles", "story_keys")
