"""SARIF 2.1.0 of a scan report's vulnerability findings (for code-scanning dashboards):
one rule per advisory, one result per (advisory, component, path)."""

from __future__ import annotations

import msgspec

from imagewarden import __version__
from imagewarden.scan.detect.base import FindingCategory, Severity, VulnerabilityFinding
from imagewarden.scan.model import ScanReport

__all__ = ["render_sarif"]

_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.UNKNOWN: "note",
}
#: GitHub-style numeric severity when an advisory carries no CVSS score
_DEFAULT_SCORE = {
    Severity.CRITICAL: 9.5,
    Severity.HIGH: 8.0,
    Severity.MEDIUM: 5.5,
    Severity.LOW: 2.0,
}


def _rule(f: VulnerabilityFinding) -> dict[str, object]:
    score = f.cvss_score if f.cvss_score is not None else _DEFAULT_SCORE.get(f.severity)
    props: dict[str, object] = {"tags": ["security", "vulnerability", f.component_type]}
    if score is not None:
        props["security-severity"] = f"{score:.1f}"
    rule: dict[str, object] = {
        "id": f.id,
        "name": f.cve_id,
        "shortDescription": {"text": f.summary or f.id},
        "fullDescription": {"text": f.description or f.summary or f.id},
        "properties": props,
    }
    if f.references:
        rule["helpUri"] = f.references[0]
    return rule


def render_sarif(report: ScanReport) -> bytes:
    findings = sorted(
        f for o in report.outcomes if o.category is FindingCategory.VULN for f in o.findings
    )
    rules: dict[str, dict[str, object]] = {}
    results: list[dict[str, object]] = []
    for f in findings:
        if f.id not in rules:
            rules[f.id] = _rule(f)
        fixed = ", ".join(f.fixed_versions) or "no fixed version yet"
        results.append(
            {
                "ruleId": f.id,
                "ruleIndex": list(rules).index(f.id),
                "level": _LEVEL[f.severity],
                "message": {
                    "text": f"{f.component_name} {f.component_version} is affected by {f.cve_id} "
                    f"({f.severity.value.lower()}); fixed in: {fixed}"
                },
                "locations": [
                    {
                        "physicalLocation": {"artifactLocation": {"uri": f.component_path or "/"}},
                        "message": {"text": f"image {report.image_id}"},
                    }
                ],
                "properties": {"purl": f.component_purl, "match": f.match.kind},
            }
        )
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "imagewarden",
                        "version": __version__,
                        "rules": list(rules.values()),
                    }
                },
                "results": results,
            }
        ],
    }
    return msgspec.json.format(msgspec.json.encode(doc), indent=2) + b"\n"
