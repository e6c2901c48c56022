"""Hash blocklist for the malware engine (``imagewarden db import-hashes``).

Revision ID: 0008_hash_blocklist
Revises: 0007_findings
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_hash_blocklist"
down_revision = "0007_findings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hash_blocklist",
        sa.Column("algo", sa.String(length=8), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("source", sa.String(length=1024), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("algo", "digest", name=op.f("pk_hash_blocklist")),
    )


def downgrade() -> None:
    op.drop_table("hash_blocklist")
