"""Image-list export jobs, image licence quotas and periodic scan settings.

``licence_quotas.decided_upto`` starts at 0, so the first reconcile of an account walks its
existing images oldest first and keeps ``is_authorized`` = 1 only for as many as it has
licences (the default quota when the operator set none).

Revision ID: 0009_exports_licences_settings
Revises: 0008_hash_blocklist
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_exports_licences_settings"
down_revision = "0008_hash_blocklist"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "export_jobs",
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("written_rows", sa.Integer(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("failure", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_export_jobs")),
    )
    op.create_index("ix_export_jobs_account_created", "export_jobs", ["account_id", "created_at"])
    op.create_table(
        "licence_quotas",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("decided_upto", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_licence_quotas")),
    )
    op.create_table(
        "scan_settings",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("enable", sa.Boolean(), nullable=False),
        sa.Column("scan_time", sa.String(length=8), nullable=False),
        sa.Column("scan_period", sa.Integer(), nullable=False),
        sa.Column("scan_vul", sa.Boolean(), nullable=False),
        sa.Column("scan_virus", sa.Boolean(), nullable=False),
        sa.Column("scan_risk", sa.Boolean(), nullable=False),
        sa.Column("select_all", sa.Boolean(), nullable=False),
        sa.Column("images", sa.JSON(), nullable=False),
        sa.Column("container_running", sa.Boolean(), nullable=False),
        sa.Column("scan_scope", sa.Integer(), nullable=False),
        sa.Column("scan_end_time", sa.String(length=8), nullable=False),
        sa.Column("exclude_images", sa.JSON(), nullable=False),
        sa.Column("cluster_ids", sa.JSON(), nullable=False),
        sa.Column("next_run", sa.DateTime(), nullable=True),
        sa.Column("last_scan_time", sa.DateTime(), nullable=True),
        sa.Column("scan_result", sa.String(length=32), nullable=False),
        sa.Column("last_task_id", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_scan_settings")),
    )
    op.create_index("ix_scan_settings_enable_next", "scan_settings", ["enable", "next_run"])


def downgrade() -> None:
    op.drop_index("ix_scan_settings_enable_next", table_name="scan_settings")
    op.drop_table("scan_settings")
    op.drop_table("licence_quotas")
    op.drop_index("ix_export_jobs_account_created", table_name="export_jobs")
    op.drop_table("export_jobs")
