"""ReportImageScanResults: an imagewarden extension action (not part of TCSS) through which
the host agent (``imagewarden agent --scan``) reports the scans it ran on its own images.

Signed and enveloped like every other action, like ``ReportHostAssets``.  Per image either
the scan (OsName, components, malware and secret/build-risk findings, already redacted by
the agent's detectors) or ``AgentError``: why the agent could not read or scan it.  The
server matches the components against its own vulnerability database
(``inventory.agent_scans``).  Every image must belong to the caller's account: one that
does not → ``ResourceNotFound`` and nothing is stored.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

import msgspec

from imagewarden.api.registry import Action, RequestContext, wire_names
from imagewarden.inventory.agent_scans import AgentImageResult, AgentScanService
from imagewarden.inventory.errors import InvalidInputError
from imagewarden.inventory.models import (
    ComponentRecord,
    HistoryStep,
    RiskRecord,
    ScanOutcome,
    ScanStatus,
    VirusRecord,
    normalise_image_id,
    parse_time,
)
from imagewarden.inventory.service import utcnow

__all__ = ["ReportImageScanResultsRequest", "ReportImageScanResultsResponse", "actions"]

MAX_IMAGES = 100
#: a ScanTime further ahead than this is a wrong clock, not a scan
MAX_CLOCK_SKEW = timedelta(minutes=5)

Short = Annotated[str, msgspec.Meta(max_length=255)]
Text = Annotated[str, msgspec.Meta(max_length=4096)]
Level = Annotated[int, msgspec.Meta(ge=1, le=4)]
Count = Annotated[int, msgspec.Meta(ge=0)]


class ScannedComponent(msgspec.Struct, forbid_unknown_fields=True, rename=wire_names()):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
    version: Short
    type: Annotated[str, msgspec.Meta(pattern="^[a-z0-9-]{1,32}$")]
    path: Text = ""
    purl: Text = ""
    source_name: Annotated[str, msgspec.Meta(max_length=512)] | None = None
    source_version: Short | None = None
    layer: Annotated[str, msgspec.Meta(max_length=80)] | None = None
    owner: Annotated[str, msgspec.Meta(max_length=512)] | None = None


class ScannedVirus(msgspec.Struct, forbid_unknown_fields=True, rename=wire_names()):
    path: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
    virus_name: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    risk_level: Level
    md5: Annotated[str, msgspec.Meta(pattern="^([0-9a-f]{32})?$")] = ""
    size: Count = 0
    tags: Annotated[list[Short], msgspec.Meta(max_length=32)] = []
    desc: Text = ""
    solution: Text = ""
    engine: Annotated[str, msgspec.Meta(max_length=32)] = ""
    layer: Annotated[str, msgspec.Meta(max_length=80)] = ""


class ScannedRisk(msgspec.Struct, forbid_unknown_fields=True, rename=wire_names()):
    kind: Literal["sensitive", "build"]
    rule_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    behavior: Annotated[int, msgspec.Meta(ge=0, le=100)]
    type: Annotated[int, msgspec.Meta(ge=0, le=100)]
    level: Level
    desc: Text
    instruction: Text = ""
    path: Text = ""
    line: Count = 0
    excerpt: Annotated[str, msgspec.Meta(max_length=1024)] = ""
    layer: Annotated[str, msgspec.Meta(max_length=80)] = ""


class ScannedHistoryStep(msgspec.Struct, forbid_unknown_fields=True, rename=wire_names()):
    created: Short = ""
    created_by: Text = ""
    empty_layer: bool = False
    comment: Text = ""


class ScannedImage(msgspec.Struct, forbid_unknown_fields=True, rename=wire_names()):
    image_id: str
    #: set when the agent could not read or scan the image; then nothing else is sent
    agent_error: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    scan_time: str | None = None
    os_name: Annotated[str, msgspec.Meta(max_length=128)] = ""
    scan_vul: bool = True
    scan_virus: bool = True
    scan_risk: bool = True
    virus_error: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    risk_error: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    components: Annotated[list[ScannedComponent], msgspec.Meta(max_length=100_000)] = []
    viruses: Annotated[list[ScannedVirus], msgspec.Meta(max_length=10_000)] = []
    risks: Annotated[list[ScannedRisk], msgspec.Meta(max_length=10_000)] = []
    author: Annotated[str, msgspec.Meta(max_length=1024)] = ""
    build_history: Annotated[list[ScannedHistoryStep], msgspec.Meta(max_length=1000)] = []


class ReportImageScanResultsRequest(
    msgspec.Struct, forbid_unknown_fields=True, rename=wire_names()
):
    images: Annotated[list[ScannedImage], msgspec.Meta(min_length=1, max_length=MAX_IMAGES)]
    #: the reporting host (for the server's log; results are per image, not per host)
    host_id: Annotated[str, msgspec.Meta(max_length=128)] = ""


class ReportImageScanResultsResponse(msgspec.Struct, rename=wire_names()):
    recorded_count: int
    agent_error_count: int


def _basename(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def to_result(img: ScannedImage, n: int) -> AgentImageResult:
    """One wire image → the inventory's result (``InvalidInputError`` names the parameter)."""
    image_id = normalise_image_id(img.image_id, f"Images.{n}.ImageID")
    if img.agent_error.strip():
        if img.components or img.viruses or img.risks or img.build_history:
            raise InvalidInputError(
                f"Images.{n}.AgentError", "an image with AgentError carries no findings"
            )
        return AgentImageResult(image_id, agent_error=img.agent_error.strip())
    now = utcnow()
    scan_time = parse_time(img.scan_time, f"Images.{n}.ScanTime") or now
    if scan_time > now + MAX_CLOCK_SKEW:
        raise InvalidInputError(f"Images.{n}.ScanTime", "is in the future (check the clock)")
    outcome = ScanOutcome(
        image_id=image_id,
        status=ScanStatus.SCANNED,
        scan_time=scan_time,
        os_name=img.os_name,
        virus_error=img.virus_error if img.scan_virus else "",
        risk_error=img.risk_error if img.scan_risk else "",
        components=tuple(
            ComponentRecord(
                name=c.name,
                version=c.version,
                type=c.type,
                path=c.path,
                purl=c.purl,
                source_name=c.source_name,
                source_version=c.source_version,
                layer=c.layer,
                owner=c.owner,
            )
            for c in img.components
        ),
        viruses=tuple(
            VirusRecord(
                path=v.path,
                file_name=_basename(v.path),
                virus_name=v.virus_name,
                risk_level=v.risk_level,
                md5=v.md5,
                size=v.size,
                tags=tuple(v.tags),
                desc=v.desc,
                solution=v.solution,
                engine=v.engine,
                layer=v.layer,
            )
            for v in (img.viruses if img.scan_virus else ())
        ),
        risks=tuple(
            RiskRecord(
                kind=r.kind,
                rule_id=r.rule_id,
                behavior=r.behavior,
                type=r.type,
                level=r.level,
                desc=r.desc,
                instruction=r.instruction,
                path=r.path,
                line=r.line,
                excerpt=r.excerpt,
                layer=r.layer,
            )
            for r in (img.risks if img.scan_risk else ())
        ),
        vul_scanned=img.scan_vul,
        virus_scanned=img.scan_virus,
        risk_scanned=img.scan_risk,
        author=img.author,
        build_history=tuple(
            HistoryStep(h.created, h.created_by, h.empty_layer, h.comment)
            for h in img.build_history
        ),
    )
    return AgentImageResult(image_id, outcome=outcome)


def actions(agent_scans: AgentScanService) -> tuple[Action[Any, Any], ...]:
    def report_image_scan_results(
        req: ReportImageScanResultsRequest, ctx: RequestContext
    ) -> ReportImageScanResultsResponse:
        results = [to_result(img, n) for n, img in enumerate(req.images)]
        seen: set[str] = set()
        for n, r in enumerate(results):
            if r.image_id in seen:
                raise InvalidInputError(f"Images.{n}.ImageID", f"{r.image_id} is given twice")
            seen.add(r.image_id)
        receipt = agent_scans.record(ctx.account_id, results)
        return ReportImageScanResultsResponse(receipt.recorded, receipt.errors)

    # one call per scanned image batch; a fleet's agents report far less often than they
    # send snapshots, but far more than TCSS's 20/s per account across all hosts
    return (
        Action(
            "ReportImageScanResults",
            ReportImageScanResultsRequest,
            ReportImageScanResultsResponse,
            report_image_scan_results,
            rate_limit=1000,
        ),
    )
