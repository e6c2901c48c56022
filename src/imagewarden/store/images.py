"""Image queries for DescribeAssetImageList, built from a typed ImageQuery for both dialects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, func, or_, select
from sqlalchemy.orm import Session

from imagewarden.inventory.models import (
    FilterClause,
    FilterKind,
    ImageQuery,
    ImageRow,
    SortField,
)
from imagewarden.store.tables import Image, ImageName

__all__ = ["count_images", "list_images", "set_trust"]

_SORT_COLUMNS: dict[SortField, Any] = {
    SortField.CREATE_TIME: Image.create_time,
    SortField.IMAGE_NAME: Image.image_name,
    SortField.SIZE: Image.size,
    SortField.HOST_CNT: Image.host_cnt,
    SortField.SUPER_NODE_CNT: Image.super_node_cnt,
    SortField.CONTAINER_CNT: Image.container_cnt,
    SortField.SCAN_TIME: Image.scan_time,
    SortField.VUL_CNT: Image.vul_cnt,
    SortField.VIRUS_CNT: Image.virus_cnt,
    SortField.RISK_CNT: Image.risk_cnt,
    SortField.COMPONENT_CNT: Image.component_cnt,
    SortField.CRITICAL: Image.critical_cnt,
    SortField.HIGH: Image.high_cnt,
    SortField.MEDIUM: Image.medium_cnt,
    SortField.LOW: Image.low_cnt,
    SortField.IS_SUGGEST: Image.is_suggest,
    SortField.IS_AUTHORIZED: Image.is_authorized,
}

_RISK_CONDITIONS: dict[str, Any] = {
    "VirusCnt": Image.virus_cnt > 0,
    "RiskCnt": Image.risk_cnt > 0,
    "IsTrustImage": Image.is_trusted.is_(True),
    "CriticalLevelVul": Image.critical_cnt > 0,
    "HighLevelVul": Image.high_cnt > 0,
    "MediumLevelVul": Image.medium_cnt > 0,
    "LowLevelVul": Image.low_cnt > 0,
    "VulCnt": Image.vul_cnt > 0,
}


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _condition(account_id: int, clause: FilterClause) -> ColumnElement[bool]:
    vals = clause.values
    if clause.kind is FilterKind.IMAGE_NAME:
        if clause.exact:
            return exists(
                select(ImageName.image_pk).where(
                    ImageName.image_pk == Image.id,
                    ImageName.account_id == account_id,
                    ImageName.name.in_(vals),
                )
            )
        return or_(*(Image.names_search.like(f"%{_like_escape(v)}%", escape="\\") for v in vals))
    if clause.kind is FilterKind.IMAGE_ID:
        if clause.exact:
            return Image.image_id.in_([f"sha256:{v}" for v in vals])
        return or_(*(Image.image_id.like(f"sha256:{v}%") for v in vals))
    if clause.kind is FilterKind.SCAN_STATUS:
        return Image.scan_status.in_(vals)
    if clause.kind is FilterKind.SECURITY_RISK:
        return or_(*(_RISK_CONDITIONS[v] for v in vals))
    return false()  # pragma: no cover - every kind is handled above


def _where(account_id: int, query: ImageQuery) -> list[ColumnElement[bool]]:
    return [Image.account_id == account_id, *(_condition(account_id, c) for c in query.clauses)]


def list_images(session: Session, account_id: int, query: ImageQuery) -> list[ImageRow]:
    col = _SORT_COLUMNS[query.sort]
    primary = col.desc() if query.descending else col.asc()
    tiebreak = Image.image_id.desc() if query.descending else Image.image_id.asc()
    stmt = (
        select(Image)
        .where(and_(*_where(account_id, query)))
        .order_by(primary.nulls_last(), tiebreak)
        .limit(query.limit)
        .offset(query.offset)
    )
    return [_row(img) for img in session.scalars(stmt)]


def count_images(session: Session, account_id: int, query: ImageQuery) -> int:
    stmt = select(func.count()).select_from(Image).where(and_(*_where(account_id, query)))
    return int(session.scalar(stmt) or 0)


def set_trust(session: Session, account_id: int, image_ids: Sequence[str], trusted: bool) -> int:
    rows = session.scalars(
        select(Image).where(Image.account_id == account_id, Image.image_id.in_(image_ids))
    ).all()
    for img in rows:
        img.is_trusted = trusted
    return len(rows)


def _row(i: Image) -> ImageRow:
    return ImageRow(
        image_id=i.image_id,
        image_name=i.image_name,
        create_time=i.create_time,
        size=i.size,
        host_cnt=i.host_cnt,
        super_node_cnt=i.super_node_cnt,
        container_cnt=i.container_cnt,
        scan_time=i.scan_time,
        vul_cnt=i.vul_cnt,
        virus_cnt=i.virus_cnt,
        risk_cnt=i.risk_cnt,
        is_trust_image=i.is_trusted,
        os_name=i.os_name,
        agent_error=i.agent_error,
        scan_error=i.scan_error,
        scan_status=i.scan_status,
        scan_virus_error=i.scan_virus_error,
        scan_vul_error=i.scan_vul_error,
        scan_risk_error=i.scan_risk_error,
        is_suggest=i.is_suggest,
        is_authorized=i.is_authorized,
        component_cnt=i.component_cnt,
        critical_level_vul_cnt=i.critical_cnt,
        high_level_vul_cnt=i.high_cnt,
        medium_level_vul_cnt=i.medium_cnt,
        low_level_vul_cnt=i.low_cnt,
        is_latest_image=i.is_latest_image,
        recommended_fix=i.recommended_fix,
        solution=i.solution,
        reason=i.reason,
    )
