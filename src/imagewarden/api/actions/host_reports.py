"""ReportHostAssets: an imagewarden extension action (not part of TCSS) for host snapshots.

Signed and enveloped like every other action.  One call carries one host's full snapshot;
what the host no longer reports is removed from it.  Replaying a snapshot is harmless.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from imagewarden.api.registry import Action, RequestContext, wire_names
from imagewarden.inventory.models import (
    ContainerReport,
    HostReport,
    HostSnapshot,
    ImageReport,
    normalise_image_id,
    parse_time,
)
from imagewarden.inventory.service import InventoryService

__all__ = ["ReportHostAssetsRequest", "ReportHostAssetsResponse", "actions"]

Text = Annotated[str, msgspec.Meta(max_length=1024)]


class HostInfo(msgspec.Struct, forbid_unknown_fields=True, rename=wire_names(ips="IPs")):
    host_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    host_name: Annotated[str, msgspec.Meta(max_length=255)] = ""
    ips: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=64)]], msgspec.Meta(max_length=256)
    ] = []
    is_super_node: bool = False


class ReportedImage(msgspec.Struct, forbid_unknown_fields=True, rename=wire_names()):
    image_id: str
    repo_tags: Annotated[list[Text], msgspec.Meta(max_length=1024)] = []
    repo_digests: Annotated[list[Text], msgspec.Meta(max_length=1024)] = []
    size: Annotated[int, msgspec.Meta(ge=0)] = 0
    create_time: str | None = None
    os_name: Annotated[str, msgspec.Meta(max_length=128)] | None = None
    architecture: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class ReportedContainer(msgspec.Struct, forbid_unknown_fields=True, rename=wire_names()):
    container_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    image_id: str
    name: Annotated[str, msgspec.Meta(max_length=255)] = ""
    state: Annotated[str, msgspec.Meta(max_length=32)] = ""


class ReportHostAssetsRequest(msgspec.Struct, forbid_unknown_fields=True, rename=wire_names()):
    host: HostInfo
    images: Annotated[list[ReportedImage], msgspec.Meta(max_length=100_000)] = []
    containers: Annotated[list[ReportedContainer], msgspec.Meta(max_length=100_000)] = []


class ReportHostAssetsResponse(msgspec.Struct, rename=wire_names()):
    host_id: str
    image_count: int
    container_count: int
    removed_image_count: int
    removed_container_count: int


def to_snapshot(req: ReportHostAssetsRequest) -> HostSnapshot:
    images = tuple(
        ImageReport(
            image_id=normalise_image_id(i.image_id, f"Images.{n}.ImageID"),
            repo_tags=tuple(i.repo_tags),
            repo_digests=tuple(i.repo_digests),
            size=i.size,
            create_time=parse_time(i.create_time, f"Images.{n}.CreateTime"),
            os_name=i.os_name,
            architecture=i.architecture,
        )
        for n, i in enumerate(req.images)
    )
    containers = tuple(
        ContainerReport(
            container_id=c.container_id,
            image_id=normalise_image_id(c.image_id, f"Containers.{n}.ImageID"),
            name=c.name,
            state=c.state,
        )
        for n, c in enumerate(req.containers)
    )
    h = req.host
    return HostSnapshot(
        HostReport(h.host_id, h.host_name, tuple(h.ips), h.is_super_node), images, containers
    )


def actions(service: InventoryService) -> tuple[Action[Any, Any], ...]:
    def report_host_assets(
        req: ReportHostAssetsRequest, ctx: RequestContext
    ) -> ReportHostAssetsResponse:
        out = service.report_host(ctx.account_id, to_snapshot(req))
        return ReportHostAssetsResponse(
            host_id=out.host_id,
            image_count=out.image_count,
            container_count=out.container_count,
            removed_image_count=out.removed_images,
            removed_container_count=out.removed_containers,
        )

    # each host reports once per interval, so one account's fleet legitimately sends far more
    # than TCSS's 20/s: this extension action allows 1,000 reports per second per account
    return (
        Action(
            "ReportHostAssets",
            ReportHostAssetsRequest,
            ReportHostAssetsResponse,
            report_host_assets,
            rate_limit=1000,
        ),
    )
