"""Scan-task actions: CreateAssetImageScanTask, DescribeAssetImageScanStatus,
DescribeAssetImageScanTask, ModifyAssetImageScanStop."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from imagewarden.api.actions.images import AssetFilters, rfc3339
from imagewarden.api.registry import Action, RequestContext, wire_names
from imagewarden.inventory.filters import build_image_query
from imagewarden.inventory.models import ImageQuery, normalise_image_id
from imagewarden.jobs.tasks import TaskService

__all__ = ["actions"]

IdList = Annotated[
    list[Annotated[str, msgspec.Meta(max_length=80)]], msgspec.Meta(max_length=10_000)
]


class CreateAssetImageScanTaskRequest(
    msgspec.Struct, forbid_unknown_fields=True, rename=wire_names()
):
    all: bool | None = None
    images: IdList | None = None
    scan_vul: bool | None = None
    scan_virus: bool | None = None
    scan_risk: bool | None = None
    filters: list[AssetFilters] | None = None
    exclude_image_ids: IdList | None = None
    container_running: bool | None = None
    scan_scope: Annotated[int, msgspec.Meta(ge=0, le=3)] | None = None
    timeout: Annotated[int, msgspec.Meta(ge=1, le=7 * 86400)] | None = None
    is_one_click_scanning_task: bool | None = None
    cluster_i_ds: list[str] | None = msgspec.field(default=None, name="ClusterIDs")


class CreateAssetImageScanTaskResponse(msgspec.Struct, rename=wire_names()):
    task_id: str


class DescribeAssetImageScanStatusRequest(
    msgspec.Struct, forbid_unknown_fields=True, rename=wire_names()
):
    task_id: str | None = None


class DescribeAssetImageScanStatusResponse(msgspec.Struct, rename=wire_names()):
    image_total: int
    image_scan_cnt: int
    status: str
    schedule: int
    success_count: int
    risk_count: int
    left_seconds: int


class DescribeAssetImageScanTaskRequest(
    msgspec.Struct, forbid_unknown_fields=True, rename=wire_names()
):
    # the SDK's request model (mistakenly) carries the response fields; accept and ignore them
    task_id: str | None = None
    last_scan_time: str | None = None
    status: str | None = None
    sub_status: str | None = None


class DescribeAssetImageScanTaskResponse(msgspec.Struct, rename=wire_names()):
    task_id: str
    last_scan_time: str
    status: str
    sub_status: str


class ModifyAssetImageScanStopRequest(
    msgspec.Struct, forbid_unknown_fields=True, rename=wire_names()
):
    task_id: str | None = None
    images: IdList | None = None
    filters: list[AssetFilters] | None = None
    exclude_image_ids: str | None = None  # a string in the SDK (a JSON array in its example)


class ModifyAssetImageScanStopResponse(msgspec.Struct, rename=wire_names()):
    status: str


def _ids(values: list[str] | None, name: str) -> list[str]:
    return [normalise_image_id(v, f"{name}.{i}") for i, v in enumerate(values or [])]


def _query(filters: list[AssetFilters] | None) -> ImageQuery | None:
    if not filters:
        return None
    return build_image_query(
        [(f.name, f.values, bool(f.exact_match)) for f in filters],
        by=None,
        order=None,
        limit=100,
        offset=0,
    )


def _exclude_text(text: str | None) -> list[str]:
    if not text or not text.strip():
        return []
    try:
        parsed = msgspec.json.decode(text.encode(), type=list[str])
    except msgspec.DecodeError:
        parsed = [p for p in text.replace(",", " ").split() if p]
    return [normalise_image_id(v, "ExcludeImageIds") for v in parsed]


def actions(tasks: TaskService) -> tuple[Action[Any, Any], ...]:
    def create(
        req: CreateAssetImageScanTaskRequest, ctx: RequestContext
    ) -> CreateAssetImageScanTaskResponse:
        scan_scope = req.scan_scope or 0
        vul, virus, risk = bool(req.scan_vul), bool(req.scan_virus), bool(req.scan_risk)
        if req.scan_vul is None and req.scan_virus is None and req.scan_risk is None:
            vul = virus = risk = True  # nothing named: every category
        task_id = tasks.create(
            ctx.account_id,
            select_all=bool(req.all) or (scan_scope == 0 and not req.images and not req.filters),
            image_ids=_ids(req.images, "Images"),
            query=_query(req.filters),
            exclude=_ids(req.exclude_image_ids, "ExcludeImageIds"),
            scan_vul=vul,
            scan_virus=virus,
            scan_risk=risk,
            running_only=bool(req.container_running),
            timeout=req.timeout or 3600,
        )
        return CreateAssetImageScanTaskResponse(task_id=task_id)

    def status(
        req: DescribeAssetImageScanStatusRequest, ctx: RequestContext
    ) -> DescribeAssetImageScanStatusResponse:
        st = tasks.status(ctx.account_id, req.task_id)
        return DescribeAssetImageScanStatusResponse(
            image_total=st.image_total,
            image_scan_cnt=st.image_scan_cnt,
            status=st.status,
            schedule=st.schedule,
            success_count=st.success_count,
            risk_count=st.risk_count,
            left_seconds=st.left_seconds,
        )

    def latest(
        req: DescribeAssetImageScanTaskRequest, ctx: RequestContext
    ) -> DescribeAssetImageScanTaskResponse:
        t = tasks.latest(ctx.account_id)
        return DescribeAssetImageScanTaskResponse(
            task_id=t.task_id,
            last_scan_time=rfc3339(t.last_scan_time),
            status=t.status,
            sub_status=t.sub_status,
        )

    def stop(
        req: ModifyAssetImageScanStopRequest, ctx: RequestContext
    ) -> ModifyAssetImageScanStopResponse:
        image_ids = _ids(req.images, "Images")
        query = _query(req.filters)
        if query is not None:
            image_ids += tasks.image_ids(ctx.account_id, query)
        excluded = set(_exclude_text(req.exclude_image_ids))
        tasks.stop(
            ctx.account_id,
            task_id=req.task_id,
            image_ids=[i for i in image_ids if i not in excluded],
        )
        return ModifyAssetImageScanStopResponse(status="SUCCESS")

    return (
        Action(
            "CreateAssetImageScanTask",
            CreateAssetImageScanTaskRequest,
            CreateAssetImageScanTaskResponse,
            create,
        ),
        Action(
            "DescribeAssetImageScanStatus",
            DescribeAssetImageScanStatusRequest,
            DescribeAssetImageScanStatusResponse,
            status,
        ),
        Action(
            "DescribeAssetImageScanTask",
            DescribeAssetImageScanTaskRequest,
            DescribeAssetImageScanTaskResponse,
            latest,
        ),
        Action(
            "ModifyAssetImageScanStop",
            ModifyAssetImageScanStopRequest,
            ModifyAssetImageScanStopResponse,
            stop,
        ),
    )
