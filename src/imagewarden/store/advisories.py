"""Advisory tables and their SQL: the writer the OSV importer feeds, and the index detectors read.

Tables (Alembic revision ``0002_advisories``):

* ``vuln_advisories``: one row per OSV record (id, modified, published, withdrawn, texts,
  record-level severity, aliases/references as JSON, provenance: source, imported_at,
  content_hash).
* ``vuln_affected``: one row per ``affected[]`` entry (ecosystem, normalised name, ranges and
  versions as JSON, resolved severity, ``supported`` flag), indexed on (ecosystem, name).
* ``vuln_imports``: one row per ``db import`` run (what was read and what changed).

Only candidate selection happens in SQL; exact version checks are done in Python with univers
(``imagewarden.vulndb.match``).  Times are naive UTC in the database, aware UTC outside.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from imagewarden.store.base import Base
from imagewarden.vulndb.index import (
    Advisory,
    AffectedPackage,
    DbStatus,
    EcosystemCount,
    ImportedAdvisory,
    ImportReport,
    RangeEvent,
    VersionRange,
    WriteCounts,
)

__all__ = [
    "ADVISORY_TABLES",
    "AdvisoryRow",
    "AffectedRow",
    "ImportRow",
    "SqlAdvisoryIndex",
    "SqlAdvisoryWriter",
]

BigIntPk = BigInteger().with_variant(Integer(), "sqlite")


class AdvisoryRow(Base):
    __tablename__ = "vuln_advisories"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    modified: Mapped[datetime] = mapped_column(DateTime)
    published: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    withdrawn: Mapped[datetime | None] = mapped_column(DateTime, nullable=True, index=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[str] = mapped_column(String(16), default="UNKNOWN")
    cvss_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    cvss_vector: Mapped[str | None] = mapped_column(String(256), nullable=True)
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    references: Mapped[list[str]] = mapped_column(JSON, default=list)
    source: Mapped[str] = mapped_column(String(2048))
    imported_at: Mapped[datetime] = mapped_column(DateTime)
    content_hash: Mapped[str] = mapped_column(String(64))


class AffectedRow(Base):
    __tablename__ = "vuln_affected"
    __table_args__ = (Index("ix_vuln_affected_ecosystem_name", "ecosystem", "name"),)

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    advisory_id: Mapped[str] = mapped_column(
        ForeignKey("vuln_advisories.id", ondelete="CASCADE"), index=True
    )
    ecosystem: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(512))
    raw_name: Mapped[str] = mapped_column(String(512))
    supported: Mapped[bool] = mapped_column(Boolean)
    ranges: Mapped[list[Any]] = mapped_column(JSON, default=list)
    versions: Mapped[list[str]] = mapped_column(JSON, default=list)
    severity: Mapped[str] = mapped_column(String(16), default="UNKNOWN")
    cvss_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    cvss_vector: Mapped[str | None] = mapped_column(String(256), nullable=True)


class ImportRow(Base):
    __tablename__ = "vuln_imports"

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime] = mapped_column(DateTime)
    sources: Mapped[list[str]] = mapped_column(JSON, default=list)
    records: Mapped[int] = mapped_column(Integer)
    inserted: Mapped[int] = mapped_column(Integer)
    updated: Mapped[int] = mapped_column(Integer)
    unchanged: Mapped[int] = mapped_column(Integer)
    older: Mapped[int] = mapped_column(Integer)
    withdrawn: Mapped[int] = mapped_column(Integer)
    invalid: Mapped[int] = mapped_column(Integer)
    errors: Mapped[list[str]] = mapped_column(JSON, default=list)


_adv: Table = AdvisoryRow.__table__  # type: ignore[assignment]
_aff: Table = AffectedRow.__table__  # type: ignore[assignment]
_imp: Table = ImportRow.__table__  # type: ignore[assignment]

#: the tables of this module, for ``Base.metadata.create_all(engine, tables=ADVISORY_TABLES)``
ADVISORY_TABLES: tuple[Table, ...] = (_adv, _aff, _imp)


def _naive(dt: datetime | None) -> datetime | None:
    return None if dt is None else dt.astimezone(UTC).replace(tzinfo=None)


def _aware(dt: datetime | None) -> datetime | None:
    return None if dt is None else dt.replace(tzinfo=UTC)


def _ranges_json(ranges: tuple[VersionRange, ...]) -> list[dict[str, Any]]:
    return [{"type": r.type, "events": [{e.kind: e.value} for e in r.events]} for r in ranges]


def _ranges_from_json(data: Any) -> tuple[VersionRange, ...]:
    out = []
    for r in data or ():
        events = tuple(RangeEvent(k, v) for ev in r.get("events", ()) for k, v in ev.items())
        out.append(VersionRange(str(r.get("type", "")), events))
    return tuple(out)


class SqlAdvisoryWriter:
    """Bulk writer used by ``imagewarden.vulndb.osv_import`` (one transaction per batch)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def write_batch(self, batch: Sequence[ImportedAdvisory]) -> WriteCounts:
        if not batch:
            return WriteCounts()
        now = datetime.now(UTC).replace(tzinfo=None)
        inserted = updated = unchanged = older = 0
        adv_rows: list[dict[str, Any]] = []
        aff_rows: list[dict[str, Any]] = []
        replace: list[str] = []
        with self._engine.begin() as conn:
            existing = {
                row.id: (row.modified, row.content_hash)
                for row in conn.execute(
                    select(_adv.c.id, _adv.c.modified, _adv.c.content_hash).where(
                        _adv.c.id.in_([b.advisory.id for b in batch])
                    )
                )
            }
            for item in batch:
                adv = item.advisory
                modified = _naive(adv.modified)
                assert modified is not None
                old = existing.get(adv.id)
                if old is not None:
                    if modified < old[0]:
                        older += 1
                        continue
                    if modified == old[0] and item.content_hash == old[1]:
                        unchanged += 1
                        continue
                    replace.append(adv.id)
                    updated += 1
                else:
                    inserted += 1
                adv_rows.append(
                    {
                        "id": adv.id,
                        "modified": modified,
                        "published": _naive(adv.published),
                        "withdrawn": _naive(adv.withdrawn),
                        "summary": adv.summary,
                        "details": adv.details,
                        "severity": adv.severity,
                        "cvss_score": adv.cvss_score,
                        "cvss_vector": adv.cvss_vector,
                        "aliases": list(adv.aliases),
                        "references": list(adv.references),
                        "source": item.source[:2048],
                        "imported_at": now,
                        "content_hash": item.content_hash,
                    }
                )
                aff_rows.extend(
                    {
                        "advisory_id": adv.id,
                        "ecosystem": p.ecosystem,
                        "name": p.name,
                        "raw_name": p.raw_name,
                        "supported": p.supported,
                        "ranges": _ranges_json(p.ranges),
                        "versions": list(p.versions),
                        "severity": p.severity,
                        "cvss_score": p.cvss_score,
                        "cvss_vector": p.cvss_vector,
                    }
                    for p in adv.affected
                )
            if replace:
                conn.execute(delete(_aff).where(_aff.c.advisory_id.in_(replace)))
                conn.execute(delete(_adv).where(_adv.c.id.in_(replace)))
            if adv_rows:
                conn.execute(insert(_adv), adv_rows)
            if aff_rows:
                conn.execute(insert(_aff), aff_rows)
        return WriteCounts(inserted, updated, unchanged, older)

    def record_import(self, report: ImportReport) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                insert(_imp).values(
                    started_at=_naive(report.started_at),
                    finished_at=_naive(report.finished_at),
                    sources=list(report.sources),
                    records=report.records,
                    inserted=report.counts.inserted,
                    updated=report.counts.updated,
                    unchanged=report.counts.unchanged,
                    older=report.counts.older,
                    withdrawn=report.withdrawn,
                    invalid=report.invalid,
                    errors=list(report.errors),
                )
            )

    def status(self) -> DbStatus:
        with self._engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(_adv)).scalar_one()
            withdrawn = conn.execute(
                select(func.count()).select_from(_adv).where(_adv.c.withdrawn.is_not(None))
            ).scalar_one()
            per_eco = conn.execute(
                select(
                    _aff.c.ecosystem,
                    _aff.c.supported,
                    func.count(func.distinct(_aff.c.advisory_id)),
                )
                .select_from(_aff.join(_adv, _adv.c.id == _aff.c.advisory_id))
                .where(_adv.c.withdrawn.is_(None))
                .group_by(_aff.c.ecosystem, _aff.c.supported)
            ).all()
            last = conn.execute(select(_imp).order_by(_imp.c.id.desc()).limit(1)).first()
        ecosystems = tuple(sorted(EcosystemCount(str(e), int(n), bool(s)) for e, s, n in per_eco))
        report = None
        if last is not None:
            started, finished = _aware(last.started_at), _aware(last.finished_at)
            assert started is not None and finished is not None
            report = ImportReport(
                sources=tuple(last.sources),
                started_at=started,
                finished_at=finished,
                records=last.records,
                counts=WriteCounts(last.inserted, last.updated, last.unchanged, last.older),
                withdrawn=last.withdrawn,
                invalid=last.invalid,
                errors=tuple(last.errors),
            )
        return DbStatus(int(total), int(withdrawn), ecosystems, report)


class SqlAdvisoryIndex:
    """``AdvisoryIndex`` on the advisory tables; returns frozen values, ordered by advisory id."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def keys(self) -> set[tuple[str, str]]:
        """Every (ecosystem, normalised name) that has a non-withdrawn advisory."""
        stmt = (
            select(_aff.c.ecosystem, _aff.c.name)
            .join(_adv, _adv.c.id == _aff.c.advisory_id)
            .where(_adv.c.withdrawn.is_(None))
            .distinct()
        )
        with self._engine.connect() as conn:
            return {(r[0], r[1]) for r in conn.execute(stmt)}

    def candidates(self, ecosystem: str, name: str) -> Iterable[Advisory]:
        stmt = (
            select(
                _adv.c.id,
                _adv.c.modified,
                _adv.c.published,
                _adv.c.summary,
                _adv.c.details,
                _adv.c.severity,
                _adv.c.cvss_score,
                _adv.c.cvss_vector,
                _adv.c.aliases,
                _adv.c.references,
                _aff.c.ecosystem,
                _aff.c.name,
                _aff.c.raw_name,
                _aff.c.ranges,
                _aff.c.versions,
                _aff.c.severity.label("a_severity"),
                _aff.c.cvss_score.label("a_cvss_score"),
                _aff.c.cvss_vector.label("a_cvss_vector"),
            )
            .select_from(_aff.join(_adv, _adv.c.id == _aff.c.advisory_id))
            .where(
                _aff.c.ecosystem == ecosystem,
                _aff.c.name == name,
                _aff.c.supported.is_(True),
                _adv.c.withdrawn.is_(None),
            )
            .order_by(_adv.c.id, _aff.c.id)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(stmt).all()
        grouped: dict[str, tuple[Any, list[AffectedPackage]]] = {}
        for r in rows:
            entry = grouped.setdefault(r.id, (r, []))
            entry[1].append(
                AffectedPackage(
                    ecosystem=r.ecosystem,
                    name=r.name,
                    raw_name=r.raw_name,
                    ranges=_ranges_from_json(r.ranges),
                    versions=tuple(r.versions or ()),
                    severity=r.a_severity,
                    cvss_score=r.a_cvss_score,
                    cvss_vector=r.a_cvss_vector,
                    supported=True,
                )
            )
        out = []
        for r, affected in grouped.values():
            modified = _aware(r.modified)
            assert modified is not None
            out.append(
                Advisory(
                    id=r.id,
                    modified=modified,
                    published=_aware(r.published),
                    withdrawn=None,
                    aliases=tuple(r.aliases or ()),
                    summary=r.summary,
                    details=r.details,
                    severity=r.severity,
                    cvss_score=r.cvss_score,
                    cvss_vector=r.cvss_vector,
                    references=tuple(r.references or ()),
                    affected=tuple(affected),
                )
            )
        return out
