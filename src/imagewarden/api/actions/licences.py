"""Image licence actions: ModifyImageAuthorized, DescribeImageAuthorizedInfo.

imagewarden keeps one image list per account (TCSS's "local images"; images known from a
registry source are in it too), so the registry half of ModifyImageAuthorized selects
nothing.  ``licence_gate`` wraps the actions that show ``IsAuthorized`` so that images that
arrived since the last look have their licence decided first.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

import msgspec

from imagewarden.api.actions.images import AssetFilters
from imagewarden.api.errors import ApiError
from imagewarden.api.registry import Action, RequestContext, wire_names
from imagewarden.inventory.errors import InvalidFilterError
from imagewarden.inventory.licences import LicenceService, NotEnoughLicencesError, Selection
from imagewarden.inventory.models import normalise_image_id

__all__ = ["actions", "licence_gate"]

IdList = Annotated[
    list[Annotated[str, msgspec.Meta(max_length=80)]], msgspec.Meta(max_length=10_000)
]
Count = Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]
SOURCE_TYPES = ("ASSETIMAGE", "IMAGEALL")


class ModifyImageAuthorizedRequest(msgspec.Struct, forbid_unknown_fields=True, rename=wire_names()):
    all_local_images: bool
    all_registry_images: bool
    updated_local_image_cnt: Count
    updated_registry_image_cnt: Count
    image_source_type: str
    local_image_filter: list[AssetFilters] | None = None
    registry_image_filter: list[AssetFilters] | None = None
    exclude_local_image_ids: IdList | None = None
    exclude_registry_image_ids: IdList | None = None
    local_image_ids: IdList | None = None
    registry_image_ids: IdList | None = None
    only_show_latest: bool | None = None


class ModifyImageAuthorizedResponse(msgspec.Struct, rename=wire_names()):
    pass


class DescribeImageAuthorizedInfoRequest(
    msgspec.Struct, forbid_unknown_fields=True, rename=wire_names()
):
    pass


class ImageScanInquireInfo(msgspec.Struct, rename=wire_names(resource_id="ResourceID")):
    inquire_key: str
    capcity: int  # sic (SDK spelling)
    useage: int  # sic
    start_time: str
    end_time: str
    purchase_status: str
    resource_id: str
    pay_num: int
    trial_num: int
    pay_usage: int


class DescribeImageAuthorizedInfoResponse(msgspec.Struct, rename=wire_names()):
    total_authorized_cnt: int
    used_authorized_cnt: int
    scanned_image_cnt: int
    not_scanned_image_cnt: int
    not_scanned_local_image_cnt: int
    trial_authorized_cnt: int
    used_trial_authorized_cnt: int
    purchased_authorized_cnt: int
    used_purchased_authorized_cnt: int
    can_apply_free_image_authorize: bool
    image_scan_inquire_info: ImageScanInquireInfo
    repeat_image_id_cnt: int


def _ids(values: list[str] | None, name: str) -> tuple[str, ...]:
    return tuple(normalise_image_id(v, f"{name}.{i}") for i, v in enumerate(values or []))


def _selection(req: ModifyImageAuthorizedRequest) -> Selection:
    if req.image_source_type.strip().upper() not in SOURCE_TYPES:
        raise InvalidFilterError("ImageSourceType", "use ASSETIMAGE or IMAGEALL")
    if req.all_local_images and req.updated_local_image_cnt == 0:
        raise InvalidFilterError(
            "UpdatedLocalImageCnt", "must be greater than 0 when AllLocalImages is true"
        )
    if req.all_registry_images and req.updated_registry_image_cnt == 0:
        raise InvalidFilterError(
            "UpdatedRegistryImageCnt", "must be greater than 0 when AllRegistryImages is true"
        )
    ids = _ids(req.local_image_ids, "LocalImageIds")
    filters = tuple(
        (f.name, tuple(f.values), bool(f.exact_match)) for f in req.local_image_filter or ()
    )
    if req.updated_local_image_cnt > 0 and not (req.all_local_images or ids or filters):
        raise InvalidFilterError(
            "LocalImageIds",
            "name the images: AllLocalImages, LocalImageIds or LocalImageFilter",
        )
    return Selection(
        select_all=req.all_local_images,
        image_ids=() if req.all_local_images else ids,
        filters=() if req.all_local_images or ids else filters,
        exclude=_ids(req.exclude_local_image_ids, "ExcludeLocalImageIds"),
        count=req.updated_local_image_cnt,
    )


def actions(licences: LicenceService) -> tuple[Action[Any, Any], ...]:
    def modify(
        req: ModifyImageAuthorizedRequest, ctx: RequestContext
    ) -> ModifyImageAuthorizedResponse:
        try:
            licences.authorise(ctx.account_id, _selection(req))
        except NotEnoughLicencesError as exc:
            raise ApiError(
                "FailedOperation.AuthorizedNotEnough",
                f"Not enough image licences: {exc}.",
                f"镜像授权数不足：{exc}。",
            ) from None
        return ModifyImageAuthorizedResponse()

    def info(
        req: DescribeImageAuthorizedInfoRequest, ctx: RequestContext
    ) -> DescribeImageAuthorizedInfoResponse:
        i = licences.info(ctx.account_id)
        since = i.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ") if i.updated_at else ""
        return DescribeImageAuthorizedInfoResponse(
            total_authorized_cnt=i.total,
            used_authorized_cnt=i.used,
            scanned_image_cnt=i.used,
            not_scanned_image_cnt=i.unauthorised,
            not_scanned_local_image_cnt=i.unauthorised,
            trial_authorized_cnt=0,
            used_trial_authorized_cnt=0,
            purchased_authorized_cnt=i.total,
            used_purchased_authorized_cnt=i.used,
            can_apply_free_image_authorize=False,
            image_scan_inquire_info=ImageScanInquireInfo(
                inquire_key="imagewarden_image_licence",
                capcity=i.total,
                useage=i.used,
                start_time=since,
                end_time="",
                purchase_status="Normal",
                resource_id="",
                pay_num=i.total,
                trial_num=0,
                pay_usage=i.used,
            ),
            repeat_image_id_cnt=0,
        )

    return (
        Action(
            "ModifyImageAuthorized",
            ModifyImageAuthorizedRequest,
            ModifyImageAuthorizedResponse,
            modify,
        ),
        Action(
            "DescribeImageAuthorizedInfo",
            DescribeImageAuthorizedInfoRequest,
            DescribeImageAuthorizedInfoResponse,
            info,
        ),
    )


#: the actions whose responses carry IsAuthorized (DescribeAssetImageList also does: it gets
#: the licences as its ``ListingGuard``, checked inside its own transaction)
GATED = frozenset({"DescribeAssetImageDetail"})


def licence_gate(
    licences: LicenceService, registered: tuple[Action[Any, Any], ...]
) -> tuple[Action[Any, Any], ...]:
    """Decide the licences of new images before an action that shows ``IsAuthorized``."""

    def gated(action: Action[Any, Any]) -> Action[Any, Any]:
        inner = action.handler

        def handler(req: Any, ctx: RequestContext) -> Any:
            licences.reconcile(ctx.account_id)
            return inner(req, ctx)

        return replace(action, handler=handler)

    return tuple(gated(a) if a.name in GATED else a for a in registered)
