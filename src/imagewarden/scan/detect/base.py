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


@dataclass(frozen=True)
class DetectorOutcome:
    category: FindingCategory
    findings: tuple[VulnerabilityFinding, ...] = ()
    error: str | None = None
    #: what could not be decided (e.g. a version the ecosystem's scheme cannot parse):
    #: recorded, never silently dropped; sorted
    unknowns: tuple[Unknown, ...] = ()


class Detector(Protocol):
    category: ClassVar[FindingCategory]

    def detect(self, image: ImageContents) -> DetectorOutcome: ...
