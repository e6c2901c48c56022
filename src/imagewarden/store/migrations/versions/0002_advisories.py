"""Vulnerability advisories (OSV): vuln_advisories, vuln_affected, vuln_imports.

Revision ID: 0002_advisories
Revises: 0001_core
Create Date: 2026-11-28

Written by hand to match ``imagewarden.store.advisories`` exactly (a test compares them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_advisories"
down_revision = "0001_core"
branch_labels = None
depends_on = None

_BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "vuln_advisories",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("modified", sa.DateTime(), nullable=False),
        sa.Column("published", sa.DateTime(), nullable=True),
        sa.Column("withdrawn", sa.DateTime(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("cvss_score", sa.Float(), nullable=True),
        sa.Column("cvss_vector", sa.String(length=256), nullable=True),
        sa.Column("aliases", sa.JSON(), nullable=False),
        sa.Column("references", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=2048), nullable=False),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vuln_advisories")),
    )
    op.create_index(
        op.f("ix_vuln_advisories_withdrawn"), "vuln_advisories", ["withdrawn"], unique=False
    )
    op.create_table(
        "vuln_affected",
        sa.Column("id", _BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("advisory_id", sa.String(length=128), nullable=False),
        sa.Column("ecosystem", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("raw_name", sa.String(length=512), nullable=False),
        sa.Column("supported", sa.Boolean(), nullable=False),
        sa.Column("ranges", sa.JSON(), nullable=False),
        sa.Column("versions", sa.JSON(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("cvss_score", sa.Float(), nullable=True),
        sa.Column("cvss_vector", sa.String(length=256), nullable=True),
        sa.ForeignKeyConstraint(
            ["advisory_id"],
            ["vuln_advisories.id"],
            name=op.f("fk_vuln_affected_advisory_id_vuln_advisories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vuln_affected")),
    )
    op.create_index(
        op.f("ix_vuln_affected_advisory_id"), "vuln_affected", ["advisory_id"], unique=False
    )
    op.create_index(
        "ix_vuln_affected_ecosystem_name", "vuln_affected", ["ecosystem", "name"], unique=False
    )
    op.create_table(
        "vuln_imports",
        sa.Column("id", _BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("inserted", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("older", sa.Integer(), nullable=False),
        sa.Column("withdrawn", sa.Integer(), nullable=False),
        sa.Column("invalid", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vuln_imports")),
    )


def downgrade() -> None:
    op.drop_table("vuln_imports")
    op.drop_index("ix_vuln_affected_ecosystem_name", table_name="vuln_affected")
    op.drop_index(op.f("ix_vuln_affected_advisory_id"), table_name="vuln_affected")
    op.drop_table("vuln_affected")
    op.drop_index(op.f("ix_vuln_advisories_withdrawn"), table_name="vuln_advisories")
    op.drop_table("vuln_advisories")
