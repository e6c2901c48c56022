"""The hand-written Alembic revision 0002_advisories creates exactly the tables of the model."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, MetaData, inspect

from imagewarden.store.advisories import ADVISORY_TABLES

NAMES = {t.name for t in ADVISORY_TABLES}


def test_migration_matches_the_model(vuln_engine: Engine) -> None:
    meta = MetaData(naming_convention=ADVISORY_TABLES[0].metadata.naming_convention)
    for t in ADVISORY_TABLES:
        t.to_metadata(meta)
    with vuln_engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_name": lambda name, type_, parent: type_ != "table" or name in NAMES,
            },
        )
        diff = compare_metadata(ctx, meta)
    assert diff == []
    insp = inspect(vuln_engine)
    assert NAMES <= set(insp.get_table_names())
    idx = {i["name"]: i["column_names"] for i in insp.get_indexes("vuln_affected")}
    assert idx["ix_vuln_affected_ecosystem_name"] == ["ecosystem", "name"]
