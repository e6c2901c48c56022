"""Listing at 1M images: SQLite trigram name search, partial indexes for SecurityRisk pages.

- SQLite: ``images_fts``, an FTS5 table with the ``trigram`` tokenizer over
  ``images.names_search`` (external content: the text is not stored twice; the rowid is
  ``images.id``), kept in sync by triggers on ``images`` whichever code writes.  An
  ImageName substring of three or more characters is answered there (case-sensitive
  trigrams: exactly the ``LIKE`` on the lowercased names, see ``store.images``), plus
  ``ix_images_account_pk`` ``(account_id, id)``, so checking that a matching rowid is the
  account's (its TotalCount) reads no table row.  PostgreSQL has had pg_trgm since 0003.
- One partial ``(account_id, create_time, image_id)`` index per SecurityRisk value (both
  dialects; PostgreSQL in the ``DESC NULLS LAST`` spelling it can walk): a SecurityRisk
  filter on the default sort then pages over the matching images only, at any Offset,
  instead of reading one table row per skipped candidate.  The predicates are spelled
  exactly as ``store.images`` writes the filter (constants inline, not bound), which is
  what lets SQLite and PostgreSQL prove the index applies.
- ``ix_images_account_suggest``: ``(account_id, <the IsSuggest expression>, image_id)``,
  so a sort By IsSuggest walks an index like every other ``By`` instead of computing and
  sorting the expression over the whole account.  It replaces ``ix_images_account_is_suggest``.
- Dropped, unused by any query (``benchmarks/README.md``, "Results: 1,000,000 images"):
  ``ix_images_account_status`` (a prefix of the status + CreateTime index) and
  ``ix_images_account_is_suggest`` (IsSuggest sorts by the expression computed when read,
  never by the stored column).

Revision ID: 0012_listing_fts_partial
Revises: 0011_image_repositories
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0012_listing_fts_partial"
down_revision = "0011_image_repositories"
branch_labels = None
depends_on = None

#: SecurityRisk value -> (index suffix, predicate on SQLite, predicate on PostgreSQL); the
#: same text as the conditions of ``store.images._RISK_CONDITIONS`` renders to
RISK_INDEXES = {
    "VirusCnt": ("virus", "virus_cnt > 0", "virus_cnt > 0"),
    "RiskCnt": ("risk", "risk_cnt > 0", "risk_cnt > 0"),
    "IsTrustImage": ("trusted", "is_trusted IS 1", "is_trusted IS true"),
    "CriticalLevelVul": ("critical", "critical_cnt > 0", "critical_cnt > 0"),
    "HighLevelVul": ("high", "high_cnt > 0", "high_cnt > 0"),
    "MediumLevelVul": ("medium", "medium_cnt > 0", "medium_cnt > 0"),
    "LowLevelVul": ("low", "low_cnt > 0", "low_cnt > 0"),
    "VulCnt": ("vul", "vul_cnt > 0", "vul_cnt > 0"),
}

#: IsSuggest as ``store.images.IS_SUGGEST`` renders it ({true}: the dialect's boolean literal)
SUGGEST = (
    "CASE WHEN (scan_status = 'SCANNED' AND container_cnt > 0 AND virus_cnt > 0) THEN 1 "
    "WHEN (scan_status = 'SCANNED' AND container_cnt > 0 AND critical_cnt > 0) THEN 1 "
    "WHEN (scan_status = 'SCANNED' AND container_cnt > 0 AND high_cnt > 0 "
    "AND recommended_fix IS {true}) THEN 1 ELSE 0 END"
)

SUGGEST_COLUMNS = (
    "scan_status",
    "container_cnt",
    "virus_cnt",
    "critical_cnt",
    "high_cnt",
    "recommended_fix",
)

FTS_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS iw_images_fts_ins AFTER INSERT ON images BEGIN "
    "INSERT INTO images_fts (rowid, names_search) VALUES (NEW.id, NEW.names_search); END",
    "CREATE TRIGGER IF NOT EXISTS iw_images_fts_del AFTER DELETE ON images BEGIN "
    "INSERT INTO images_fts (images_fts, rowid, names_search) "
    "VALUES ('delete', OLD.id, OLD.names_search); END",
    "CREATE TRIGGER IF NOT EXISTS iw_images_fts_upd AFTER UPDATE OF id, names_search ON images "
    "WHEN OLD.id IS NOT NEW.id OR OLD.names_search IS NOT NEW.names_search BEGIN "
    "INSERT INTO images_fts (images_fts, rowid, names_search) "
    "VALUES ('delete', OLD.id, OLD.names_search); "
    "INSERT INTO images_fts (rowid, names_search) VALUES (NEW.id, NEW.names_search); END",
)


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    # IF [NOT] EXISTS throughout: a test that rewinds alembic_version re-runs this revision
    op.execute("DROP INDEX IF EXISTS ix_images_account_status")
    op.execute("DROP INDEX IF EXISTS ix_images_account_is_suggest")
    for suffix, lite, pgsql in RISK_INDEXES.values():
        if pg:
            op.execute(
                f"CREATE INDEX IF NOT EXISTS ix_images_account_create_{suffix} ON images "
                f"(account_id, create_time DESC NULLS LAST, image_id DESC) WHERE {pgsql}"
            )
        else:
            op.execute(
                f"CREATE INDEX IF NOT EXISTS ix_images_account_create_{suffix} ON images "
                f"(account_id, create_time, image_id) WHERE {lite}"
            )
    suggest = SUGGEST.format(true="true" if pg else "1")
    # PostgreSQL walks an expression index index-only only if it holds the columns the
    # expression reads (SQLite evaluates nothing: the index entry has the value)
    include = f" INCLUDE ({', '.join(SUGGEST_COLUMNS)})" if pg else ""
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_images_account_suggest ON images "
        f"(account_id, ({suggest}), image_id){include}"
    )
    if not pg:
        op.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS images_fts USING fts5(names_search, content='images', "
            "content_rowid='id', tokenize='trigram case_sensitive 1')"
        )
        op.execute("INSERT INTO images_fts (images_fts) VALUES ('rebuild')")
        op.execute("CREATE INDEX IF NOT EXISTS ix_images_account_pk ON images (account_id, id)")
        for stmt in FTS_TRIGGERS:
            op.execute(stmt)


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    if not pg:
        for name in ("iw_images_fts_ins", "iw_images_fts_del", "iw_images_fts_upd"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS images_fts")
        op.execute("DROP INDEX IF EXISTS ix_images_account_pk")
    op.execute("DROP INDEX IF EXISTS ix_images_account_suggest")
    for suffix, _, _ in RISK_INDEXES.values():
        op.execute(f"DROP INDEX IF EXISTS ix_images_account_create_{suffix}")
    op.create_index(
        "ix_images_account_is_suggest", "images", ["account_id", "is_suggest", "image_id"]
    )
    op.create_index("ix_images_account_status", "images", ["account_id", "scan_status"])
