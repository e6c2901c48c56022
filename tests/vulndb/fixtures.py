"""Advisory databases for tests: a migrated SQLite file per test, and one migrated PostgreSQL
database per session (tables emptied before each test).  Imported by the test modules that
need them (``from tests.vulndb.fixtures import vuln_engine, pg_vulndb``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from imagewarden.store.engine import make_engine
from imagewarden.store.migrate import upgrade
from tests.conftest import fresh_pg_database

OSV_DIR = Path(__file__).resolve().parents[1] / "testdata" / "osv"
REVISION = "0002_advisories"


@pytest.fixture(scope="session")
def pg_vulndb() -> Iterator[str]:
    for url in fresh_pg_database("vulndb"):
        engine = make_engine(url)
        upgrade(engine, REVISION)
        engine.dispose()
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def vuln_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on an empty database migrated to ``0002_advisories``, of each supported kind."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'vulndb.db'}")
        upgrade(engine, REVISION)
    else:
        engine = make_engine(request.getfixturevalue("pg_vulndb"))
        with engine.begin() as conn:
            conn.execute(
                text(
                    "TRUNCATE vuln_affected, vuln_advisories, vuln_imports RESTART IDENTITY CASCADE"
                )
            )
    yield engine
    engine.dispose()
