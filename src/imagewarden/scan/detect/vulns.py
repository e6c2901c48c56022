"""The vulnerability detector: components of an image against an AdvisoryIndex.

How a component is looked up:

* OS packages (deb, apk): in the image's OSV ecosystem (``Debian:12``, ``Ubuntu:22.04:LTS``,
  ``Alpine:v3.18``), by the binary name ("direct") and, when it differs, by the source package
  (``source_name``/``source_version``: dpkg ``Source:``, apk origin) ("via-source"), since
  distribution advisories are keyed by source package.  A direct match wins over via-source.
* Language packages by component type: pypi -> PyPI, npm -> npm, golang -> Go,
  maven -> Maven (``group:artifact``), gem -> RubyGems.  Not those the OS package manager
  installed (``Component.owner``: Debian's ``python3-requests`` egg-info, an Alpine jar):
  distributions patch them without changing the language-level version, so the language
  advisories would report what the distribution already fixed.  They are matched through
  the owning OS package, which is itself a component of the image and whose advisories
  cover its files.

Exact version checks are done by ``imagewarden.vulndb.match``; a version that cannot be
parsed becomes an ``Unknown`` on the outcome.  Any other failure becomes the outcome's
``error``: this detector never raises.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from packageurl import PackageURL

from imagewarden.scan.detect.base import (
    DetectorOutcome,
    FindingCategory,
    MatchDetail,
    Severity,
    VulnerabilityFinding,
)
from imagewarden.scan.model import Component, ComponentType, ImageContents, OsInfo, Unknown
from imagewarden.vulndb.ecosystems import normalise_name, os_ecosystem
from imagewarden.vulndb.index import Advisory, AdvisoryIndex
from imagewarden.vulndb.match import MatchStatus, affected

__all__ = ["ANALYZER_NAME", "VulnerabilityDetector"]

ANALYZER_NAME = "vulns"

_LANGUAGE = {
    ComponentType.PYPI: "PyPI",
    ComponentType.NPM: "npm",
    ComponentType.GOLANG: "Go",
    ComponentType.MAVEN: "Maven",
    ComponentType.GEM: "RubyGems",
}
_OS_TYPES = (ComponentType.DEB, ComponentType.APK, ComponentType.RPM)


@dataclass(frozen=True)
class _Search:
    ecosystem: str
    name: str  # normalised
    version: str
    kind: str  # "direct" | "via-source"


def _maven_name(c: Component) -> str:
    if ":" in c.name:
        return c.name
    try:
        purl = PackageURL.from_string(c.purl)
    except ValueError:
        return c.name
    return f"{purl.namespace}:{purl.name}" if purl.namespace else purl.name


def _searches(c: Component, os_eco: str | None) -> list[_Search]:
    if c.type in _OS_TYPES:
        if os_eco is None:
            return []
        out = [
            _Search(
                os_eco,
                normalise_name(os_eco, c.name),
                (c.source_version if c.source_name == c.name and c.source_version else c.version),
                "direct",
            )
        ]
        if c.source_name and c.source_name != c.name:
            out.append(
                _Search(
                    os_eco,
                    normalise_name(os_eco, c.source_name),
                    c.source_version or c.version,
                    "via-source",
                )
            )
        return out
    eco = _LANGUAGE.get(c.type)
    if eco is None or c.owner is not None:
        return []
    name = _maven_name(c) if c.type is ComponentType.MAVEN else c.name
    return [_Search(eco, normalise_name(eco, name), c.version, "direct")]


def _rfc3339(adv: Advisory) -> str | None:
    if adv.published is None:
        return None
    return adv.published.strftime("%Y-%m-%dT%H:%M:%SZ")


class VulnerabilityDetector:
    """``Detector`` for FindingCategory.VULN over any ``AdvisoryIndex``."""

    category: ClassVar[FindingCategory] = FindingCategory.VULN

    def __init__(self, index: AdvisoryIndex) -> None:
        self._index = index
        self._named: dict[tuple[object, ...], bool] = {}

    def could_match(self, comp: Component, os: OsInfo | None) -> bool:
        """Whether any advisory is indexed under a name ``comp`` is searched by.

        The version plays no part, so the answer is memoised per (type, names, OS): bulk
        re-matching asks this of every stored component and runs the full match only for
        the few that can match.  Exact: a ``False`` component can never yield a finding.
        """
        key = (
            comp.type,
            comp.name,
            comp.source_name,
            comp.purl if comp.type is ComponentType.MAVEN else "",
            comp.owner is not None,
            os.family if os else None,
            os.version if os else None,
        )
        hit = self._named.get(key)
        if hit is None:
            os_eco = os_ecosystem(os.family, os.version) if os else None
            hit = any(
                any(True for _ in self._index.candidates(s.ecosystem, s.name))
                for s in _searches(comp, os_eco)
            )
            if len(self._named) >= 500_000:
                self._named.clear()
            self._named[key] = hit
        return hit

    def detect(self, image: ImageContents) -> DetectorOutcome:
        try:
            findings, unknowns = self._detect(image)
        except Exception as exc:  # one failing category never spoils another
            return DetectorOutcome(
                self.category, error=f"vulnerability matching failed: {type(exc).__name__}: {exc}"
            )
        return DetectorOutcome(self.category, findings=findings, unknowns=unknowns)

    def _detect(
        self, image: ImageContents
    ) -> tuple[tuple[VulnerabilityFinding, ...], tuple[Unknown, ...]]:
        os_eco = os_ecosystem(image.os.family, image.os.version) if image.os else None
        cache: dict[tuple[str, str], list[Advisory]] = {}
        findings: dict[tuple[str, str, str, str], VulnerabilityFinding] = {}
        unknowns: set[Unknown] = set()
        unmatched_os = 0
        for comp in sorted(image.components):
            searches = _searches(comp, os_eco)
            if not searches and comp.type in _OS_TYPES:
                unmatched_os += 1
            for s in searches:
                key = (s.ecosystem, s.name)
                if key not in cache:
                    cache[key] = list(self._index.candidates(s.ecosystem, s.name))
                for finding in self._match(comp, s, cache[key], unknowns):
                    fkey = (finding.id, comp.name, comp.version, comp.path)
                    findings.setdefault(fkey, finding)
        if unmatched_os:
            os_desc = f"{image.os.family} {image.os.version}" if image.os else "unknown OS"
            unknowns.add(
                Unknown(
                    path="",
                    analyzer=ANALYZER_NAME,
                    reason=f"no advisory ecosystem for {os_desc}: {unmatched_os} OS package(s) not matched",
                )
            )
        ordered = sorted(
            findings.values(),
            key=lambda f: (f.component_name, f.component_version, f.component_path, f.id),
        )
        return tuple(ordered), tuple(sorted(unknowns))

    def _match(
        self, comp: Component, s: _Search, advisories: Iterable[Advisory], unknowns: set[Unknown]
    ) -> Iterable[VulnerabilityFinding]:
        for adv in advisories:
            found: list[str] = []
            fixed: list[str] = []
            first = None
            for entry in adv.affected:
                result = affected(s.ecosystem, s.version, entry)
                if result.status is MatchStatus.AFFECTED:
                    found.append(result.found)
                    fixed.extend(result.fixed)
                    first = first or entry
                elif result.status is MatchStatus.UNKNOWN:
                    unknowns.add(
                        Unknown(
                            path=comp.path,
                            analyzer=ANALYZER_NAME,
                            reason=f"{adv.id}: {s.ecosystem}/{s.name} {s.version}: {result.reason}",
                        )
                    )
            if first is None:
                continue
            yield VulnerabilityFinding(
                id=adv.id,
                aliases=adv.aliases,
                component_name=comp.name,
                component_version=comp.version,
                component_type=str(comp.type),
                component_purl=comp.purl,
                component_path=comp.path,
                severity=Severity(first.severity),
                cvss_score=first.cvss_score,
                cvss_vector=first.cvss_vector,
                fixed_versions=tuple(dict.fromkeys(fixed)),
                summary=adv.summary,
                description=adv.details,
                references=adv.references,
                published=_rfc3339(adv),
                match=MatchDetail(
                    kind=s.kind,
                    searched_by=f"{s.ecosystem}/{s.name}@{s.version}",
                    found="; ".join(found),
                ),
            )
