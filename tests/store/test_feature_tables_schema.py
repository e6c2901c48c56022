"""Revision 0009 creates exactly what the export, licence and scan-setting models declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData

from imagewarden.store.base import Base
from imagewarden.store.engine import make_engine
from imagewarden.store.feature_tables import ExportJobRow, LicenceQuotaRow, ScanSettingRow

NEW_TABLES = (ExportJobRow.__table__, LicenceQuotaRow.__table__, ScanSettingRow.__table__)
NAMES = {t.name for t in NEW_TABLES}


def test_migration_matches_the_model(db_url: str) -> None:
    meta = MetaData(naming_convention=Base.metadata.naming_convention)
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
            assert compare_metadata(ctx, meta) == []
    finally:
        engine.dispose()
