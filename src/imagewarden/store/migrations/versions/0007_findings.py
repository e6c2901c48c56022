"""Malware and risk findings (DescribeAssetImageVirusList / RiskList) and what Detail shows.

``image_viruses`` and ``image_risks`` hold the findings of an image's latest scan, replaced
as a whole by every recorded scan (like ``image_vulnerabilities``).  ``images`` gains the
config facts DescribeAssetImageDetail returns (Author, BuildHistory, redacted) and which
categories the latest recorded scan covered, so a category that was not asked for reads
"not scanned" rather than "clean".  Images scanned before this revision only ever had the
vulnerability category, so they are marked vul_scanned.

Revision ID: 0007_findings
Revises: 0006_scan_tasks
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_findings"
down_revision = "0006_scan_tasks"
branch_labels = None
depends_on = None

_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "image_viruses",
        sa.Column("id", _PK, autoincrement=True, nullable=False),
        sa.Column("image_pk", _PK, nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("file_name", sa.String(length=512), nullable=False),
        sa.Column("virus_name", sa.String(length=255), nullable=False),
        sa.Column("risk_level", sa.Integer(), nullable=False),
        sa.Column("md5", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("solution", sa.Text(), nullable=False),
        sa.Column("engine", sa.String(length=32), nullable=False),
        sa.Column("layer", sa.String(length=80), nullable=False),
        sa.Column("first_scan_time", sa.DateTime(), nullable=False),
        sa.Column("latest_scan_time", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_pk"],
            ["images.id"],
            name=op.f("fk_image_viruses_image_pk_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_image_viruses")),
    )
    op.create_index("ix_image_viruses_image", "image_viruses", ["image_pk"], unique=False)
    op.create_table(
        "image_risks",
        sa.Column("id", _PK, autoincrement=True, nullable=False),
        sa.Column("image_pk", _PK, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("rule_id", sa.String(length=128), nullable=False),
        sa.Column("behavior", sa.Integer(), nullable=False),
        sa.Column("type", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("instruction", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("excerpt", sa.Text(), nullable=False),
        sa.Column("layer", sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_pk"],
            ["images.id"],
            name=op.f("fk_image_risks_image_pk_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_image_risks")),
    )
    op.create_index("ix_image_risks_image", "image_risks", ["image_pk"], unique=False)

    op.add_column("images", sa.Column("author", sa.Text(), nullable=False, server_default=""))
    op.add_column(
        "images",
        sa.Column("build_history", sa.JSON(), nullable=False, server_default=sa.text("'[]'")),
    )
    for col in ("vul_scanned", "virus_scanned", "risk_scanned"):
        op.add_column(
            "images", sa.Column(col, sa.Boolean(), nullable=False, server_default=sa.false())
        )
    images = sa.table(
        "images", sa.column("scan_status", sa.String()), sa.column("vul_scanned", sa.Boolean())
    )
    op.execute(
        images.update().where(images.c.scan_status == "SCANNED").values(vul_scanned=sa.true())
    )


def downgrade() -> None:
    # plain DROP COLUMN (SQLite >= 3.35 has it): a batch copy of ``images`` would lose the
    # listing triggers of 0003
    for col in ("risk_scanned", "virus_scanned", "vul_scanned", "build_history", "author"):
        op.drop_column("images", col)
    op.drop_index("ix_image_risks_image", table_name="image_risks")
    op.drop_table("image_risks")
    op.drop_index("ix_image_viruses_image", table_name="image_viruses")
    op.drop_table("image_viruses")
