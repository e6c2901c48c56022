"""An ``(account_id, image_id, create_time)`` index on ``images``.

DescribeAssetImageList with an ImageID prefix finds its candidates as a range of the
``(account_id, image_id)`` key; in the default order (CreateTime) the page then read every
candidate's table row for its create time before the sort (3,899 rows for a two-digit
prefix at a million images: 12-24 ms on SQLite, 13 ms on PostgreSQL in-process).  With
the create time in the index, and such pages taking the deferred join (``store.images``:
the page's IDs first, from the index alone, then its rows), 2-6 ms on both
(benchmarks/README.md, "Re-run at 1M, session 5").

Revision ID: 0014_image_id_create_index
Revises: 0013_hash_blocklist_size
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0014_image_id_create_index"
down_revision = "0013_hash_blocklist_size"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_images_account_image_create", "images", ["account_id", "image_id", "create_time"]
    )


def downgrade() -> None:
    op.drop_index("ix_images_account_image_create", table_name="images")
