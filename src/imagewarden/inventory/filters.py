"""From the API's generic filters to a typed ImageQuery.

Rules (documented in the README, pinned by tests):
- entries are ANDed, the ``Values`` of one entry ORed;
- ``ImageName``: case-insensitive substring of any of the image's names; with
  ``ExactMatch: true``, exact equality with one of its names;
- ``ImageID``: with or without ``sha256:``; prefix match, or equality with ``ExactMatch``;
- ``ScanStatus``: ``notScan|scanning|scanned|scanErr`` or ``NOT_SCAN|...``, any case;
- ``SecurityRisk``: ``VirusCnt``/``RiskCnt`` (count > 0), ``IsTrustImage`` (trusted),
  ``Critical|High|Medium|LowLevelVul`` (that severity count > 0), and ``VulCnt``
  (any vulnerability), any case.  Counts only exist for finished scans, so an image
  that was never scanned, or whose scan failed, never matches a risk filter;
- ``By``: any numeric or time ImagesInfo field or ``ImageName`` (``SensitiveCount`` = RiskCnt),
  any case; ``Order``: ``asc|desc`` any case; default ``CreateTime`` descending.
"""

from __future__ import annotations

from collections.abc import Sequence

from imagewarden.inventory.errors import InvalidFilterError
from imagewarden.inventory.models import FilterClause, FilterKind, ImageQuery, ScanStatus, SortField

__all__ = ["RISK_VALUES", "build_image_query"]

_KINDS = {k.value.lower(): k for k in FilterKind}
_STATUS = {
    "notscan": ScanStatus.NOT_SCAN,
    "scanning": ScanStatus.SCANNING,
    "scanned": ScanStatus.SCANNED,
    "scanerr": ScanStatus.SCAN_ERR,
}
#: SecurityRisk values (canonical spelling), "VulCnt" accepted as "any vulnerability"
RISK_VALUES = (
    "VirusCnt",
    "RiskCnt",
    "IsTrustImage",
    "CriticalLevelVul",
    "HighLevelVul",
    "MediumLevelVul",
    "LowLevelVul",
    "VulCnt",
)
_RISKS = {v.lower(): v for v in RISK_VALUES}
_SORTS = {s.value.lower(): s for s in SortField} | {"sensitivecount": SortField.RISK_CNT}


def _clause(index: int, name: str, values: Sequence[str], exact: bool) -> FilterClause:
    where = f"Filters.{index}"
    kind = _KINDS.get(name.strip().lower())
    if kind is None:
        known = ", ".join(k.value for k in FilterKind)
        raise InvalidFilterError(f"{where}.Name", f"unknown filter `{name}` (known: {known})")
    if not values:
        raise InvalidFilterError(f"{where}.Values", "at least one value is required")
    out: list[str] = []
    for j, raw in enumerate(values):
        v = raw.strip()
        if kind is FilterKind.SCAN_STATUS:
            st = _STATUS.get(v.replace("_", "").lower())
            if st is None:
                raise InvalidFilterError(
                    f"{where}.Values.{j}",
                    f"unknown ScanStatus `{raw}` (use notScan, scanning, scanned or scanErr)",
                )
            out.append(st.value)
        elif kind is FilterKind.SECURITY_RISK:
            r = _RISKS.get(v.lower())
            if r is None:
                raise InvalidFilterError(
                    f"{where}.Values.{j}",
                    f"unknown SecurityRisk `{raw}` (use {', '.join(RISK_VALUES)})",
                )
            out.append(r)
        elif kind is FilterKind.IMAGE_ID:
            low = v.lower()
            hexpart = low[7:] if low.startswith("sha256:") else low
            if (
                not hexpart
                or any(c not in "0123456789abcdef" for c in hexpart)
                or len(hexpart) > 64
            ):
                raise InvalidFilterError(
                    f"{where}.Values.{j}", f"`{raw}` is not an image ID or a prefix of one"
                )
            out.append(hexpart)
        else:
            if not v:
                raise InvalidFilterError(
                    f"{where}.Values.{j}", "an empty image name matches nothing"
                )
            out.append(raw if exact else v.lower())
    return FilterClause(kind, tuple(dict.fromkeys(out)), exact)


def build_image_query(
    filters: Sequence[tuple[str, Sequence[str], bool]],
    *,
    by: str | None,
    order: str | None,
    limit: int,
    offset: int,
) -> ImageQuery:
    clauses = tuple(_clause(i, n, v, e) for i, (n, v, e) in enumerate(filters))
    sort = SortField.CREATE_TIME
    if by is not None and by.strip():
        found = _SORTS.get(by.strip().lower())
        if found is None:
            known = ", ".join(s.value for s in SortField)
            raise InvalidFilterError("By", f"cannot sort by `{by}` (sortable: {known})")
        sort = found
    descending = True
    if order is not None and order.strip():
        o = order.strip().lower()
        if o not in ("asc", "desc"):
            raise InvalidFilterError("Order", f"`{order}` is not asc or desc")
        descending = o == "desc"
    return ImageQuery(clauses, sort, descending, limit, offset)
