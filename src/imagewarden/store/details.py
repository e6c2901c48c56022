"""Per-image drill-down rows: vulnerabilities, components, host links, viruses, risks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from imagewarden.inventory.models import SimpleImage, SortField
from imagewarden.store.job_tables import ScanJobRow, ScanTaskRow
from imagewarden.store.tables import (
    Host,
    HostImage,
    Image,
    ImageComponent,
    ImageRisk,
    ImageVirus,
    ImageVulnerability,
)

__all__ = [
    "LatestJob",
    "clear_findings",
    "component_rows_of",
    "image_components",
    "image_hosts",
    "image_pk",
    "image_risks",
    "image_row",
    "image_viruses",
    "image_vulnerabilities",
    "latest_job",
    "list_simple",
    "replace_findings",
    "replace_vulnerabilities",
    "replace_vulnerabilities_many",
    "risk_counts",
    "scanned_batch",
    "touch_images",
    "vulnerability_rows_of",
]


def image_pk(session: Session, account_id: int, image_id: str) -> int | None:
    pk = session.scalar(
        select(Image.id).where(Image.account_id == account_id, Image.image_id == image_id)
    )
    return None if pk is None else int(pk)


def image_vulnerabilities(session: Session, image_pk: int) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(ImageVulnerability)
        .where(ImageVulnerability.image_pk == image_pk)
        .order_by(ImageVulnerability.id)
    )
    return [
        {
            "advisory_id": v.advisory_id,
            "cve_id": v.cve_id,
            "component": v.component,
            "version": v.version,
            "component_type": v.component_type,
            "severity": v.severity,
            "cvss_score": v.cvss_score,
            "cvss_vector": v.cvss_vector,
            "fixed_versions": list(v.fixed_versions or []),
            "summary": v.summary,
            "detail": dict(v.detail or {}),
        }
        for v in rows
    ]


def image_components(session: Session, image_pk: int) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(ImageComponent)
        .where(ImageComponent.image_pk == image_pk)
        .order_by(ImageComponent.id)
    )
    return [
        {
            "name": c.name,
            "version": c.version,
            "type": c.type,
            "path": c.path,
            "purl": c.purl,
            "owner": c.owner,
        }
        for c in rows
    ]


def image_hosts(
    session: Session, account_id: int, image_ids: Sequence[str], host_ids: Sequence[str]
) -> list[tuple[str, str]]:
    stmt = (
        select(Image.image_id, Host.host_id)
        .join(HostImage, HostImage.image_pk == Image.id)
        .join(Host, Host.id == HostImage.host_pk)
        .where(Image.account_id == account_id)
        .order_by(Image.image_id, Host.host_id)
    )
    if image_ids:
        stmt = stmt.where(Image.image_id.in_(list(image_ids)))
    if host_ids:
        stmt = stmt.where(Host.host_id.in_(list(host_ids)))
    return [(r[0], r[1]) for r in session.execute(stmt)]


def scanned_batch(
    session: Session, after_pk: int, limit: int, account_id: int | None = None
) -> list[tuple[int, int, str, str]]:
    """(pk, account_id, image_id, os_name) of SCANNED images after ``after_pk``, in pk order."""
    stmt = (
        select(Image.id, Image.account_id, Image.image_id, Image.os_name)
        .where(Image.scan_status == "SCANNED", Image.id > after_pk)
        .order_by(Image.id)
        .limit(limit)
    )
    if account_id is not None:
        stmt = stmt.where(Image.account_id == account_id)
    return [(int(r[0]), int(r[1]), r[2], r[3]) for r in session.execute(stmt)]


def component_rows_of(session: Session, pks: Sequence[int]) -> dict[int, list[tuple[Any, ...]]]:
    """Plain value tuples (name, version, type, path, purl, source_name, source_version,
    layer, owner) per image: the bulk path of re-matching, one tuple per component, no
    objects."""
    c = ImageComponent
    out: dict[int, list[tuple[Any, ...]]] = {pk: [] for pk in pks}
    stmt = select(
        c.image_pk,
        c.name,
        c.version,
        c.type,
        c.path,
        c.purl,
        c.source_name,
        c.source_version,
        c.layer,
        c.owner,
    ).where(c.image_pk.in_(list(pks)))
    for row in session.execute(stmt).tuples():
        out[row[0]].append(row[1:])
    return out


_VULN_COLUMNS = (
    "advisory_id",
    "cve_id",
    "component",
    "version",
    "component_type",
    "severity",
    "cvss_score",
    "cvss_vector",
    "fixed_versions",
    "summary",
    "detail",
)


def vulnerability_rows_of(session: Session, pks: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """The stored findings of the images ``pks`` as plain dicts (the shape callers insert)."""
    v = ImageVulnerability
    out: dict[int, list[dict[str, Any]]] = {pk: [] for pk in pks}
    cols = [getattr(v, name) for name in _VULN_COLUMNS]
    for row in session.execute(select(v.image_pk, *cols).where(v.image_pk.in_(list(pks)))):
        out[int(row[0])].append(dict(zip(_VULN_COLUMNS, row[1:], strict=True)))
    return out


def touch_images(session: Session, pks: Sequence[int], values: dict[str, Any]) -> None:
    """The same column values for many images in one statement (e.g. a new ScanTime)."""
    if pks:
        session.execute(update(Image).where(Image.id.in_(list(pks))).values(**values))


def replace_vulnerabilities_many(
    session: Session, items: Sequence[tuple[int, list[dict[str, Any]], dict[str, Any]]]
) -> None:
    """``replace_vulnerabilities`` for many images in three set-wise statements:
    (pk, new findings rows, image column values), every item with the same value keys."""
    if not items:
        return
    # the Core tables: the ORM's bulk paths cost more per row than they bring here
    vt, it = cast(Table, ImageVulnerability.__table__), cast(Table, Image.__table__)
    session.execute(delete(vt).where(vt.c.image_pk.in_([pk for pk, _, _ in items])))
    rows = [{**r, "image_pk": pk} for pk, found, _ in items for r in found]
    if rows:
        session.execute(insert(vt), rows)
    keys = sorted(items[0][2])
    stmt = (
        update(it).where(it.c.id == bindparam("pk_")).values({k: bindparam(f"v_{k}") for k in keys})
    )
    session.execute(
        stmt, [{"pk_": pk, **{f"v_{k}": values[k] for k in keys}} for pk, _, values in items]
    )


def replace_vulnerabilities(
    session: Session, pk: int, rows: list[dict[str, Any]], values: dict[str, Any]
) -> None:
    session.execute(delete(ImageVulnerability).where(ImageVulnerability.image_pk == pk))
    if rows:
        session.execute(insert(ImageVulnerability), [{**r, "image_pk": pk} for r in rows])
    session.execute(update(Image).where(Image.id == pk).values(**values))


# --- malware and risk findings (0007) ---------------------------------------------------------


def replace_findings(
    session: Session,
    pk: int,
    viruses: list[dict[str, Any]],
    risks: list[dict[str, Any]],
    scan_time: datetime,
) -> None:
    """Replace an image's virus and risk rows with a new scan's.

    A virus finding seen before (same path, name and md5) keeps its FirstScanTime; the
    rows are read before they are deleted, in the caller's transaction.
    """
    first_seen = {
        (r.path, r.virus_name, r.md5): r.first_scan_time
        for r in session.execute(
            select(
                ImageVirus.path, ImageVirus.virus_name, ImageVirus.md5, ImageVirus.first_scan_time
            ).where(ImageVirus.image_pk == pk)
        )
    }
    session.execute(delete(ImageVirus).where(ImageVirus.image_pk == pk))
    session.execute(delete(ImageRisk).where(ImageRisk.image_pk == pk))
    if viruses:
        session.execute(
            insert(ImageVirus),
            [
                {
                    **v,
                    "image_pk": pk,
                    "first_scan_time": first_seen.get(
                        (v["path"], v["virus_name"], v["md5"]), scan_time
                    ),
                    "latest_scan_time": scan_time,
                }
                for v in viruses
            ],
        )
    if risks:
        session.execute(insert(ImageRisk), [{**r, "image_pk": pk} for r in risks])


def clear_findings(session: Session, pk: int) -> None:
    session.execute(delete(ImageVirus).where(ImageVirus.image_pk == pk))
    session.execute(delete(ImageRisk).where(ImageRisk.image_pk == pk))


def image_viruses(session: Session, image_pk: int) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(ImageVirus).where(ImageVirus.image_pk == image_pk).order_by(ImageVirus.id)
    )
    return [
        {
            "path": v.path,
            "file_name": v.file_name,
            "virus_name": v.virus_name,
            "risk_level": v.risk_level,
            "md5": v.md5,
            "size": int(v.size),
            "tags": list(v.tags or []),
            "desc": v.description,
            "solution": v.solution,
            "engine": v.engine,
            "layer": v.layer,
            "first_scan_time": v.first_scan_time,
            "latest_scan_time": v.latest_scan_time,
        }
        for v in rows
    ]


def image_risks(session: Session, image_pk: int) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(ImageRisk).where(ImageRisk.image_pk == image_pk).order_by(ImageRisk.id)
    )
    return [
        {
            "kind": r.kind,
            "rule_id": r.rule_id,
            "behavior": r.behavior,
            "type": r.type,
            "level": r.level,
            "desc": r.description,
            "instruction": r.instruction,
            "path": r.path,
            "line": r.line,
            "excerpt": r.excerpt,
            "layer": r.layer,
        }
        for r in rows
    ]


def risk_counts(session: Session, image_pk: int) -> dict[str, int]:
    """Risk rows of an image per kind ("sensitive", "build")."""
    stmt = (
        select(ImageRisk.kind, func.count())
        .where(ImageRisk.image_pk == image_pk)
        .group_by(ImageRisk.kind)
    )
    return {str(k): int(n) for k, n in session.execute(stmt)}


def image_row(session: Session, account_id: int, image_id: str) -> Image | None:
    return session.scalar(
        select(Image).where(Image.account_id == account_id, Image.image_id == image_id)
    )


@dataclass(frozen=True)
class LatestJob:
    """The most recent scan job of an image: what it asked for and how it ended."""

    state: str
    scan_vul: bool
    scan_virus: bool
    scan_risk: bool
    finished_at: datetime | None
    deadline: datetime | None  # the task's, when the job belongs to one


def latest_job(session: Session, account_id: int, image_id: str) -> LatestJob | None:
    row = session.execute(
        select(ScanJobRow.state, ScanJobRow.options, ScanJobRow.finished_at, ScanTaskRow.deadline)
        .outerjoin(ScanTaskRow, ScanTaskRow.task_id == ScanJobRow.task_id)
        .where(ScanJobRow.account_id == account_id, ScanJobRow.image_id == image_id)
        .order_by(ScanJobRow.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    opts = row.options or {}
    return LatestJob(
        state=row.state,
        scan_vul=bool(opts.get("scan_vul", True)),
        scan_virus=bool(opts.get("scan_virus", True)),
        scan_risk=bool(opts.get("scan_risk", True)),
        finished_at=row.finished_at,
        deadline=row.deadline,
    )


# --- DescribeAssetImageSimpleList ----------------------------------------------------------------

_SIMPLE_SORTS: dict[SortField, Any] = {
    SortField.CREATE_TIME: Image.create_time,
    SortField.IMAGE_NAME: Image.image_name,
    SortField.SIZE: Image.size,
    SortField.HOST_CNT: Image.host_cnt,
    SortField.CONTAINER_CNT: Image.container_cnt,
    SortField.SCAN_TIME: Image.scan_time,
}


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def list_simple(
    session: Session,
    account_id: int,
    keywords: Sequence[str],
    sorts: Sequence[SortField],
    descending: bool,
    limit: int,
    offset: int,
) -> tuple[list[SimpleImage], int]:
    """A page of (ImageID, ImageName, ContainerCnt, ScanTime, Size), keywords ORed over the
    image's names (case-insensitive substring) and its ID (substring of ``sha256:<hex>``)."""
    where: list[Any] = [Image.account_id == account_id]
    if keywords:
        where.append(
            or_(
                *(Image.names_search.like(_like(k.lower()), escape="\\") for k in keywords),
                *(Image.image_id.like(_like(k.lower()), escape="\\") for k in keywords),
            )
        )
    order: list[Any] = []
    for f in sorts or (SortField.CREATE_TIME,):
        col = _SIMPLE_SORTS[f]
        o = col.desc() if descending else col.asc()
        order.append(o.nulls_last() if f in (SortField.CREATE_TIME, SortField.SCAN_TIME) else o)
    order.append(Image.image_id.desc() if descending else Image.image_id.asc())
    stmt = (
        select(Image.image_id, Image.image_name, Image.container_cnt, Image.scan_time, Image.size)
        .where(*where)
        .order_by(*order)
        .limit(limit)
        .offset(offset)
    )
    rows = [SimpleImage(r[0], r[1], int(r[2]), r[3], int(r[4])) for r in session.execute(stmt)]
    if offset == 0 and len(rows) < limit:
        total = len(rows)
    else:
        total = int(session.scalar(select(func.count()).select_from(Image).where(*where)) or 0)
    return rows, total
