"""Scan tasks (CreateAssetImageScanTask).

Revision ID: 0006_scan_tasks
Revises: 0005_image_source
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_scan_tasks"
down_revision = "0005_image_source"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scan_tasks",
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("deadline", sa.DateTime(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("unscannable", sa.Integer(), nullable=False),
        sa.Column("stopped", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_scan_tasks")),
    )
    op.create_index(
        "ix_scan_tasks_account_created", "scan_tasks", ["account_id", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_scan_tasks_account_created", table_name="scan_tasks")
    op.drop_table("scan_tasks")
