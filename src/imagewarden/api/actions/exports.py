"""Image-list export actions: CreateImageExportJob, DescribeExportJobResult.

The download itself is a plain GET on ``/exports/download`` (``api.exports_route``); its URL
carries a short-lived token, so the SDK user can hand it to any HTTP client.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from imagewarden.api.actions.images import AssetFilters
from imagewarden.api.registry import Action, RequestContext, wire_names
from imagewarden.inventory.exports import ExportService

__all__ = ["DOWNLOAD_PATH", "actions"]

DOWNLOAD_PATH = "/exports/download"


class CreateImageExportJobRequest(msgspec.Struct, forbid_unknown_fields=True, rename=wire_names()):
    # RunTimeFilters in the SDK: the same Name/Values/ExactMatch shape as AssetFilters
    filters: list[AssetFilters] | None = None
    offset: Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)] = 0
    #: absent: every matching row (an export is the whole list, not one page of it)
    limit: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)] | None = None
    by: str | None = None
    order: str | None = None
    export_field: (
        Annotated[list[Annotated[str, msgspec.Meta(max_length=64)]], msgspec.Meta(max_length=64)]
        | None
    ) = None


class CreateImageExportJobResponse(msgspec.Struct, rename=wire_names(job_id="JobId")):
    job_id: str
    download_url: str


class DescribeExportJobResultRequest(
    msgspec.Struct, forbid_unknown_fields=True, rename=wire_names(job_id="JobId")
):
    job_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class DescribeExportJobResultResponse(
    msgspec.Struct, rename=wire_names(download_url="DownloadURL")
):
    export_status: str
    download_url: str
    export_progress: float
    failure_msg: str


def download_url(ctx: RequestContext, query: str, fmt: str = "xlsx") -> str:
    return f"{ctx.base_url}{DOWNLOAD_PATH}?{query}&format={fmt}"


def actions(exports: ExportService) -> tuple[Action[Any, Any], ...]:
    def create(
        req: CreateImageExportJobRequest, ctx: RequestContext
    ) -> CreateImageExportJobResponse:
        job_id = exports.create(
            ctx.account_id,
            filters=[(f.name, f.values, bool(f.exact_match)) for f in req.filters or ()],
            by=req.by,
            order=req.order,
            limit=req.limit,
            offset=req.offset,
            export_fields=req.export_field,
        )
        url = download_url(ctx, exports.download_query(ctx.account_id, job_id))
        return CreateImageExportJobResponse(job_id=job_id, download_url=url)

    def result(
        req: DescribeExportJobResultRequest, ctx: RequestContext
    ) -> DescribeExportJobResultResponse:
        job = exports.job(ctx.account_id, req.job_id)
        url = ""
        if job.status == "SUCCESS":
            url = download_url(ctx, exports.download_query(ctx.account_id, job.job_id))
        return DescribeExportJobResultResponse(
            export_status=job.status,
            download_url=url,
            export_progress=job.progress,
            failure_msg=job.failure,
        )

    return (
        Action(
            "CreateImageExportJob",
            CreateImageExportJobRequest,
            CreateImageExportJobResponse,
            create,
        ),
        Action(
            "DescribeExportJobResult",
            DescribeExportJobResultRequest,
            DescribeExportJobResultResponse,
            result,
        ),
    )
