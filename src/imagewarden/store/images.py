"""Image queries for DescribeAssetImageList, built from a typed ImageQuery for both dialects.

How a page stays cheap on a million images (numbers in ``benchmarks/README.md``):

- every sortable column has an ``(account_id, column, image_id)`` index (migration 0003),
  and the ORDER BY is spelled so the index serves it in both directions: ``NULLS LAST``
  only on the two nullable columns (``create_time``, ``scan_time``);
- a deep page first walks the sort index for the ``image_id`` of the page only (covering:
  no row is read for the skipped ``Offset`` rows), then reads those rows;
- ``TotalCount`` of ScanStatus / SecurityRisk filters (and of no filter) is summed from
  ``image_counts``, per-account counts per combination of status and risk flags kept
  exact by triggers in the writing transaction; ImageName / ImageID filters count the
  matching rows through their indexes (ImageID prefixes as an index range, PostgreSQL
  substrings through a pg_trgm index).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    ForeignKeyConstraint,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    and_,
    case,
    false,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session

from imagewarden.inventory.models import (
    FilterClause,
    FilterKind,
    ImageQuery,
    ImageRow,
    SortField,
)
from imagewarden.store.base import Base
from imagewarden.store.tables import Image, ImageName

__all__ = ["IMAGE_COUNTS", "count_images", "list_images", "set_trust"]

#: per-account image counts per (scan status, trust, "count > 0" flags); maintained by the
#: triggers of migration 0003 on every insert, delete and relevant update of ``images``
IMAGE_COUNTS = Table(
    "image_counts",
    Base.metadata,
    Column("account_id", BigInteger().with_variant(Integer(), "sqlite"), nullable=False),
    Column("scan_status", String(16), nullable=False),
    Column("is_trusted", Boolean, nullable=False),
    Column("has_virus", Boolean, nullable=False),
    Column("has_risk", Boolean, nullable=False),
    Column("has_critical", Boolean, nullable=False),
    Column("has_high", Boolean, nullable=False),
    Column("has_medium", Boolean, nullable=False),
    Column("has_low", Boolean, nullable=False),
    Column("has_vul", Boolean, nullable=False),
    Column("n", BigInteger, nullable=False),
    ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
    PrimaryKeyConstraint(
        "account_id",
        "scan_status",
        "is_trusted",
        "has_virus",
        "has_risk",
        "has_critical",
        "has_high",
        "has_medium",
        "has_low",
        "has_vul",
    ),
)
_C = IMAGE_COUNTS.c

# --- key-focus images (IsSuggest), computed when read, so it follows every scan and every
# host report at once: a scanned image that runs in at least one container and has a
# critical vulnerability, malware, or a high vulnerability with a fix available.
_RUNNING = and_(Image.scan_status == "SCANNED", Image.container_cnt > 0)
_SUGGEST_REASONS = (
    (and_(_RUNNING, Image.virus_cnt > 0), "running containers; malware found in the image"),
    (
        and_(_RUNNING, Image.critical_cnt > 0),
        "running containers; critical vulnerabilities",
    ),
    (
        and_(_RUNNING, Image.high_cnt > 0, Image.recommended_fix.is_(True)),
        "running containers; high-severity vulnerabilities with a fix available",
    ),
)
IS_SUGGEST = case(*((cond, literal(1)) for cond, _ in _SUGGEST_REASONS), else_=literal(0))
_REASON = case(*((cond, literal(text)) for cond, text in _SUGGEST_REASONS), else_=Image.reason)
_SOLUTION = case(
    (
        IS_SUGGEST == 1,
        literal(
            "Rebuild the image on fixed packages (DescribeAssetImageVulList lists the fixed "
            "versions; DescribeAssetImageVirusList the infected files) and redeploy the "
            "containers that run it."
        ),
    ),
    else_=Image.solution,
)

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
    SortField.IS_SUGGEST: IS_SUGGEST,
    SortField.IS_AUTHORIZED: Image.is_authorized,
}
#: the only sort columns that can be NULL ("empty values sort last"); on the others
#: NULLS LAST is a no-op that would stop PostgreSQL from walking the index backwards
_NULLABLE = {SortField.CREATE_TIME, SortField.SCAN_TIME}

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
#: the same conditions on the flags of ``image_counts``
_RISK_FLAGS: dict[str, Any] = {
    "VirusCnt": _C.has_virus.is_(True),
    "RiskCnt": _C.has_risk.is_(True),
    "IsTrustImage": _C.is_trusted.is_(True),
    "CriticalLevelVul": _C.has_critical.is_(True),
    "HighLevelVul": _C.has_high.is_(True),
    "MediumLevelVul": _C.has_medium.is_(True),
    "LowLevelVul": _C.has_low.is_(True),
    "VulCnt": _C.has_vul.is_(True),
}
#: the ImagesInfo columns, read without the ORM (a page is 10-100 plain tuples)
_ROW_COLUMNS = (
    Image.image_id,
    Image.image_name,
    Image.create_time,
    Image.size,
    Image.host_cnt,
    Image.super_node_cnt,
    Image.container_cnt,
    Image.scan_time,
    Image.vul_cnt,
    Image.virus_cnt,
    Image.risk_cnt,
    Image.is_trusted,
    Image.os_name,
    Image.agent_error,
    Image.scan_error,
    Image.scan_status,
    Image.scan_virus_error,
    Image.scan_vul_error,
    Image.scan_risk_error,
    IS_SUGGEST,
    Image.is_authorized,
    Image.component_cnt,
    Image.critical_cnt,
    Image.high_cnt,
    Image.medium_cnt,
    Image.low_cnt,
    Image.is_latest_image,
    Image.recommended_fix,
    _SOLUTION,
    _REASON,
)
#: from this Offset on, the page's image IDs are found on the index first (deferred join)
_DEFERRED_FROM = 100
_HEX = "0123456789abcdef"


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _prefix_upper(hexpart: str) -> str | None:
    """The smallest hex string greater than every string starting with ``hexpart``."""
    stripped = hexpart.rstrip("f")
    if not stripped:
        return None
    return stripped[:-1] + _HEX[_HEX.index(stripped[-1]) + 1]


def _id_prefix(hexpart: str) -> ColumnElement[bool]:
    # the LIKE decides; the range lets the (account_id, image_id) index find the candidates
    # (hex digits and "sha256:" compare the same in every collation we run on)
    cond = [Image.image_id >= f"sha256:{hexpart}", Image.image_id.like(f"sha256:{hexpart}%")]
    upper = _prefix_upper(hexpart)
    if upper is not None:
        cond.append(Image.image_id < f"sha256:{upper}")
    return and_(*cond)


def _condition(account_id: int, clause: FilterClause) -> ColumnElement[bool]:
    vals = clause.values
    if clause.kind is FilterKind.IMAGE_NAME:
        if clause.exact:
            # driven from the (account_id, name) index of image_names, not probed per image
            return Image.id.in_(
                select(ImageName.image_pk).where(
                    ImageName.account_id == account_id, ImageName.name.in_(vals)
                )
            )
        return or_(*(Image.names_search.like(f"%{_like_escape(v)}%", escape="\\") for v in vals))
    if clause.kind is FilterKind.IMAGE_ID:
        if clause.exact:
            return Image.image_id.in_([f"sha256:{v}" for v in vals])
        return or_(*(_id_prefix(v) for v in vals))
    if clause.kind is FilterKind.SCAN_STATUS:
        return Image.scan_status.in_(vals)
    if clause.kind is FilterKind.SECURITY_RISK:
        return or_(*(_RISK_CONDITIONS[v] for v in vals))
    return false()  # pragma: no cover - every kind is handled above


def _where(account_id: int, query: ImageQuery) -> list[ColumnElement[bool]]:
    return [Image.account_id == account_id, *(_condition(account_id, c) for c in query.clauses)]


def _order(query: ImageQuery) -> list[Any]:
    col = _SORT_COLUMNS[query.sort]
    primary = col.desc() if query.descending else col.asc()
    if query.sort in _NULLABLE:
        primary = primary.nulls_last()
    tiebreak = Image.image_id.desc() if query.descending else Image.image_id.asc()
    return [primary, tiebreak]


def list_images(session: Session, account_id: int, query: ImageQuery) -> list[ImageRow]:
    where = and_(*_where(account_id, query))
    order = _order(query)
    if query.offset < _DEFERRED_FROM:
        stmt = select(*_ROW_COLUMNS).where(where).order_by(*order)
    else:
        page = (select(Image.image_id).where(where).order_by(*order).limit(query.limit)).offset(
            query.offset
        )
        stmt = (
            select(*_ROW_COLUMNS)
            .where(Image.account_id == account_id, Image.image_id.in_(page.scalar_subquery()))
            .order_by(*order)
        )
    stmt = stmt.limit(query.limit)
    if query.offset < _DEFERRED_FROM:
        stmt = stmt.offset(query.offset)
    return [ImageRow(*cast(tuple[Any, ...], r)) for r in session.execute(stmt)]


def _countable(query: ImageQuery) -> bool:
    return all(c.kind in (FilterKind.SCAN_STATUS, FilterKind.SECURITY_RISK) for c in query.clauses)


def count_images(session: Session, account_id: int, query: ImageQuery) -> int:
    if _countable(query):
        cond: list[ColumnElement[bool]] = [_C.account_id == account_id]
        for c in query.clauses:
            if c.kind is FilterKind.SCAN_STATUS:
                cond.append(_C.scan_status.in_(c.values))
            else:
                cond.append(or_(*(_RISK_FLAGS[v] for v in c.values)))
        total = session.scalar(select(func.sum(_C.n)).where(and_(*cond)))
        return int(total or 0)
    stmt = select(func.count()).select_from(Image).where(and_(*_where(account_id, query)))
    return int(session.scalar(stmt) or 0)


def set_trust(session: Session, account_id: int, image_ids: Sequence[str], trusted: bool) -> int:
    rows = session.scalars(
        select(Image).where(Image.account_id == account_id, Image.image_id.in_(image_ids))
    ).all()
    for img in rows:
        img.is_trusted = trusted
    return len(rows)
