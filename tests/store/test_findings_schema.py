"""Revision 0007_findings creates exactly what the models of the findings tables declare."""

from __future__ import annotations

from typing import cast

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, MetaData, Table, inspect

from imagewarden.store.base import Base
from imagewarden.store.engine import make_engine
from imagewarden.store.tables import BigIntPk, ImageRisk, ImageVirus

NEW_TABLES = (cast(Table, ImageVirus.__table__), cast(Table, ImageRisk.__table__))
NAMES = {t.name for t in NEW_TABLES}
NEW_IMAGE_COLUMNS = {"author", "build_history", "vul_scanned", "virus_scanned", "risk_scanned"}


def test_migration_matches_the_model(db_url: str) -> None:
    meta = MetaData(naming_convention=Base.metadata.naming_convention)
    Table("images", meta, Column("id", BigIntPk, primary_key=True))  # FK target, not compared
    for t in NEW_TABLES:
        t.to_metadata(meta)
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "include_name": lambda name, type_, parent: type_ != "table" or name in NAMES,
                    "include_object": lambda obj, name, type_, reflected, other: (
                        type_ != "table" or name in NAMES
                    ),
                },
            )
            diff = compare_metadata(ctx, meta)
        assert diff == []
        insp = inspect(engine)
        for name in NAMES:
            idx = {i["name"]: i["column_names"] for i in insp.get_indexes(name)}
            assert idx[f"ix_{name}_image"] == ["image_pk"]
            fks = insp.get_foreign_keys(name)
            assert [(f["referred_table"], f["options"].get("ondelete")) for f in fks] == [
                ("images", "CASCADE")
            ]
        cols = {c["name"]: c for c in insp.get_columns("images")}
        assert NEW_IMAGE_COLUMNS <= set(cols)
        assert all(not cols[c]["nullable"] for c in NEW_IMAGE_COLUMNS)
    finally:
        engine.dispose()
