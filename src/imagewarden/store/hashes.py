"""The hash blocklist table and its SQL (``imagewarden db import-hashes``, scan wiring).

Table ``hash_blocklist`` (Alembic revisions ``0008_hash_blocklist``, ``0013`` for the size):
one row per (algorithm, lower-case hex digest) with the name the list gave it, the listed
file size when it gave one, the file it was imported from and when.  Importing is
idempotent: a known digest keeps its row, a changed name or size is updated.  Scanners
get the whole list as a snapshot (``entries``) held in memory, never a query per file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    Engine,
    String,
    Table,
    func,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from imagewarden.store.base import Base

__all__ = ["HASH_TABLES", "HashImportCounts", "HashRow", "SqlHashStore"]

_BATCH = 500
ALGOS = ("md5", "sha1", "sha256")


class HashRow(Base):
    __tablename__ = "hash_blocklist"

    algo: Mapped[str] = mapped_column(String(8), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), default="")
    source: Mapped[str] = mapped_column(String(1024), default="")
    added_at: Mapped[datetime] = mapped_column(DateTime)
    #: the listed file's size (0013), NULL when the list gave none
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


_t: Table = HashRow.__table__  # type: ignore[assignment]
#: the tables of this module (for schema comparison tests)
HASH_TABLES: tuple[Table, ...] = (_t,)


@dataclass(frozen=True)
class HashImportCounts:
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


class SqlHashStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def import_entries(
        self,
        entries: Iterable[tuple[str, str, str] | tuple[str, str, str, int | None]],
        source: str,
    ) -> HashImportCounts:
        """Add (algo, hex digest, name[, size]) entries; one transaction per batch of 500."""
        unique: dict[tuple[str, str], tuple[str, int | None]] = {}
        for entry in entries:
            algo, digest, name = entry[0], entry[1], entry[2]
            size = entry[3] if len(entry) > 3 else None
            if algo not in ALGOS:
                raise ValueError(f"unknown hash algorithm {algo!r}")
            unique[(algo, digest.lower())] = (name[:256], size)
        items = sorted(unique.items())
        now = datetime.now(UTC).replace(tzinfo=None)
        inserted = updated = unchanged = 0
        for start in range(0, len(items), _BATCH):
            batch = items[start : start + _BATCH]
            with self._engine.begin() as conn:
                known = {
                    (r.algo, r.digest): (r.name, r.size)
                    for r in conn.execute(
                        select(_t.c.algo, _t.c.digest, _t.c.name, _t.c.size).where(
                            tuple_(_t.c.algo, _t.c.digest).in_([k for k, _ in batch])
                        )
                    )
                }
                new = [
                    {
                        "algo": a,
                        "digest": d,
                        "name": n,
                        "size": z,
                        "source": source[:1024],
                        "added_at": now,
                    }
                    for (a, d), (n, z) in batch
                    if (a, d) not in known
                ]
                if new:
                    conn.execute(insert(_t), new)
                inserted += len(new)
                for (a, d), (n, z) in batch:
                    if (a, d) not in known:
                        continue
                    if known[(a, d)] == (n, z):
                        unchanged += 1
                        continue
                    conn.execute(
                        update(_t)
                        .where(_t.c.algo == a, _t.c.digest == d)
                        .values(name=n, size=z, source=source[:1024])
                    )
                    updated += 1
        return HashImportCounts(len(items), inserted, updated, unchanged)

    def entries(self) -> list[tuple[str, str, str, int | None]]:
        """Every (algo, digest, name, size), sorted: the snapshot a scanner holds in memory."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(_t.c.algo, _t.c.digest, _t.c.name, _t.c.size).order_by(
                    _t.c.algo, _t.c.digest
                )
            )
            return [(r.algo, r.digest, r.name, r.size) for r in rows]

    def counts(self) -> dict[str, int]:
        """Entries per algorithm."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(_t.c.algo, func.count()).group_by(_t.c.algo))
            return {r[0]: int(r[1]) for r in rows}
