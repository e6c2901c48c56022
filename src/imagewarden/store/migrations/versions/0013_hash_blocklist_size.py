"""The listed file size of a blocklist hash (``hash_blocklist.size``, NULL when the list
gave none).

ClamAV ``.hdb``/``.hsb`` lists, and CSV lists with a size column, give each hash with the
size of the file it identifies.  When every entry of an algorithm has one, the malware
engine hashes a file with that algorithm only if its size is listed
(``scan.malware.hashlist``): with a large list, hashing every file of an image cost more
than reading it.

Revision ID: 0013_hash_blocklist_size
Revises: 0012_listing_fts_partial
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_hash_blocklist_size"
down_revision = "0012_listing_fts_partial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hash_blocklist") as batch:
        batch.add_column(sa.Column("size", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("hash_blocklist") as batch:
        batch.drop_column("size")
