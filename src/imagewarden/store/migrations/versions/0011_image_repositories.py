"""image_names.repository and the first IsLatestImage flags.

``image_names.repository`` is the repository of each name (``inventory.repository``,
frozen here as it was when this revision was written), indexed by account, so the writers
find the images of one repository with an equality lookup that works in every collation
(a ``LIKE 'repo:%'`` range would not use the index under PostgreSQL's non-C collations).
``images.is_latest_image`` is then set once for every repository with one window query;
from here on ``store.latest`` keeps both up to date on every write.

Revision ID: 0011_image_repositories
Revises: 0010_component_owner
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_image_repositories"
down_revision = "0010_component_owner"
branch_labels = None
depends_on = None

_BATCH = 5000
_HUB_PREFIXES = ("docker.io/", "index.docker.io/", "registry-1.docker.io/")


def _repository_of(name: str) -> str:
    ref = name.strip().split("@", 1)[0]
    colon = ref.rfind(":")
    repo = ref[:colon] if colon > ref.rfind("/") else ref
    if not repo or repo == "<none>":
        return ""
    for prefix in _HUB_PREFIXES:
        if repo.startswith(prefix):
            repo = repo[len(prefix) :]
            if "/" not in repo:
                repo = f"library/{repo}"
            break
    if repo.startswith("library/") and repo.count("/") == 1:
        repo = repo[len("library/") :]
    return repo


# the rank of store.latest / inventory.repository.latest_rank, in SQL: held by a host first,
# newest CreateTime (unknown last), the `latest` tag, the smallest image ID
_RANKED = """
SELECT n.image_pk AS image_pk, ROW_NUMBER() OVER (
    PARTITION BY n.account_id, n.repository
    ORDER BY CASE WHEN i.host_cnt > 0 THEN 0 ELSE 1 END,
             CASE WHEN i.create_time IS NULL THEN 1 ELSE 0 END,
             i.create_time DESC,
             CASE WHEN n.name LIKE :latest_tag THEN 0 ELSE 1 END,
             i.image_id
) AS rn
FROM image_names AS n JOIN images AS i ON i.id = n.image_pk
WHERE n.repository <> ''
"""


def upgrade() -> None:
    op.add_column(
        "image_names",
        sa.Column("repository", sa.String(length=512), nullable=False, server_default=""),
    )
    names = sa.table(
        "image_names",
        sa.column("image_pk", sa.BigInteger()),
        sa.column("name", sa.String()),
        sa.column("repository", sa.String()),
    )
    bind = op.get_bind()
    after: tuple[int, str] = (-1, "")
    while True:
        rows = bind.execute(
            sa.select(names.c.image_pk, names.c.name)
            .where(sa.tuple_(names.c.image_pk, names.c.name) > sa.tuple_(*after))
            .order_by(names.c.image_pk, names.c.name)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        params = [
            {"b_pk": pk, "b_name": name, "repository": repo}
            for pk, name in rows
            if (repo := _repository_of(name))
        ]
        if params:
            bind.execute(
                names.update()
                .where(
                    names.c.image_pk == sa.bindparam("b_pk"),
                    names.c.name == sa.bindparam("b_name"),
                )
                .values(repository=sa.bindparam("repository")),
                params,
            )
        after = (int(rows[-1][0]), str(rows[-1][1]))
    op.create_index(
        "ix_image_names_account_repository", "image_names", ["account_id", "repository"]
    )
    bind.execute(
        sa.text("UPDATE images SET is_latest_image = :f WHERE is_latest_image = :t"),
        {"f": False, "t": True},
    )
    bind.execute(
        sa.text(
            f"UPDATE images SET is_latest_image = :t WHERE id IN "
            f"(SELECT image_pk FROM ({_RANKED}) AS ranked WHERE rn = 1)"
        ),
        {"t": True, "latest_tag": "%:latest"},
    )


def downgrade() -> None:
    op.drop_index("ix_image_names_account_repository", table_name="image_names")
    with op.batch_alter_table("image_names") as batch:
        batch.drop_column("repository")
    op.execute(sa.text("UPDATE images SET is_latest_image = false"))
