"""Listing at scale: sort indexes, per-account filter counts, trigram name search.

- ``(account_id, scan_status, create_time, image_id)``: ScanStatus filters on the default
  sort page on the index at any Offset.
- One ``(account_id, <sort column>, image_id)`` index per sortable column, so every ``By``
  in either order walks an index instead of sorting the account (PostgreSQL also gets a
  ``DESC NULLS LAST`` twin for the two nullable columns, which the ascending index cannot
  serve there; SQLite serves both directions from one index).
- ``image_counts``: how many images of an account fall in each combination of scan status,
  trust and "count > 0" flags.  Triggers on ``images`` keep it exact in the same
  transaction as the write (whichever code writes), so ``TotalCount`` of any ScanStatus /
  SecurityRisk filter combination is a sum over a handful of rows instead of a scan.
- PostgreSQL: a ``pg_trgm`` GIN index on ``names_search`` for ImageName substring filters
  (skipped with a warning when the extension cannot be created: LIKE still works).

Revision ID: 0003_listing_scale
Revises: 0002_advisories
Create Date: 2026-11-28
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0003_listing_scale"
down_revision = "0002_advisories"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

#: sortable columns without an index yet (create_time and image_name have one since 0001)
SORT_COLUMNS = (
    "size",
    "host_cnt",
    "super_node_cnt",
    "container_cnt",
    "scan_time",
    "vul_cnt",
    "virus_cnt",
    "risk_cnt",
    "component_cnt",
    "critical_cnt",
    "high_cnt",
    "medium_cnt",
    "low_cnt",
    "is_suggest",
    "is_authorized",
)
#: (flag column of image_counts, its value computed from an images row; {r} = NEW/OLD/images)
FLAGS = (
    ("is_trusted", "{r}.is_trusted"),
    ("has_virus", "{r}.virus_cnt > 0"),
    ("has_risk", "{r}.risk_cnt > 0"),
    ("has_critical", "{r}.critical_cnt > 0"),
    ("has_high", "{r}.high_cnt > 0"),
    ("has_medium", "{r}.medium_cnt > 0"),
    ("has_low", "{r}.low_cnt > 0"),
    ("has_vul", "{r}.vul_cnt > 0"),
)
KEY = ("account_id", "scan_status", *(f for f, _ in FLAGS))
WATCHED = (
    "account_id",
    "scan_status",
    "is_trusted",
    "virus_cnt",
    "risk_cnt",
    "critical_cnt",
    "high_cnt",
    "medium_cnt",
    "low_cnt",
    "vul_cnt",
)


def _key_values(r: str) -> str:
    return ", ".join([f"{r}.account_id", f"{r}.scan_status", *(e.format(r=r) for _, e in FLAGS)])


def _changed() -> str:
    parts = ["OLD.account_id <> NEW.account_id", "OLD.scan_status <> NEW.scan_status"]
    parts += [f"({e.format(r='OLD')}) <> ({e.format(r='NEW')})" for _, e in FLAGS]
    return " OR ".join(parts)


def _pg_triggers() -> list[str]:
    key = ", ".join(KEY)
    upsert = (
        f"INSERT INTO image_counts ({key}, n) {{select}} "
        f"ON CONFLICT ({key}) DO UPDATE SET n = image_counts.n + EXCLUDED.n"
    )
    grouped = "SELECT {cols}, sum(d) FROM ({rows}) AS t({key}, d) GROUP BY {key} ORDER BY {key}"
    ins = grouped.format(cols=key, key=key, rows=f"SELECT {_key_values('r')}, 1 FROM new_rows AS r")
    dele = grouped.format(
        cols=key, key=key, rows=f"SELECT {_key_values('r')}, -1 FROM old_rows AS r"
    )
    return [
        # INSERT/DELETE: statement level (COPY, bulk inserts, prune): one grouped upsert,
        # rows locked in key order
        f"""CREATE FUNCTION iw_image_counts_ins() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  {upsert.format(select=ins)};
  RETURN NULL;
END $$""",
        f"""CREATE FUNCTION iw_image_counts_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  {upsert.format(select=dele)};
  RETURN NULL;
END $$""",
        # UPDATE: row level, only when a counted attribute changes; the two rows touched
        # are locked in key order so concurrent moves cannot deadlock on each other
        f"""CREATE FUNCTION iw_image_counts_upd() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF ROW({_key_values("OLD")}) < ROW({_key_values("NEW")}) THEN
    {upsert.format(select=f"VALUES ({_key_values('OLD')}, -1)")};
    {upsert.format(select=f"VALUES ({_key_values('NEW')}, 1)")};
  ELSE
    {upsert.format(select=f"VALUES ({_key_values('NEW')}, 1)")};
    {upsert.format(select=f"VALUES ({_key_values('OLD')}, -1)")};
  END IF;
  RETURN NULL;
END $$""",
        "CREATE TRIGGER iw_images_counts_ins AFTER INSERT ON images "
        "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION iw_image_counts_ins()",
        "CREATE TRIGGER iw_images_counts_del AFTER DELETE ON images "
        "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION iw_image_counts_del()",
        f"CREATE TRIGGER iw_images_counts_upd AFTER UPDATE OF {', '.join(WATCHED)} ON images "
        f"FOR EACH ROW WHEN ({_changed()}) EXECUTE FUNCTION iw_image_counts_upd()",
    ]


def _sqlite_triggers() -> list[str]:
    key = ", ".join(KEY)

    def add(r: str, d: int) -> str:
        return (
            f"INSERT INTO image_counts ({key}, n) VALUES ({_key_values(r)}, {d}) "
            f"ON CONFLICT ({key}) DO UPDATE SET n = n + {d};"
        )

    return [
        f"CREATE TRIGGER iw_images_counts_ins AFTER INSERT ON images BEGIN {add('NEW', 1)} END",
        f"CREATE TRIGGER iw_images_counts_del AFTER DELETE ON images BEGIN {add('OLD', -1)} END",
        f"CREATE TRIGGER iw_images_counts_upd AFTER UPDATE OF {', '.join(WATCHED)} ON images "
        f"WHEN {_changed()} BEGIN {add('OLD', -1)} {add('NEW', 1)} END",
    ]


def upgrade() -> None:
    bind = op.get_bind()
    pg = bind.dialect.name == "postgresql"
    for col in SORT_COLUMNS:
        op.create_index(f"ix_images_account_{col}", "images", ["account_id", col, "image_id"])
    if pg:
        op.execute(
            "CREATE INDEX ix_images_account_status_create_desc ON images "
            "(account_id, scan_status, create_time DESC NULLS LAST, image_id DESC)"
        )
    else:
        op.create_index(
            "ix_images_account_status_create",
            "images",
            ["account_id", "scan_status", "create_time", "image_id"],
        )
    if pg:
        for col in ("create_time", "scan_time"):
            op.execute(
                f"CREATE INDEX ix_images_account_{col}_desc ON images "
                f"(account_id, {col} DESC NULLS LAST, image_id DESC)"
            )
        with bind.begin_nested() as sp:
            try:
                bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            except sa.exc.DBAPIError as exc:
                sp.rollback()
                log.warning("pg_trgm unavailable (%s): ImageName substring filters scan", exc)
        has_trgm = bind.exec_driver_sql(
            "SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'"
        ).scalar()
        if has_trgm:
            op.execute(
                "CREATE INDEX ix_images_names_trgm ON images USING gin (names_search gin_trgm_ops)"
            )

    op.create_table(
        "image_counts",
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("scan_status", sa.String(length=16), nullable=False),
        *(sa.Column(f, sa.Boolean(), nullable=False) for f, _ in FLAGS),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_image_counts_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(*KEY, name=op.f("pk_image_counts")),
    )
    key = ", ".join(KEY)
    op.execute(
        f"INSERT INTO image_counts ({key}, n) SELECT {_key_values('images')}, count(*) "
        f"FROM images GROUP BY {_key_values('images')}"
    )
    for stmt in _pg_triggers() if pg else _sqlite_triggers():
        op.execute(stmt)


def downgrade() -> None:
    bind = op.get_bind()
    pg = bind.dialect.name == "postgresql"
    for name in ("iw_images_counts_ins", "iw_images_counts_del", "iw_images_counts_upd"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON images" if pg else ""))
    if pg:
        for fn in ("iw_image_counts_ins", "iw_image_counts_del", "iw_image_counts_upd"):
            op.execute(f"DROP FUNCTION IF EXISTS {fn}()")
        op.execute("DROP INDEX IF EXISTS ix_images_names_trgm")
        for col in ("create_time", "scan_time"):
            op.execute(f"DROP INDEX IF EXISTS ix_images_account_{col}_desc")
    op.drop_table("image_counts")
    op.execute("DROP INDEX IF EXISTS ix_images_account_status_create" + ("_desc" if pg else ""))
    for col in SORT_COLUMNS:
        op.drop_index(f"ix_images_account_{col}", table_name="images")
