"""Periodic scan actions: CreateAssetImageScanSetting, DescribeAssetImageScanSetting."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from imagewarden.api.actions.images import rfc3339
from imagewarden.api.registry import Action, RequestContext, wire_names
from imagewarden.jobs.schedule import ScanSetting, ScanSettings

__all__ = ["actions"]

IdList = Annotated[
    list[Annotated[str, msgspec.Meta(max_length=80)]], msgspec.Meta(max_length=10_000)
]
Clock = Annotated[str, msgspec.Meta(max_length=8)]


class CreateAssetImageScanSettingRequest(
    msgspec.Struct, forbid_unknown_fields=True, rename=wire_names(cluster_ids="ClusterIDs")
):
    enable: bool
    scan_time: Clock
    scan_period: int
    scan_virus: bool
    scan_risk: bool
    scan_vul: bool
    all: bool | None = None
    images: IdList | None = None
    container_running: bool | None = None
    scan_scope: Annotated[int, msgspec.Meta(ge=0, le=3)] | None = None
    scan_end_time: Clock | None = None
    exclude_images: IdList | None = None
    cluster_ids: list[Annotated[str, msgspec.Meta(max_length=128)]] | None = None


class CreateAssetImageScanSettingResponse(msgspec.Struct, rename=wire_names()):
    pass


class DescribeAssetImageScanSettingRequest(
    msgspec.Struct, forbid_unknown_fields=True, rename=wire_names()
):
    pass


class DescribeAssetImageScanSettingResponse(
    msgspec.Struct, rename=wire_names(cluster_ids="ClusterIDs")
):
    enable: bool
    scan_time: str
    scan_period: int
    scan_virus: bool
    scan_risk: bool
    scan_vul: bool
    all: bool
    images: list[str]
    container_running: bool
    scan_scope: int
    scan_end_time: str
    exclude_images: list[str]
    last_scan_time: str
    scan_result: str
    cluster_ids: list[str]


def actions(settings: ScanSettings) -> tuple[Action[Any, Any], ...]:
    def create(
        req: CreateAssetImageScanSettingRequest, ctx: RequestContext
    ) -> CreateAssetImageScanSettingResponse:
        settings.put(
            ctx.account_id,
            ScanSetting(
                enable=req.enable,
                scan_time=req.scan_time,
                scan_period=req.scan_period,
                scan_vul=req.scan_vul,
                scan_virus=req.scan_virus,
                scan_risk=req.scan_risk,
                select_all=bool(req.all),
                images=tuple(req.images or ()),
                container_running=bool(req.container_running),
                scan_scope=req.scan_scope or 0,
                scan_end_time=req.scan_end_time or "",
                exclude_images=tuple(req.exclude_images or ()),
                cluster_ids=tuple(req.cluster_ids or ()),
            ),
        )
        return CreateAssetImageScanSettingResponse()

    def describe(
        req: DescribeAssetImageScanSettingRequest, ctx: RequestContext
    ) -> DescribeAssetImageScanSettingResponse:
        st = settings.get(ctx.account_id)
        if st is None:  # never configured: off
            return DescribeAssetImageScanSettingResponse(
                False, "", 0, False, False, False, False, [], False, 0, "", [], "", "", []
            )
        return DescribeAssetImageScanSettingResponse(
            enable=st.enable,
            scan_time=st.scan_time,
            scan_period=st.scan_period,
            scan_virus=st.scan_virus,
            scan_risk=st.scan_risk,
            scan_vul=st.scan_vul,
            all=st.select_all,
            images=list(st.images),
            container_running=st.container_running,
            scan_scope=st.scan_scope,
            scan_end_time=st.scan_end_time,
            exclude_images=list(st.exclude_images),
            last_scan_time=rfc3339(st.last_scan_time),
            scan_result=st.scan_result,
            cluster_ids=list(st.cluster_ids),
        )

    return (
        Action(
            "CreateAssetImageScanSetting",
            CreateAssetImageScanSettingRequest,
            CreateAssetImageScanSettingResponse,
            create,
        ),
        Action(
            "DescribeAssetImageScanSetting",
            DescribeAssetImageScanSettingRequest,
            DescribeAssetImageScanSettingResponse,
            describe,
        ),
    )
