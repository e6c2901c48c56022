"""Engines for the two supported stores: SQLite (embedded default, WAL) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["DEFAULT_URL", "make_engine", "make_sessionmaker", "normalise_url", "unpinged"]

DEFAULT_URL = "sqlite:///imagewarden.db"

#: set while checkouts skip the liveness ping (``unpinged``)
_UNPINGED: ContextVar[bool] = ContextVar("imagewarden_unpinged", default=False)


@contextmanager
def unpinged() -> Iterator[None]:
    """PostgreSQL connections checked out in this block (this thread) are not pinged first.

    The ping is a round trip on every checkout.  Skip it only where the work can simply be
    run again on a fresh connection when the pooled one turns out dead (a database restart,
    a terminated backend): read-only work.  ``InventoryService`` does that for the listing
    and the key lookup; every other checkout (every write) is pinged as before, so a dead
    pooled connection is replaced before the first statement and nothing is retried.
    """
    token = _UNPINGED.set(True)
    try:
        yield
    finally:
        _UNPINGED.reset(token)


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and use the psycopg 3 driver for them."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def make_engine(url: str = DEFAULT_URL, **kw: Any) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kw)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    kw.setdefault("pool_size", 10)
    kw.setdefault("max_overflow", 20)
    # a database host that drops packets (rather than refusing) must not hang a request:
    # give up connecting after 10 s (the API answers InternalError.MainDBFail), and let
    # TCP keepalives find a peer that vanished mid-connection
    connect_args = {
        "connect_timeout": 10,
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
        **kw.pop("connect_args", {}),
    }
    engine = create_engine(url, connect_args=connect_args, **kw)
    if not kw.get("pool_pre_ping"):
        _ping_on_checkout(engine)
    return engine


def _ping_on_checkout(engine: Engine) -> None:
    """What ``pool_pre_ping`` does, on every checkout outside ``unpinged``: ping a pooled
    connection (not one just opened) and, when it is dead, invalidate every connection of
    the pool opened before now and take a fresh one (the pool's own checkout retry)."""
    dialect = engine.dialect

    @event.listens_for(engine, "connect")
    def _fresh(_dbapi_conn: Any, record: Any) -> None:
        record.info["iw_fresh"] = True

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if record.info.pop("iw_fresh", False) or _UNPINGED.get():
            return
        try:
            dialect.do_ping(dbapi_conn)
        except dialect.loaded_dbapi.Error as err:
            if dialect.is_disconnect(err, dbapi_conn, None):
                raise exc.InvalidatePoolError() from err
            raise


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
