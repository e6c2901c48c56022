"""CycloneDX 1.6 JSON (cyclonedx-python-lib): the image, its OS, its components, findings.

Deterministic: the serial number is derived from the image ID and the timestamp is the
image's creation time, so the same report gives the same document.
"""

from __future__ import annotations

import uuid
import warnings
from datetime import UTC, datetime
from decimal import Decimal

from cyclonedx.model import Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component as CdxComponent
from cyclonedx.model.component import ComponentType as CdxType
from cyclonedx.model.dependency import Dependency
from cyclonedx.model.vulnerability import (
    BomTarget,
    Vulnerability,
    VulnerabilityRating,
    VulnerabilitySeverity,
)
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from imagewarden.scan.detect.base import FindingCategory, VulnerabilityFinding
from imagewarden.scan.model import ScanReport

_NS = uuid.UUID("5d1b1a1e-8f7c-4d55-9a55-1b8b7c0de001")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _created(text: str | None) -> datetime:
    if not text:
        return _EPOCH
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return _EPOCH
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def build_bom(report: ScanReport) -> Bom:
    image = CdxComponent(
        name=report.repo_tags[0] if report.repo_tags else report.image_id,
        type=CdxType.CONTAINER,
        version=report.image_id,
        bom_ref=f"image:{report.image_id}",
        properties=[
            Property(name="imagewarden:architecture", value=report.architecture),
            Property(name="imagewarden:layers", value=str(report.layer_count)),
        ],
    )
    components: list[CdxComponent] = []
    refs: dict[str, CdxComponent] = {}
    if report.os is not None:
        os_comp = CdxComponent(
            name=report.os.family,
            version=report.os.version,
            type=CdxType.OPERATING_SYSTEM,
            bom_ref=f"os:{report.os.name}",
            description=report.os.pretty_name or None,
        )
        components.append(os_comp)
    #: (purl, path) -> bom-ref: the same purl installed twice (an OS-owned egg-info and a pip
    #: install of the same version) stays two components; the later one is referred to by
    #: type, name, version and path, since a bom-ref must be unique
    located: dict[tuple[str, str], str] = {}
    for c in report.components:
        if (c.purl, c.path) in located:
            continue
        ref = c.purl or f"{c.type.value}:{c.name}@{c.version}:{c.path}"
        if ref in refs:
            ref = f"{c.type.value}:{c.name}@{c.version}:{c.path}"
            if ref in refs:
                continue
        located[(c.purl, c.path)] = ref
        try:
            purl = PackageURL.from_string(c.purl) if c.purl else None
        except ValueError:
            purl = None
        comp = CdxComponent(
            name=c.name,
            version=c.version,
            type=CdxType.LIBRARY,
            purl=purl,
            bom_ref=ref,
            properties=[
                Property(name="imagewarden:path", value=c.path),
                Property(name="imagewarden:analyzer", value=c.analyzer),
                *(
                    [Property(name="imagewarden:source", value=c.source_name)]
                    if c.source_name
                    else []
                ),
                *([Property(name="imagewarden:layer", value=c.layer)] if c.layer else []),
                # installed by this OS package, matched through it (not the language advisories)
                *([Property(name="imagewarden:owner", value=c.owner)] if c.owner else []),
            ],
        )
        refs[ref] = comp
        components.append(comp)

    vulns: list[Vulnerability] = []
    for outcome in report.outcomes:
        if outcome.category is not FindingCategory.VULN:
            continue
        for f in outcome.findings:
            if not isinstance(f, VulnerabilityFinding):
                continue
            target = located.get((f.component_purl, f.component_path))
            if target is None and f.component_purl in refs:
                target = f.component_purl
            rating = VulnerabilityRating(
                severity=VulnerabilitySeverity(f.severity.value.lower()),
                score=Decimal(str(f.cvss_score)) if f.cvss_score is not None else None,
                vector=f.cvss_vector,
            )
            vulns.append(
                Vulnerability(
                    bom_ref=f"vuln:{f.id}:{f.component_purl or f.component_name}:{len(vulns)}",
                    id=f.id,
                    description=f.summary or None,
                    detail=f.description or None,
                    ratings=[rating],
                    affects=[BomTarget(ref=target)] if target else None,
                    recommendation=(
                        f"upgrade to {', '.join(f.fixed_versions)}" if f.fixed_versions else None
                    ),
                )
            )

    bom = Bom(
        components=components,
        serial_number=uuid.uuid5(_NS, report.image_id),
        metadata=BomMetaData(component=image, timestamp=_created(report.created)),
        vulnerabilities=vulns,
    )
    bom.dependencies.add(
        Dependency(ref=image.bom_ref, dependencies=[Dependency(ref=c.bom_ref) for c in components])
    )
    for cdx in components:
        bom.dependencies.add(Dependency(ref=cdx.bom_ref))
    return bom


def render_cyclonedx(report: ScanReport) -> bytes:
    """The report as a CycloneDX 1.6 JSON document."""
    bom = build_bom(report)
    with warnings.catch_warnings():
        # the library warns about optional metadata we deliberately leave out
        warnings.simplefilter("ignore", UserWarning)
        text = JsonV1Dot6(bom).output_as_string(indent=2)
    return text.encode() + b"\n"
