"""Per-image drill-down rows: vulnerabilities, components, host links."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from imagewarden.store.tables import Host, HostImage, Image, ImageComponent, ImageVulnerability

__all__ = ["image_components", "image_hosts", "image_pk", "image_vulnerabilities"]


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
