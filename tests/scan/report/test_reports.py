"""JSON, CycloneDX and table reports from a real scan."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from imagewarden.scan.model import ScanReport
from imagewarden.scan.pipeline import scan_image
from imagewarden.scan.report.cyclonedx import render_cyclonedx
from imagewarden.scan.report.json import render_json
from imagewarden.scan.report.table import render_table
from imagewarden.scan.source.oci_layout import OciLayoutSource
from tests.scan.test_pipeline import BASE, Broken, FakeVulns
from tests.testdata.images.build import make_image, write_oci_layout


def _report(tmp_path: Path) -> ScanReport:
    write_oci_layout(tmp_path, [("v1", make_image([BASE]))])
    return scan_image(OciLayoutSource(tmp_path), detectors=[FakeVulns(), Broken()])


def test_json_is_stable_and_complete(tmp_path: Path) -> None:
    r1 = _report(tmp_path / "a")
    r2 = _report(tmp_path / "b")
    a, b = render_json(r1, stable=True), render_json(r2, stable=True)
    assert a == b
    doc = json.loads(a)
    assert list(doc) == sorted(doc)
    assert doc["os"]["name"] == "debian:12"
    assert [c["name"] for c in doc["components"]] == ["libc6", "zlib1g"]
    assert doc["outcomes"][1]["findings"][0]["severity"] == "CRITICAL"
    assert "rules missing" in doc["outcomes"][0]["error"]
    assert doc["timings"] == []
    assert json.loads(render_json(r1))["timings"]


def test_cyclonedx(tmp_path: Path) -> None:
    report = _report(tmp_path)
    data = render_cyclonedx(report)
    assert data == render_cyclonedx(report)
    doc = json.loads(data)
    assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.6"
    assert doc["metadata"]["component"]["type"] == "container"
    kinds = {c["name"]: c["type"] for c in doc["components"]}
    assert kinds["debian"] == "operating-system" and kinds["libc6"] == "library"
    purls = {c["name"]: c.get("purl") for c in doc["components"]}
    assert purls["libc6"] == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12"
    vuln = doc["vulnerabilities"][0]
    assert vuln["id"] == "CVE-2024-0001"
    assert vuln["ratings"][0]["severity"] == "critical"
    assert vuln["affects"][0]["ref"] == purls["libc6"]


def test_table(tmp_path: Path) -> None:
    console = Console(record=True, width=200, color_system=None)
    render_table(_report(tmp_path), console)
    text = console.export_text()
    assert (
        "debian:12" in text
        and "libc6" in text
        and "CVE-2024-0001" in text
        and "rules missing" in text
    )


def test_spdx(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from imagewarden.scan.report.spdx import render_spdx

    report = _report(tmp_path)
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    data = render_spdx(report, created=when)
    assert data == render_spdx(report, created=when)
    doc = json.loads(data)
    assert doc["spdxVersion"] == "SPDX-2.3" and doc["dataLicense"] == "CC0-1.0"
    assert doc["creationInfo"]["created"] == "2026-01-02T03:04:05Z"
    image, *pkgs = doc["packages"]
    assert image["primaryPackagePurpose"] == "CONTAINER"
    assert {p["name"]: p["versionInfo"] for p in pkgs} == {
        c.name: c.version for c in report.components
    }
    ids = {p["SPDXID"] for p in doc["packages"]}
    assert all(i.startswith("SPDXRef-") and i.replace("-", "").isalnum() for i in ids)
    rels = doc["relationships"]
    assert rels[0] == {
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": image["SPDXID"],
    }
    assert {r["relatedSpdxElement"] for r in rels[1:]} == ids - {image["SPDXID"]}
    libc = next(p for p in pkgs if p["name"] == "libc6")
    assert libc["externalRefs"][0]["referenceLocator"].startswith("pkg:deb/debian/libc6@")


def test_sarif(tmp_path: Path) -> None:
    from imagewarden.scan.report.sarif import render_sarif

    doc = json.loads(render_sarif(_report(tmp_path)))
    assert doc["version"] == "2.1.0"
    run = doc["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["CVE-2024-0001"]
    (result,) = run["results"]
    assert result["ruleId"] == "CVE-2024-0001" and result["ruleIndex"] == 0
    assert result["level"] == "error"  # critical
    assert "libc6" in result["message"]["text"]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert float(rules[0]["properties"]["security-severity"]) >= 9.0
