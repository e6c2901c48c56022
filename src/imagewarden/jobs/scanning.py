"""The scanner as the worker sees it: ScanRequest in, ScanOutcome out.

This is the one place that translates the scanner's ``ScanReport`` into the inventory's
``ScanOutcome``; the scanner knows nothing of accounts and the inventory nothing of layers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from imagewarden.inventory.models import (
    ComponentRecord,
    ScanOutcome,
    ScanStatus,
    VulnerabilityRecord,
)
from imagewarden.jobs.models import ScanRequest
from imagewarden.jobs.worker import CancelToken, ScanFn
from imagewarden.scan.analyzer.base import Analyzer
from imagewarden.scan.analyzer.registry import DEFAULT_ANALYZERS
from imagewarden.scan.cache import LayerCache
from imagewarden.scan.detect.base import (
    Detector,
    DetectorOutcome,
    FindingCategory,
    VulnerabilityFinding,
)
from imagewarden.scan.errors import ScanError
from imagewarden.scan.model import ScanReport
from imagewarden.scan.pipeline import scan_image
from imagewarden.scan.source import open_source
from imagewarden.scan.walker import DEFAULT_LIMITS, WalkLimits

__all__ = ["ScannerConfig", "make_scan_fn", "outcome_from_report", "vulnerability_records"]


@dataclass(frozen=True)
class ScannerConfig:
    detectors: Sequence[Detector] = ()
    analyzers: Sequence[Analyzer] = DEFAULT_ANALYZERS
    cache: LayerCache | None = None
    limits: WalkLimits = DEFAULT_LIMITS


_CATEGORY_OF = {
    "scan_vul": FindingCategory.VULN,
    "scan_virus": FindingCategory.MALWARE,
    "scan_risk": FindingCategory.RISK,
}


def vulnerability_records(outcome: DetectorOutcome) -> tuple[VulnerabilityRecord, ...]:
    """The inventory's records of a VULN detector outcome's findings."""
    return tuple(
        VulnerabilityRecord(
            advisory_id=f.id,
            cve_id=f.cve_id,
            component=f.component_name,
            version=f.component_version,
            component_type=f.component_type,
            severity=f.severity.value,
            cvss_score=f.cvss_score,
            cvss_vector=f.cvss_vector,
            fixed_versions=f.fixed_versions,
            summary=f.summary,
            detail=(
                ("path", f.component_path),
                ("purl", f.component_purl),
                ("match", f"{f.match.kind}: {f.match.searched_by} {f.match.found}"),
                ("references", "\n".join(f.references)),
                ("published", f.published or ""),
                ("description", f.description),
            ),
        )
        for f in outcome.findings
        if isinstance(f, VulnerabilityFinding)
    )


def outcome_from_report(report: ScanReport, scan_time: datetime) -> ScanOutcome:
    vul_error = ""
    vulns: list[VulnerabilityRecord] = []
    for outcome in report.outcomes:
        if outcome.category is not FindingCategory.VULN:
            continue
        if outcome.error:
            vul_error = outcome.error
            continue
        vulns.extend(vulnerability_records(outcome))
    return ScanOutcome(
        image_id=report.image_id,
        status=ScanStatus.SCANNED,
        scan_time=scan_time,
        os_name=report.os.name if report.os else "",
        vul_error=vul_error,
        components=tuple(
            ComponentRecord(
                name=c.name,
                version=c.version,
                type=c.type.value,
                path=c.path,
                purl=c.purl,
                source_name=c.source_name,
                source_version=c.source_version,
                layer=c.layer,
            )
            for c in report.components
        ),
        vulnerabilities=tuple(vulns),
    )


def make_scan_fn(config: ScannerConfig, clock: Callable[[], datetime]) -> ScanFn:
    def scan(req: ScanRequest, token: CancelToken) -> ScanOutcome:
        wanted = {cat for flag, cat in _CATEGORY_OF.items() if getattr(req, flag)}
        detectors = [d for d in config.detectors if d.category in wanted]
        try:
            source = open_source(req.source_ref)
            try:
                report = scan_image(
                    source,
                    analyzers=config.analyzers,
                    cache=config.cache,
                    limits=config.limits,
                    detectors=detectors,
                    progress=lambda *_: token.check(),
                    ref=req.source_ref,
                )
            finally:
                source.close()
        except ScanError as exc:
            return ScanOutcome(req.image_id, ScanStatus.SCAN_ERR, clock(), error=str(exc))
        if report.image_id != req.image_id:
            return ScanOutcome(
                req.image_id,
                ScanStatus.SCAN_ERR,
                clock(),
                error=f"the source {req.source_ref} holds image {report.image_id}, not {req.image_id}",
            )
        return outcome_from_report(report, clock())

    return scan
