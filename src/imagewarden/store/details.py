"""Per-image drill-down rows: vulnerabilities, components, host links."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from imagewarden.store.tables import Host, HostImage, Image, ImageComponent, ImageVulnerability

__all__ = [
    "components_of",
    "image_components",
    "image_hosts",
    "image_pk",
    "image_vulnerabilities",
    "replace_vulnerabilities",
    "scanned_batch",
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
        {"name": c.name, "version": c.version, "type": c.type, "path": c.path, "purl": c.purl}
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


def components_of(session: Session, pks: Sequence[int]) -> dict[int, list[Any]]:
    """Component rows (plain tuples with named fields, no ORM objects: this is a bulk path)."""
    c = ImageComponent
    out: dict[int, list[Any]] = {pk: [] for pk in pks}
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
    ).where(c.image_pk.in_(list(pks)))
    for row in session.execute(stmt):
        out[int(row.image_pk)].append(row)
    return out


def replace_vulnerabilities(
    session: Session, pk: int, rows: list[dict[str, Any]], values: dict[str, Any]
) -> None:
    session.execute(delete(ImageVulnerability).where(ImageVulnerability.image_pk == pk))
    if rows:
        session.execute(insert(ImageVulnerability), [{**r, "image_pk": pk} for r in rows])
    session.execute(update(Image).where(Image.id == pk).values(**values))
