"""Core inventory: accounts, keys, hosts, images, names, containers, scan results.

Revision ID: 0001_core
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_core"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("name", name=op.f("uq_accounts_name")),
    )
    op.create_table(
        "api_keys",
        sa.Column("secret_id", sa.String(length=64), nullable=False),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("secret_key_enc", sa.LargeBinary(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("disabled_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_api_keys_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("secret_id", name=op.f("pk_api_keys")),
    )
    op.create_index(op.f("ix_api_keys_account_id"), "api_keys", ["account_id"], unique=False)
    op.create_table(
        "hosts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("host_id", sa.String(length=128), nullable=False),
        sa.Column("host_name", sa.String(length=255), nullable=False),
        sa.Column("ips", sa.JSON(), nullable=False),
        sa.Column("is_super_node", sa.Boolean(), nullable=False),
        sa.Column("last_report_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_hosts_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hosts")),
        sa.UniqueConstraint("account_id", "host_id", name="uq_hosts_account_host"),
    )
    op.create_table(
        "images",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("image_id", sa.String(length=80), nullable=False),
        sa.Column("image_name", sa.String(length=512), nullable=False),
        sa.Column("names_search", sa.Text(), nullable=False),
        sa.Column("repo_digests", sa.JSON(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("create_time", sa.DateTime(), nullable=True),
        sa.Column("os_name", sa.String(length=128), nullable=False),
        sa.Column("architecture", sa.String(length=64), nullable=False),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("host_cnt", sa.Integer(), nullable=False),
        sa.Column("super_node_cnt", sa.Integer(), nullable=False),
        sa.Column("container_cnt", sa.Integer(), nullable=False),
        sa.Column("is_trusted", sa.Boolean(), nullable=False),
        sa.Column("is_authorized", sa.Integer(), nullable=False),
        sa.Column("scan_status", sa.String(length=16), nullable=False),
        sa.Column("scan_time", sa.DateTime(), nullable=True),
        sa.Column("agent_error", sa.Text(), nullable=False),
        sa.Column("scan_error", sa.Text(), nullable=False),
        sa.Column("scan_vul_error", sa.Text(), nullable=False),
        sa.Column("scan_virus_error", sa.Text(), nullable=False),
        sa.Column("scan_risk_error", sa.Text(), nullable=False),
        sa.Column("vul_cnt", sa.Integer(), nullable=False),
        sa.Column("virus_cnt", sa.Integer(), nullable=False),
        sa.Column("risk_cnt", sa.Integer(), nullable=False),
        sa.Column("component_cnt", sa.Integer(), nullable=False),
        sa.Column("critical_cnt", sa.Integer(), nullable=False),
        sa.Column("high_cnt", sa.Integer(), nullable=False),
        sa.Column("medium_cnt", sa.Integer(), nullable=False),
        sa.Column("low_cnt", sa.Integer(), nullable=False),
        sa.Column("is_suggest", sa.Integer(), nullable=False),
        sa.Column("is_latest_image", sa.Boolean(), nullable=False),
        sa.Column("recommended_fix", sa.Boolean(), nullable=False),
        sa.Column("solution", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_images_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_images")),
        sa.UniqueConstraint("account_id", "image_id", name="uq_images_account_image"),
    )
    op.create_index(
        "ix_images_account_create",
        "images",
        ["account_id", "create_time", "image_id"],
        unique=False,
    )
    op.create_index(
        "ix_images_account_name", "images", ["account_id", "image_name", "image_id"], unique=False
    )
    op.create_index(
        "ix_images_account_status", "images", ["account_id", "scan_status"], unique=False
    )
    op.create_table(
        "containers",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("host_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("image_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("container_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_pk"], ["hosts.id"], name=op.f("fk_containers_host_pk_hosts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["image_pk"],
            ["images.id"],
            name=op.f("fk_containers_image_pk_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_containers")),
        sa.UniqueConstraint("host_pk", "container_id", name="uq_containers_host_container"),
    )
    op.create_index("ix_containers_image", "containers", ["image_pk"], unique=False)
    op.create_table(
        "host_images",
        sa.Column("host_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("image_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("repo_tags", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_pk"], ["hosts.id"], name=op.f("fk_host_images_host_pk_hosts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["image_pk"],
            ["images.id"],
            name=op.f("fk_host_images_image_pk_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("host_pk", "image_pk", name=op.f("pk_host_images")),
    )
    op.create_index("ix_host_images_image", "host_images", ["image_pk"], unique=False)
    op.create_table(
        "image_components",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("image_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("version", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("purl", sa.Text(), nullable=False),
        sa.Column("source_name", sa.String(length=512), nullable=True),
        sa.Column("source_version", sa.String(length=255), nullable=True),
        sa.Column("layer", sa.String(length=80), nullable=True),
        sa.ForeignKeyConstraint(
            ["image_pk"],
            ["images.id"],
            name=op.f("fk_image_components_image_pk_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_image_components")),
    )
    op.create_index("ix_image_components_image", "image_components", ["image_pk"], unique=False)
    op.create_table(
        "image_names",
        sa.Column("image_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_pk"],
            ["images.id"],
            name=op.f("fk_image_names_image_pk_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("image_pk", "name", name=op.f("pk_image_names")),
    )
    op.create_index(
        "ix_image_names_account_name", "image_names", ["account_id", "name"], unique=False
    )
    op.create_table(
        "image_vulnerabilities",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("image_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("advisory_id", sa.String(length=128), nullable=False),
        sa.Column("cve_id", sa.String(length=128), nullable=False),
        sa.Column("component", sa.String(length=512), nullable=False),
        sa.Column("version", sa.String(length=255), nullable=False),
        sa.Column("component_type", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("cvss_score", sa.Float(), nullable=True),
        sa.Column("cvss_vector", sa.String(length=255), nullable=True),
        sa.Column("fixed_versions", sa.JSON(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_pk"],
            ["images.id"],
            name=op.f("fk_image_vulnerabilities_image_pk_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_image_vulnerabilities")),
    )
    op.create_index(
        "ix_image_vulnerabilities_image", "image_vulnerabilities", ["image_pk"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_image_vulnerabilities_image", table_name="image_vulnerabilities")
    op.drop_table("image_vulnerabilities")
    op.drop_index("ix_image_names_account_name", table_name="image_names")
    op.drop_table("image_names")
    op.drop_index("ix_image_components_image", table_name="image_components")
    op.drop_table("image_components")
    op.drop_index("ix_host_images_image", table_name="host_images")
    op.drop_table("host_images")
    op.drop_index("ix_containers_image", table_name="containers")
    op.drop_table("containers")
    op.drop_index("ix_images_account_status", table_name="images")
    op.drop_index("ix_images_account_name", table_name="images")
    op.drop_index("ix_images_account_create", table_name="images")
    op.drop_table("images")
    op.drop_table("hosts")
    op.drop_index(op.f("ix_api_keys_account_id"), table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("accounts")
