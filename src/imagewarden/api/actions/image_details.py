"""Per-image drill-downs: DescribeAssetImageVulList, DescribeImageComponentList,
DescribeAssetImageHostList."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Annotated, Any

import msgspec

from imagewarden.api.actions.images import AssetFilters
from imagewarden.api.registry import Action, RequestContext, wire_names
from imagewarden.inventory.drilldown import level_of, page_components, page_vulnerabilities
from imagewarden.inventory.errors import InvalidFilterError
from imagewarden.inventory.models import normalise_image_id
from imagewarden.inventory.service import InventoryService

__all__ = ["actions"]

Limit = Annotated[int, msgspec.Meta(ge=1, le=100)]
Offset = Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]


class DescribeAssetImageVulListRequest(
    msgspec.Struct, forbid_unknown_fields=True, rename=wire_names()
):
    image_id: str
    limit: Limit = 10
    offset: Offset = 0
    filters: list[AssetFilters] | None = None
    by: str | None = None
    order: str | None = None


class ImagesVul(
    msgspec.Struct,
    rename=wire_names(cve_id="CVEID", cvssv3_score="CVSSV3Score", cvssv3_desc="CVSSV3Desc"),
):
    cve_id: str
    name: str
    component: str
    version: str
    category: str
    category_type: str
    level: int
    des: str
    official_solution: str
    reference: str
    defense_solution: str
    submit_time: str
    cvssv3_score: float
    cvssv3_desc: str
    is_suggest: bool
    fixed_versions: str
    tag: list[str]
    attack_level: int


class DescribeAssetImageVulListResponse(msgspec.Struct, rename=wire_names(items="List")):
    items: list[ImagesVul]
    total_count: int


class DescribeImageComponentListRequest(
    msgspec.Struct, forbid_unknown_fields=True, rename=wire_names()
):
    image_id: str
    limit: Limit = 10
    offset: Offset = 0
    filters: list[AssetFilters] | None = None
    by: str | None = None
    order: str | None = None


class ImageComponent(msgspec.Struct, rename=wire_names()):
    name: str
    version: str
    path: str
    type: str
    vul_count: int
    image_id: str


class DescribeImageComponentListResponse(msgspec.Struct, rename=wire_names(items="List")):
    total_count: int
    items: list[ImageComponent]


class DescribeAssetImageHostListRequest(
    msgspec.Struct, forbid_unknown_fields=True, rename=wire_names()
):
    filters: list[AssetFilters] | None = None


class ImageHost(msgspec.Struct, rename=wire_names()):
    image_id: str
    host_id: str


class DescribeAssetImageHostListResponse(msgspec.Struct, rename=wire_names(items="List")):
    items: list[ImageHost]
    total_count: int


def _filters(filters: list[AssetFilters] | None) -> list[tuple[str, list[str], bool]]:
    return [(f.name, f.values, bool(f.exact_match)) for f in filters or ()]


def _vul(r: dict[str, Any]) -> ImagesVul:
    fixed = r["fixed_versions"]
    detail = r["detail"]
    refs = [x for x in str(detail.get("references", "")).split("\n") if x]
    level = level_of(r["severity"])
    return ImagesVul(
        cve_id=r["cve_id"],
        name=r["summary"] or r["advisory_id"],
        component=r["component"],
        version=r["version"],
        category="",
        category_type="",
        level=level,
        des=str(detail.get("description", "")) or r["summary"],
        official_solution=(
            f"Upgrade {r['component']} to {' or '.join(fixed)}"
            if fixed
            else "No fixed version is available yet."
        ),
        reference=json.dumps(refs),
        defense_solution="",
        submit_time=str(detail.get("published", "")),
        cvssv3_score=float(r["cvss_score"] or 0.0),
        cvssv3_desc=r["cvss_vector"] or "",
        is_suggest=level >= 3 and bool(fixed),
        fixed_versions=", ".join(fixed),
        tag=["CanBeFixed"] if fixed else [],
        attack_level=0,
    )


def actions(service: InventoryService) -> tuple[Action[Any, Any], ...]:
    def vul_list(
        req: DescribeAssetImageVulListRequest, ctx: RequestContext
    ) -> DescribeAssetImageVulListResponse:
        rows = service.image_vulnerabilities(ctx.account_id, normalise_image_id(req.image_id))
        page, total = page_vulnerabilities(
            rows, _filters(req.filters), req.by, req.order, req.limit, req.offset
        )
        return DescribeAssetImageVulListResponse(items=[_vul(r) for r in page], total_count=total)

    def component_list(
        req: DescribeImageComponentListRequest, ctx: RequestContext
    ) -> DescribeImageComponentListResponse:
        image_id = normalise_image_id(req.image_id)
        comps = service.image_components(ctx.account_id, image_id)
        vulns = service.image_vulnerabilities(ctx.account_id, image_id)
        counts: dict[tuple[str, str], int] = defaultdict(int)
        levels: dict[tuple[str, str], set[int]] = defaultdict(set)
        for v in vulns:
            counts[(v["component"], v["version"])] += 1
            levels[(v["component"], v["version"])].add(level_of(v["severity"]))
        page, total = page_components(
            comps, counts, levels, _filters(req.filters), req.by, req.order, req.limit, req.offset
        )
        return DescribeImageComponentListResponse(
            total_count=total,
            items=[
                ImageComponent(
                    r["name"], r["version"], r["path"], r["type"], r["vul_count"], image_id
                )
                for r in page
            ],
        )

    def host_list(
        req: DescribeAssetImageHostListRequest, ctx: RequestContext
    ) -> DescribeAssetImageHostListResponse:
        image_ids: list[str] = []
        host_ids: list[str] = []
        for i, (name, values, _exact) in enumerate(_filters(req.filters)):
            if name.lower() == "imageid":
                image_ids += [
                    normalise_image_id(v, f"Filters.{i}.Values.{j}") for j, v in enumerate(values)
                ]
            elif name.lower() == "hostid":
                host_ids += values
            else:
                raise InvalidFilterError(
                    f"Filters.{i}.Name", f"unknown filter `{name}` (known: ImageID, HostID)"
                )
        pairs = service.image_hosts(ctx.account_id, image_ids, host_ids)
        return DescribeAssetImageHostListResponse(
            items=[ImageHost(i, h) for i, h in pairs], total_count=len(pairs)
        )

    return (
        Action(
            "DescribeAssetImageVulList",
            DescribeAssetImageVulListRequest,
            DescribeAssetImageVulListResponse,
            vul_list,
        ),
        Action(
            "DescribeImageComponentList",
            DescribeImageComponentListRequest,
            DescribeImageComponentListResponse,
            component_list,
        ),
        Action(
            "DescribeAssetImageHostList",
            DescribeAssetImageHostListRequest,
            DescribeAssetImageHostListResponse,
            host_list,
        ),
    )
