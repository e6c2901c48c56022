"""An ``(account_id, image_id, create_time)`` index on ``images``.

DescribeAssetImageList with an ImageID prefix finds its candidates as a range of the
``(account_id, image_id)`` key; in the default order (CreateTime) the page then read every
candidate's table row for its create time before the sort (3,899 rows, 12-24 ms, for a
two-digit prefix at a million images).  With the create time in the index the planner
walks this range instead and sorts from the index (2-5 ms for the same page,
benchmarks/README.md "Re-run at 1M, session 5").

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
