"""Several daemons on one database: feed leases and the nodes table.

Revision ID: 0007_cluster
Revises: 0006_story_keys_v2
Create Date: 2026-12-04

`feeds.lease_owner` / `feeds.lease_until`: a daemon claims due feeds by
setting them (PostgreSQL: FOR UPDATE SKIP LOCKED) and clears them in the
transaction that records the poll's result; an expired lease is anyone's.
`nodes`: one row per daemon (name, host, pid, version, config hash, start,
heartbeat, stop), for `monitor status` and the dashboard. `job_runs`:
when a once-per-cluster job last ran and on which node.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_cluster"
down_revision = "0006_story_keys_v2"
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(200), nullable=True))
        batch.add_column(sa.Column("lease_until", UTC_DATETIME, nullable=True))
    op.create_table(
        "nodes",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("config_hash", sa.String(64), nullable=False),
        sa.Column("web_url", sa.String(300), nullable=True),
        sa.Column("started_at", UTC_DATETIME, nullable=False),
        sa.Column("heartbeat_at", UTC_DATETIME, nullable=False),
        sa.Column("stopped_at", UTC_DATETIME, nullable=True),
    )
    op.create_table(
        "job_runs",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("node", sa.String(200), nullable=False),
        sa.Column("started_at", UTC_DATETIME, nullable=False),
        sa.Column("finished_at", UTC_DATETIME, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("job_runs")
    op.drop_table("nodes")
    with op.batch_alter_table("feeds") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("lease_owner")
