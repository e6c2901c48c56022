"""Malware, risk and detail drill-downs: DescribeAssetImageVirusList,
DescribeAssetImageRiskList, DescribeAssetImageDetail, and DescribeAssetImageSimpleList.

Wire conventions (README, "Drill-downs"):
- times are RFC 3339 UTC (``2021-01-29T04:03:18Z``), as DescribeAssetImageList emits them;
- ``VirusScanStatus`` and Detail's ``Status``: 0 not scanned, 1 scanning, 2 done, 3 error,
  4 cancelled; Detail's ``Scan*Progress`` is 100 once the category finished (done or
  failed), else 0;
- ``CheckPlatform`` names the engine that found a virus on TCSS's scale: "1" (signature
  engine) for YARA rules, "2" (antivirus engine) for ClamAV, "5" (threat intelligence) for
  the hash blocklist;
- Detail's ``RiskCnt`` counts risky build steps and ``SensitiveInfoCnt`` sensitive
  information; ImagesInfo.RiskCnt is their sum;
- ``BuildHistory`` is a JSON array of ``{"Created", "CreatedBy", "EmptyLayer", "Comment"}``
  from the image config, secrets redacted.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import msgspec

from imagewarden.api.actions.images import AssetFilters, rfc3339
from imagewarden.api.registry import Action, RequestContext, wire_names
from imagewarden.inventory.drilldown import (
    CHECK_PLATFORM,
    SIMPLE_SORTS,
    page_risks,
    page_viruses,
    progress_of,
)
from imagewarden.inventory.errors import InvalidFilterError
from imagewarden.inventory.models import ImageDetail, SortField, normalise_image_id
from imagewarden.inventory.service import InventoryService

__all__ = ["actions"]

Limit = Annotated[int, msgspec.Meta(ge=1, le=100)]
Offset = Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]


class DescribeAssetImageVirusListRequest(
    msgspec.Struct, forbid_unknown_fields=True, rename=wire_names()
):
    image_id: str
    limit: Limit = 10
    offset: Offset = 0
    filters: list[AssetFilters] | None = None
    order: str | None = None
    by: str | None = None


class ImageVirusInfo(msgspec.Struct, rename=wire_names(md5="Md5")):
    path: str
    risk_level: int
    virus_name: str
    tags: list[str]
    desc: str
    solution: str
    size: int
    first_scan_time: str
    latest_scan_time: str
    md5: str
    file_name: str
    check_platform: list[str]


class DescribeAssetImageVirusListResponse(msgspec.Struct, rename=wire_names(items="List")):
    items: list[ImageVirusInfo]
    total_count: int
    virus_scan_status: int


class DescribeAssetImageRiskListRequest(
    msgspec.Struct, forbid_unknown_fields=True, rename=wire_names()
):
    image_id: str
    limit: Limit = 10
    offset: Offset = 0
    filters: list[AssetFilters] | None = None
    by: str | None = None
    order: str | None = None


class ImageRiskInfo(msgspec.Struct, rename=wire_names()):
    behavior: int
    type: int
    level: int
    desc: str
    instruction_content: str


class DescribeAssetImageRiskListResponse(msgspec.Struct, rename=wire_names(items="List")):
    items: list[ImageRiskInfo]
    total_count: int


class DescribeAssetImageDetailRequest(
    msgspec.Struct, forbid_unknown_fields=True, rename=wire_names()
):
    image_id: str


class DescribeAssetImageDetailResponse(msgspec.Struct, rename=wire_names()):
    image_id: str
    image_name: str
    image_digest: str
    create_time: str
    size: int
    host_cnt: int
    container_cnt: int
    super_node_cnt: int
    scan_time: str
    vul_cnt: int
    risk_cnt: int
    sensitive_info_cnt: int
    is_trust_image: bool
    os_name: str
    agent_error: str
    scan_error: str
    architecture: str
    author: str
    build_history: str
    scan_virus_progress: int
    scan_vul_progress: int
    scan_risk_progress: int
    scan_virus_error: str
    scan_vul_error: str
    scan_risk_error: str
    scan_status: str
    virus_cnt: int
    status: int
    remain_scan_time: int
    is_authorized: int
    solution: str
    reason: str
    repo_digests: list[str]


class DescribeAssetImageSimpleListRequest(
    msgspec.Struct, forbid_unknown_fields=True, rename=wire_names()
):
    limit: Limit = 10
    offset: Offset = 0
    filters: list[AssetFilters] | None = None
    by: str | None = None
    order: str | None = None


class AssetSimpleImageInfo(msgspec.Struct, rename=wire_names()):
    image_id: str
    image_name: str
    container_cnt: int
    scan_time: str
    size: int


class DescribeAssetImageSimpleListResponse(msgspec.Struct, rename=wire_names(items="List")):
    items: list[AssetSimpleImageInfo]
    total_count: int


def _filters(filters: list[AssetFilters] | None) -> list[tuple[str, list[str], bool]]:
    return [(f.name, f.values, bool(f.exact_match)) for f in filters or ()]


def _virus(r: dict[str, Any]) -> ImageVirusInfo:
    platform = CHECK_PLATFORM.get(r["engine"])
    return ImageVirusInfo(
        path=r["path"],
        risk_level=r["risk_level"],
        virus_name=r["virus_name"],
        tags=r["tags"],
        desc=r["desc"],
        solution=r["solution"],
        size=r["size"],
        first_scan_time=rfc3339(r["first_scan_time"]),
        latest_scan_time=rfc3339(r["latest_scan_time"]),
        md5=r["md5"],
        file_name=r["file_name"],
        check_platform=[platform] if platform else [],
    )


def _digest(repo_digests: tuple[str, ...]) -> str:
    """The manifest digest of ``repo@sha256:...`` (all an image's repo digests share it)."""
    for d in repo_digests:
        if "@" in d:
            return d.rsplit("@", 1)[1]
    return ""


def _detail(d: ImageDetail) -> DescribeAssetImageDetailResponse:
    history = [
        {
            "Created": h.created,
            "CreatedBy": h.created_by,
            "EmptyLayer": h.empty_layer,
            "Comment": h.comment,
        }
        for h in d.build_history
    ]
    return DescribeAssetImageDetailResponse(
        image_id=d.image_id,
        image_name=d.image_name,
        image_digest=_digest(d.repo_digests),
        create_time=rfc3339(d.create_time),
        size=d.size,
        host_cnt=d.host_cnt,
        container_cnt=d.container_cnt,
        super_node_cnt=d.super_node_cnt,
        scan_time=rfc3339(d.scan_time),
        vul_cnt=d.vul_cnt,
        risk_cnt=d.build_risk_cnt,
        sensitive_info_cnt=d.sensitive_cnt,
        is_trust_image=d.is_trust_image,
        os_name=d.os_name,
        agent_error=d.agent_error,
        scan_error=d.scan_error,
        architecture=d.architecture,
        author=d.author,
        build_history=json.dumps(history, ensure_ascii=False) if history else "",
        scan_virus_progress=progress_of(d.virus_state),
        scan_vul_progress=progress_of(d.vul_state),
        scan_risk_progress=progress_of(d.risk_state),
        scan_virus_error=d.scan_virus_error,
        scan_vul_error=d.scan_vul_error,
        scan_risk_error=d.scan_risk_error,
        scan_status=d.scan_status,
        virus_cnt=d.virus_cnt,
        status=int(d.status),
        remain_scan_time=d.remain_seconds,
        is_authorized=d.is_authorized,
        solution=d.solution,
        reason=d.reason,
        repo_digests=list(d.repo_digests),
    )


_SIMPLE_SORT_NAMES = {s.value.lower(): s for s in SIMPLE_SORTS}


def _simple_query(
    req: DescribeAssetImageSimpleListRequest,
) -> tuple[list[str], list[SortField], bool]:
    """Filters: ``Keywords`` (substring of a name or of the ID, any case; values ORed);
    ``By``: one or more comma-separated of CreateTime, ImageName, Size, HostCnt,
    ContainerCnt, ScanTime (default CreateTime); ``Order``: asc|desc (default desc)."""
    keywords: list[str] = []
    for i, (name, values, _exact) in enumerate(_filters(req.filters)):
        if name.strip().lower() != "keywords":
            raise InvalidFilterError(
                f"Filters.{i}.Name", f"unknown filter `{name}` (known: Keywords)"
            )
        if not values:
            raise InvalidFilterError(f"Filters.{i}.Values", "at least one value is required")
        for j, v in enumerate(values):
            if not v.strip():
                raise InvalidFilterError(
                    f"Filters.{i}.Values.{j}", "an empty keyword matches nothing"
                )
            keywords.append(v.strip())
    sorts: list[SortField] = []
    for f in (req.by or "").split(","):
        if not f.strip():
            continue
        found = _SIMPLE_SORT_NAMES.get(f.strip().lower())
        if found is None:
            known = ", ".join(s.value for s in SIMPLE_SORTS)
            raise InvalidFilterError("By", f"cannot sort by `{f.strip()}` (sortable: {known})")
        sorts.append(found)
    descending = True
    if req.order is not None and req.order.strip():
        o = req.order.strip().lower()
        if o not in ("asc", "desc"):
            raise InvalidFilterError("Order", f"`{req.order}` is not asc or desc")
        descending = o == "desc"
    return keywords, sorts, descending


def actions(service: InventoryService) -> tuple[Action[Any, Any], ...]:
    def virus_list(
        req: DescribeAssetImageVirusListRequest, ctx: RequestContext
    ) -> DescribeAssetImageVirusListResponse:
        found = service.image_viruses(ctx.account_id, normalise_image_id(req.image_id))
        page, total = page_viruses(
            found.rows, _filters(req.filters), req.by, req.order, req.limit, req.offset
        )
        return DescribeAssetImageVirusListResponse(
            items=[_virus(r) for r in page], total_count=total, virus_scan_status=int(found.state)
        )

    def risk_list(
        req: DescribeAssetImageRiskListRequest, ctx: RequestContext
    ) -> DescribeAssetImageRiskListResponse:
        rows = service.image_risks(ctx.account_id, normalise_image_id(req.image_id))
        page, total = page_risks(
            rows, _filters(req.filters), req.by, req.order, req.limit, req.offset
        )
        return DescribeAssetImageRiskListResponse(
            items=[
                ImageRiskInfo(r["behavior"], r["type"], r["level"], r["desc"], r["instruction"])
                for r in page
            ],
            total_count=total,
        )

    def detail(
        req: DescribeAssetImageDetailRequest, ctx: RequestContext
    ) -> DescribeAssetImageDetailResponse:
        return _detail(service.image_detail(ctx.account_id, normalise_image_id(req.image_id)))

    def simple_list(
        req: DescribeAssetImageSimpleListRequest, ctx: RequestContext
    ) -> DescribeAssetImageSimpleListResponse:
        keywords, sorts, descending = _simple_query(req)
        rows, total = service.list_simple(
            ctx.account_id, keywords, sorts, descending, req.limit, req.offset
        )
        return DescribeAssetImageSimpleListResponse(
            items=[
                AssetSimpleImageInfo(
                    r.image_id, r.image_name, r.container_cnt, rfc3339(r.scan_time), r.size
                )
                for r in rows
            ],
            total_count=total,
        )

    return (
        Action(
            "DescribeAssetImageVirusList",
            DescribeAssetImageVirusListRequest,
            DescribeAssetImageVirusListResponse,
            virus_list,
        ),
        Action(
            "DescribeAssetImageRiskList",
            DescribeAssetImageRiskListRequest,
            DescribeAssetImageRiskListResponse,
            risk_list,
        ),
        Action(
            "DescribeAssetImageDetail",
            DescribeAssetImageDetailRequest,
            DescribeAssetImageDetailResponse,
            detail,
        ),
        Action(
            "DescribeAssetImageSimpleList",
            DescribeAssetImageSimpleListRequest,
            DescribeAssetImageSimpleListResponse,
            simple_list,
        ),
    )
