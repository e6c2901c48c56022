"""SARIF 2.1.0 of a scan report's findings (for code-scanning dashboards).

* vulnerabilities: one rule per advisory, one result per (advisory, component, path);
* malware and secrets: one rule per rule id, one result per file finding, located at the
  file's path and line (the config and history use their pseudo paths ``config:Env`` /
  ``config:history``); the message carries only the redacted excerpt;
* risky build steps: one rule per rule id, one result per instruction, located logically
  at the image (they come from its config, not from a file).
"""

from __future__ import annotations

import msgspec

from imagewarden import __version__
from imagewarden.scan.detect.base import (
    BuildRiskFinding,
    FileFinding,
    FindingCategory,
    Severity,
    VulnerabilityFinding,
)
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


#: SARIF level and security-severity of a build-risk Level (1 low .. 4 critical)
_RISK_LEVEL = {1: ("note", "2.0"), 2: ("warning", "5.5"), 3: ("error", "8.0"), 4: ("error", "9.5")}


def _file_rule(f: FileFinding) -> dict[str, object]:
    kind = "malware" if f.category is FindingCategory.MALWARE else "secret"
    props: dict[str, object] = {"tags": ["security", kind, *f.tags]}
    if f.severity in _DEFAULT_SCORE:
        props["security-severity"] = f"{_DEFAULT_SCORE[f.severity]:.1f}"
    return {
        "id": f.rule_id,
        "name": f.title,
        "shortDescription": {"text": f.title},
        "fullDescription": {"text": f.solution or f.title},
        "properties": props,
    }


def _file_result(f: FileFinding, index: int, image_id: str) -> dict[str, object]:
    location: dict[str, object] = {"artifactLocation": {"uri": f.path}}
    if f.line > 0:
        location["region"] = {"startLine": f.line}
    text = f"{f.title} in {f.path}" + (f" line {f.line}" if f.line else "")
    if f.excerpt:
        text += f": {f.excerpt}"
    props: dict[str, object] = {"category": f.category.value, "layer": f.layer}
    if f.md5:
        props["md5"] = f.md5
    return {
        "ruleId": f.rule_id,
        "ruleIndex": index,
        "level": _LEVEL[f.severity],
        "message": {"text": text},
        "locations": [{"physicalLocation": location, "message": {"text": f"image {image_id}"}}],
        "properties": props,
    }


def _risk_rule(f: BuildRiskFinding) -> dict[str, object]:
    return {
        "id": f.rule_id,
        "name": f.rule_id,
        "shortDescription": {"text": f.rule_id.replace("-", " ")},
        "fullDescription": {"text": f.description},
        "properties": {
            "tags": ["security", "build"],
            "security-severity": _RISK_LEVEL.get(f.level, _RISK_LEVEL[1])[1],
        },
    }


def _risk_result(f: BuildRiskFinding, index: int, image_id: str) -> dict[str, object]:
    return {
        "ruleId": f.rule_id,
        "ruleIndex": index,
        "level": _RISK_LEVEL.get(f.level, _RISK_LEVEL[1])[0],
        "message": {"text": f"{f.description} Instruction: {f.instruction}"},
        "locations": [
            {"logicalLocations": [{"name": image_id, "kind": "image"}]},
        ],
        "properties": {"behavior": f.behavior, "type": f.type, "level": f.level},
    }


def render_sarif(report: ScanReport) -> bytes:
    findings = sorted(
        f
        for o in report.outcomes
        if o.category is FindingCategory.VULN
        for f in o.findings
        if isinstance(f, VulnerabilityFinding)
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
    for o in sorted(report.outcomes, key=lambda o: o.category.value):
        for g in sorted(x for x in o.findings if isinstance(x, FileFinding)):
            rules.setdefault(g.rule_id, _file_rule(g))
            results.append(_file_result(g, list(rules).index(g.rule_id), report.image_id))
        for r in sorted(x for x in o.findings if isinstance(x, BuildRiskFinding)):
            rules.setdefault(r.rule_id, _risk_rule(r))
            results.append(_risk_result(r, list(rules).index(r.rule_id), report.image_id))
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
