"""The scanner as the worker sees it: ScanRequest in, ScanOutcome out.

This is the one place that translates the scanner's ``ScanReport`` into the inventory's
``ScanOutcome``; the scanner knows nothing of accounts and the inventory nothing of layers.

Mapping to TCSS:
- the ``ScanVul`` flag asks for VULN, ``ScanVirus`` for MALWARE, ``ScanRisk`` for both
  SECRET (sensitive information) and RISK (risky build steps);
- MALWARE findings become ``VirusRecord`` rows (ImagesInfo.VirusCnt), SECRET and RISK
  findings ``RiskRecord`` rows (ImagesInfo.RiskCnt counts both; Detail's SensitiveInfoCnt
  the SECRET ones and Detail's RiskCnt the RISK ones);
- severities become levels: CRITICAL 4, HIGH 3, MEDIUM 2, LOW 1; a malware hit without a
  rating is a positive identification and reads HIGH (3); SECRET codes and levels are the
  secrets detector's (Behavior 4, Type 1, docs/detectors.md), RISK codes come with the
  findings;
- a category's error is ScanVirusError / ScanRiskError (SECRET and RISK errors joined);
- a category counts as scanned only when it was asked for *and* a detector of it ran.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from posixpath import basename
from typing import cast

from imagewarden.inventory.models import (
    ComponentRecord,
    HistoryStep,
    RiskRecord,
    ScanOutcome,
    ScanStatus,
    VirusRecord,
    VulnerabilityRecord,
)
from imagewarden.jobs.models import ScanRequest
from imagewarden.jobs.worker import CancelToken, ScanFn
from imagewarden.scan.analyzer.base import Analyzer
from imagewarden.scan.analyzer.registry import DEFAULT_ANALYZERS
from imagewarden.scan.cache import LayerCache
from imagewarden.scan.detect.base import (
    BuildRiskFinding,
    ContentScanner,
    Detector,
    DetectorOutcome,
    FileFinding,
    FindingCategory,
    Severity,
    VulnerabilityFinding,
)
from imagewarden.scan.detect.secrets import SECRET_BEHAVIOR, SECRET_TYPE
from imagewarden.scan.detect.secrets import risk_level as secret_level
from imagewarden.scan.errors import ScanError
from imagewarden.scan.model import ScanReport
from imagewarden.scan.pipeline import scan_image
from imagewarden.scan.source import open_source
from imagewarden.scan.source.base import ImageConfig
from imagewarden.scan.walker import DEFAULT_LIMITS, WalkLimits

__all__ = [
    "ScannerConfig",
    "history_steps",
    "make_scan_fn",
    "outcome_from_report",
    "redact_instruction",
    "risk_records",
    "virus_records",
    "vulnerability_records",
]


@dataclass(frozen=True)
class ScannerConfig:
    detectors: Sequence[Detector] = ()
    #: file-content scanners (malware, secrets) run inside the layer walk
    content_scanners: Sequence[ContentScanner] = ()
    analyzers: Sequence[Analyzer] = DEFAULT_ANALYZERS
    cache: LayerCache | None = None
    limits: WalkLimits = DEFAULT_LIMITS
    #: built afresh for every scan: (content scanners, detectors) of the categories in
    #: ``per_scan_categories`` — the malware engine, so that rules added and hashes imported
    #: while the server runs are used by its next scan.  A failure becomes those
    #: categories' error, never the scan's.
    per_scan: Callable[[], tuple[Sequence[ContentScanner], Sequence[Detector]]] | None = None
    per_scan_categories: tuple[FindingCategory, ...] = (FindingCategory.MALWARE,)


@dataclass(frozen=True)
class _FailedDetector:
    """Stands in for a detector that could not be built: its category's error."""

    category: FindingCategory
    error: str

    def detect(self, image: object) -> DetectorOutcome:
        return DetectorOutcome(self.category, error=self.error)


_CATEGORIES_OF = {
    "scan_vul": (FindingCategory.VULN,),
    "scan_virus": (FindingCategory.MALWARE,),
    "scan_risk": (FindingCategory.SECRET, FindingCategory.RISK),
}
_LEVEL = {Severity.CRITICAL: 4, Severity.HIGH: 3, Severity.MEDIUM: 2, Severity.LOW: 1}
_MALWARE_UNRATED = 3


def virus_records(outcome: DetectorOutcome) -> tuple[VirusRecord, ...]:
    """The inventory's records of a MALWARE outcome's findings."""
    return tuple(
        VirusRecord(
            path=f.path,
            file_name=basename(f.path),
            virus_name=f.title,
            risk_level=_LEVEL.get(f.severity, _MALWARE_UNRATED),
            md5=f.md5,
            size=f.size,
            tags=f.tags,
            desc=f.description,
            solution=f.solution,
            engine=f.engine,
            layer=f.layer,
        )
        for f in outcome.findings
        if isinstance(f, FileFinding) and f.category is FindingCategory.MALWARE
    )


def risk_records(outcome: DetectorOutcome) -> tuple[RiskRecord, ...]:
    """The inventory's records of a SECRET or RISK outcome's findings.

    Only fields the detector already redacted are carried: a secret's ``excerpt`` (never
    the value) and a build step's ``instruction``.
    """
    out: list[RiskRecord] = []
    for f in outcome.findings:
        if isinstance(f, BuildRiskFinding):
            out.append(
                RiskRecord(
                    kind="build",
                    rule_id=f.rule_id,
                    behavior=f.behavior,
                    type=f.type,
                    level=f.level,
                    desc=f.description,
                    instruction=f.instruction,
                )
            )
        elif isinstance(f, FileFinding) and f.category is FindingCategory.SECRET:
            where = f"{f.path}:{f.line}" if f.line else f.path
            desc = f"{f.title} in {where}"
            if f.description:
                desc += f". {f.description}"
            if f.solution:
                desc += f" Solution: {f.solution}"
            out.append(
                RiskRecord(
                    kind="sensitive",
                    rule_id=f.rule_id,
                    # the codes docs/detectors.md gives every SECRET finding
                    behavior=SECRET_BEHAVIOR,
                    type=SECRET_TYPE,
                    level=secret_level(f.severity),
                    desc=desc,
                    instruction=f.excerpt,
                    path=f.path,
                    line=f.line,
                    excerpt=f.excerpt,
                    layer=f.layer,
                )
            )
    return tuple(out)


_SECRET_NAME = r"[A-Za-z0-9_.-]*(?:PASS|PWD|SECRET|TOKEN|APIKEY|API_KEY|PRIVATE|CREDENTIAL|AUTH)[A-Za-z0-9_.-]*"
_REDACTIONS = (
    # NAME=value (ENV, ARG, --build-arg, export) when the name says it is a secret
    (re.compile(rf"(?i)\b({_SECRET_NAME})(\s*=\s*|\s+)(\"[^\"]*\"|'[^']*'|\S+)"), r"\1\2******"),
    # --password VALUE, --token=VALUE, -p VALUE after login
    (
        re.compile(
            r"(?i)(--(?:password|passwd|token|secret|api-key)(?:=|\s+))(\"[^\"]*\"|'[^']*'|\S+)"
        ),
        r"\1******",
    ),
    (re.compile(r"(?i)(\blogin\b.*?\s-p\s*)(\S+)"), r"\1******"),
    # credentials in URLs
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@"), r"\1******@"),
    # well-known token shapes
    (
        re.compile(
            r"\b(?:AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{20,}|glpat-[A-Za-z0-9_-]{20,}"
            r"|xox[abprs]-[A-Za-z0-9-]{10,}|sk_live_[A-Za-z0-9]{16,}|AIza[0-9A-Za-z_-]{35})\b"
        ),
        "******",
    ),
    (
        re.compile(
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.S
        ),
        "******",
    ),
)


def redact_instruction(text: str) -> str:
    """A build instruction with anything that looks like a secret replaced by ``******``.

    BuildHistory is stored and served as text, so it is redacted conservatively before it
    is stored: values of secret-named variables and flags, URL credentials and well-known
    token shapes.  Reporting the secret is the SECRET detector's job, not this one's.
    """
    for pattern, repl in _REDACTIONS:
        text = pattern.sub(repl, text)
    return text


def history_steps(config: ImageConfig | None) -> tuple[HistoryStep, ...]:
    if config is None:
        return ()
    return tuple(
        HistoryStep(
            created=h.created or "",
            created_by=redact_instruction(h.created_by),
            empty_layer=h.empty_layer,
            comment=redact_instruction(h.comment),
        )
        for h in config.history
    )


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


def _errors(outcomes: Sequence[DetectorOutcome], *cats: FindingCategory) -> str:
    return "; ".join(
        f"{o.category.value}: {o.error}" if len(cats) > 1 else o.error
        for o in outcomes
        if o.category in cats and o.error
    )


def outcome_from_report(
    report: ScanReport, scan_time: datetime, config: ImageConfig | None = None
) -> ScanOutcome:
    """The inventory's ScanOutcome of a finished scan (``config``: Author, BuildHistory)."""
    vulns: list[VulnerabilityRecord] = []
    viruses: list[VirusRecord] = []
    risks: list[RiskRecord] = []
    ran = {o.category for o in report.outcomes}
    for outcome in report.outcomes:
        if outcome.error:
            continue
        if outcome.category is FindingCategory.VULN:
            vulns.extend(vulnerability_records(outcome))
        elif outcome.category is FindingCategory.MALWARE:
            viruses.extend(virus_records(outcome))
        elif outcome.category in (FindingCategory.SECRET, FindingCategory.RISK):
            risks.extend(risk_records(outcome))
    return ScanOutcome(
        image_id=report.image_id,
        status=ScanStatus.SCANNED,
        scan_time=scan_time,
        os_name=report.os.name if report.os else "",
        vul_error=_errors(report.outcomes, FindingCategory.VULN),
        virus_error=_errors(report.outcomes, FindingCategory.MALWARE),
        risk_error=_errors(report.outcomes, FindingCategory.SECRET, FindingCategory.RISK),
        viruses=tuple(viruses),
        risks=tuple(risks),
        vul_scanned=FindingCategory.VULN in ran,
        virus_scanned=FindingCategory.MALWARE in ran,
        risk_scanned=bool(ran & {FindingCategory.SECRET, FindingCategory.RISK}),
        author=config.author if config is not None else "",
        build_history=history_steps(config),
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
                owner=c.owner,
            )
            for c in report.components
        ),
        vulnerabilities=tuple(vulns),
    )


def make_scan_fn(config: ScannerConfig, clock: Callable[[], datetime]) -> ScanFn:
    def scan(req: ScanRequest, token: CancelToken) -> ScanOutcome:
        wanted = {c for flag, cats in _CATEGORIES_OF.items() if getattr(req, flag) for c in cats}
        detectors: list[Detector] = [d for d in config.detectors if d.category in wanted]
        scanners = [c for c in config.content_scanners if c.category in wanted]
        if config.per_scan is not None and wanted.intersection(config.per_scan_categories):
            try:
                more_scanners, more_detectors = config.per_scan()
            except Exception as exc:  # a broken rule file, the database away: category error
                reason = f"cannot prepare the detector: {type(exc).__name__}: {exc}"[:1000]
                detectors += [
                    cast(Detector, _FailedDetector(c, reason))  # category per instance
                    for c in config.per_scan_categories
                    if c in wanted
                ]
            else:
                detectors += [d for d in more_detectors if d.category in wanted]
                scanners += [c for c in more_scanners if c.category in wanted]
        try:
            source = open_source(req.source_ref)
            try:
                report = scan_image(
                    source,
                    analyzers=config.analyzers,
                    cache=config.cache,
                    limits=config.limits,
                    detectors=detectors,
                    content_scanners=scanners,
                    progress=lambda *_: token.check(),
                    ref=req.source_ref,
                )
                image_config = source.config()  # resolved (and cached) by the scan
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
        return outcome_from_report(report, clock(), image_config)

    return scan
