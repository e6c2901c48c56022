"""Alembic environment: the URL comes from the caller (``imagewarden db upgrade``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

import imagewarden.store.advisories
import imagewarden.store.feature_tables
import imagewarden.store.job_tables
import imagewarden.store.tables  # noqa: F401  (registers the core tables)
from imagewarden.store.base import Base
from imagewarden.store.engine import make_engine

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()
