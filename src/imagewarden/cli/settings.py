"""One frozen Settings object built from flags and environment; nothing below cli/ reads env."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings", "resolve_db", "resolve_key_file"]


def resolve_db(flag: str | None) -> str:
    # imported here, not at the top: `imagewarden scan` never needs SQLAlchemy (start-up time)
    from imagewarden.store.engine import DEFAULT_URL

    return flag or os.environ.get("IMAGEWARDEN_DB") or DEFAULT_URL


def resolve_key_file(flag: Path | None, db_url: str) -> Path:
    """Flag, else ``IMAGEWARDEN_KEY_FILE``, else ``<db file>.key`` (SQLite) or ``./imagewarden.key``."""
    if flag is not None:
        return flag
    env = os.environ.get("IMAGEWARDEN_KEY_FILE")
    if env:
        return Path(env)
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    if url.drivername.startswith("sqlite") and url.database and url.database != ":memory:":
        return Path(url.database + ".key")
    return Path("imagewarden.key")


@dataclass(frozen=True)
class Settings:
    db_url: str
    key_file: Path
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    rate_limits: bool = True
    log_level: str = "info"
