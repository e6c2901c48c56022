"""Embedded scan-job queue.

Revision ID: 0004_jobs
Revises: 0003_listing_scale
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_jobs"
down_revision = "0003_listing_scale"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scan_jobs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=True),
        sa.Column("image_id", sa.String(length=80), nullable=False),
        sa.Column("source_ref", sa.Text(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=128), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scan_jobs")),
    )
    op.create_index(
        "ix_scan_jobs_account_image", "scan_jobs", ["account_id", "image_id"], unique=False
    )
    op.create_index(
        "ix_scan_jobs_account_task", "scan_jobs", ["account_id", "task_id"], unique=False
    )
    op.create_index("ix_scan_jobs_state_id", "scan_jobs", ["state", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_scan_jobs_state_id", table_name="scan_jobs")
    op.drop_index("ix_scan_jobs_account_task", table_name="scan_jobs")
    op.drop_index("ix_scan_jobs_account_image", table_name="scan_jobs")
    op.drop_table("scan_jobs")
