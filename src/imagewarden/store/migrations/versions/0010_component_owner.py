"""image_components.owner: the OS package that installed a language component.

``"deb:python3-requests"`` for the egg-info Debian's python3-requests installs: such
components stay in the component list but are matched only through their OS package, also
by ``imagewarden db rematch``, which reads this column back.  Components stored before this
revision have no owner (NULL) and are matched as before until the image is scanned again.

Revision ID: 0010_component_owner
Revises: 0009_exports_licences_settings
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_component_owner"
down_revision = "0009_exports_licences_settings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("image_components", sa.Column("owner", sa.String(length=512), nullable=True))


def downgrade() -> None:
    # plain DROP COLUMN (SQLite >= 3.35 has it), as in 0007
    op.drop_column("image_components", "owner")
