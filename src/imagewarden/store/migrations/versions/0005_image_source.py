"""Where an image's bytes can be read from (registry reference, OCI path, archive).

Revision ID: 0005_image_source
Revises: 0004_jobs
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_image_source"
down_revision = "0004_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.add_column(sa.Column("source_ref", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.drop_column("source_ref")
