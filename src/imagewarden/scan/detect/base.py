"""The detector contract.

A detector takes the merged contents of an image and returns the findings of one category,
or that category's error.  One failing category never spoils another: the pipeline records
the error (surfaced as ScanVulError / ScanVirusError / ScanRiskError) and carries on.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar, Protocol

if TYPE_CHECKING:
    from pathlib import PurePosixPath

    from imagewarden.scan.analyzer.base import FileInfo, LayerFile
    from imagewarden.scan.model import ImageContents, Unknown


class FindingCategory(StrEnum):
    VULN = "vuln"
    MALWARE = "malware"
    SECRET = "secret"
    RISK = "risk"


class Severity(StrEnum):
    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, order=True)
class MatchDetail:
    """Why a finding was reported: how the component was matched against the advisory."""

    kind: str  # "direct" (binary package name) | "via-source" (source package / apk origin)
    searched_by: str  # e.g. "Debian:12/openssl"
    found: str  # the advisory's affected range or version list that matched


@dataclass(frozen=True, order=True)
class VulnerabilityFinding:
    id: str  # advisory id as imported (CVE-..., GHSA-..., DSA-...)
    aliases: tuple[str, ...]
    component_name: str
    component_version: str
    component_type: str
    component_purl: str
    component_path: str
    severity: Severity
    cvss_score: float | None
    cvss_vector: str | None
    fixed_versions: tuple[str, ...]
    summary: str
    description: str
    references: tuple[str, ...]
    published: str | None
    match: MatchDetail

    @property
    def cve_id(self) -> str:
        """The CVE identifier when the advisory has one (its own id or an alias), else its id."""
        for ident in (self.id, *self.aliases):
            if ident.startswith("CVE-"):
                return ident
        return self.id


@dataclass(frozen=True, order=True)
class FileFinding:
    """A finding in one file of the image: malware (MALWARE) or sensitive information (SECRET).

    Produced by a ``ContentScanner`` while a layer is walked, cached with that layer's facts,
    and dropped when an upper layer deletes (whiteout, opaque dir) or rewrites the path.
    ``excerpt`` is redacted: the secret itself is never stored in a finding.
    """

    category: FindingCategory  # MALWARE | SECRET
    rule_id: str  # "aws-access-key-id", "yara:EICAR_Test_File", "hash:sha256", "clamav"
    title: str  # the VirusName for malware; a short human title for a secret
    severity: Severity
    path: str  # absolute path in the image: "/app/.env"
    layer: str = ""  # diff_id of the layer that holds the file (the walker fills it)
    line: int = 0  # 1-based line of a secret, 0 when not line-oriented
    excerpt: str = ""  # redacted context; never the secret
    md5: str = ""  # of the whole file (malware)
    size: int = 0  # of the whole file
    tags: tuple[str, ...] = ()
    engine: str = ""  # "yara" | "hash" | "clamav" | "secrets"
    description: str = ""
    solution: str = ""


@dataclass(frozen=True, order=True)
class BuildRiskFinding:
    """A risky build step or setting read from the image config and history (RISK)."""

    rule_id: str  # "run-as-root", "curl-pipe-shell", ...
    behavior: int  # TCSS ImageRiskInfo.Behavior code (documented in docs/detectors.md)
    type: int  # TCSS ImageRiskInfo.Type code
    level: int  # 1 low, 2 medium, 3 high, 4 critical
    description: str
    instruction: str  # the Dockerfile instruction it came from, secrets redacted


Finding = VulnerabilityFinding | FileFinding | BuildRiskFinding


class ContentScanner(Protocol):
    """Looks at the bytes of regular files while a layer is walked (malware, secrets).

    The walker asks ``wants`` with the file's metadata before reading it, reads wanted
    files (bounded by the walk limits) and calls ``scan``; findings are cached with the
    layer's facts, so ``fingerprint`` (code version + rule set digest) is part of the
    layer cache key: change the rules and every layer is looked at again.  With
    ``WalkLimits.scan_threads = 1`` ``scan`` runs on the walk's worker thread while ``wants``
    is asked on the walking thread: the two must not share mutable state.
    """

    name: ClassVar[str]
    category: ClassVar[FindingCategory]

    def fingerprint(self) -> str: ...

    def wants(self, path: PurePosixPath, info: FileInfo) -> bool: ...

    def scan(self, file: LayerFile) -> tuple[FileFinding, ...]: ...


@dataclass(frozen=True)
class DetectorOutcome:
    category: FindingCategory
    findings: tuple[Finding, ...] = ()
    error: str | None = None
    #: what could not be decided (e.g. a version the ecosystem's scheme cannot parse):
    #: recorded, never silently dropped; sorted
    unknowns: tuple[Unknown, ...] = ()


class Detector(Protocol):
    category: ClassVar[FindingCategory]

    def detect(self, image: ImageContents) -> DetectorOutcome: ...
