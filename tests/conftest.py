"""Shared fixtures: real databases (SQLite always, PostgreSQL when IMAGEWARDEN_TEST_PG is set)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from imagewarden.inventory.keys import KeyCipher
from imagewarden.inventory.service import InventoryService
from imagewarden.store.engine import make_engine, make_sessionmaker
from imagewarden.store.migrate import upgrade

PG_ENV = "IMAGEWARDEN_TEST_PG"
PG_SKIP_REASON = (
    f"PostgreSQL tests need {PG_ENV}=postgresql://user@host:port/db (CI sets it and fails on skips)"
)


def _pg_admin_url() -> str | None:
    return os.environ.get(PG_ENV) or None


def fresh_pg_database(label: str) -> Iterator[str]:
    """Create a uniquely named PostgreSQL database, yield its URL, drop it afterwards."""
    admin = _pg_admin_url()
    if admin is None:
        if os.environ.get("IMAGEWARDEN_REQUIRE_PG"):
            pytest.fail(f"IMAGEWARDEN_REQUIRE_PG is set but {PG_ENV} is not")
        pytest.skip(PG_SKIP_REASON)
    import psycopg

    base = make_url(admin)
    name = f"iw_{label}_{uuid.uuid4().hex[:10]}"
    conninfo = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    yield from fresh_pg_database("test")


@pytest.fixture(scope="session")
def pg_migrated(pg_database: str) -> str:
    engine = make_engine(pg_database)
    upgrade(engine)
    engine.dispose()
    return pg_database


def _truncate_all(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        tables = [
            r[0]
            for r in conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                )
            )
        ]
        if tables:
            conn.execute(
                text(
                    "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
                )
            )
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database of each supported kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'iw.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        return url
    url = request.getfixturevalue("pg_migrated")
    _truncate_all(url)
    return url


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "server.key"


@pytest.fixture
def service(db_url: str, key_file: Path) -> Iterator[InventoryService]:
    engine = make_engine(db_url)
    yield InventoryService(
        make_sessionmaker(engine), KeyCipher.from_file(key_file), key_cache_ttl=0
    )
    engine.dispose()
