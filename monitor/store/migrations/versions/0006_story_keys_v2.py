"""Story index keys are computed a new way: the old ones are dropped.

Revision ID: 0006_story_keys_v2
Revises: 0005_notices
Create Date: 2026-12-04

Story signatures moved from datasketch's MinHash over the matcher's words
to a vectorised multiply-shift MinHash over a one-pass normalisation
(`core.signature.story_words`), about six times cheaper. The grouping on the
labelled fixtures is the same, but the keys differ, so an old key can never
meet a new one. They are deleted here; the daemon's start re-indexes the
articles of the de-duplication window that have a story
(`StoryIndexStore.index_missing_story_keys`), with the new keys. Downgrade
deletes them again (the old code re-indexes the same way).
"""

from __future__ import annotations

from alembic import op

revision = "0006_story_keys_v2"
down_revision = "0005_notices"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM story_keys")


def downgrade() -> None:
    op.execute("DELETE FROM story_keys")
