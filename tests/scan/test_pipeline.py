"""scan_image end to end on real OCI layouts: report fields, detectors, unknowns."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest

from imagewarden.scan.detect.base import (
    DetectorOutcome,
    FindingCategory,
    MatchDetail,
    Severity,
    VulnerabilityFinding,
)
from imagewarden.scan.errors import ScanError
from imagewarden.scan.model import ImageContents, ScanReport
from imagewarden.scan.pipeline import scan_image
from imagewarden.scan.source.oci_layout import OciLayoutSource
from imagewarden.scan.walker import WalkLimits
from tests.scan.conftest import STATUS
from tests.testdata.images.build import Symlink, make_image, write_oci_layout

BASE = {
    "usr/lib/os-release": 'ID=debian\nVERSION_ID="12"\n',
    "etc/os-release": Symlink("../usr/lib/os-release"),
    "var/lib/dpkg/status": STATUS,
}


def finding(name: str, severity: Severity, purl: str = "") -> VulnerabilityFinding:
    return VulnerabilityFinding(
        id="CVE-2024-0001",
        aliases=(),
        component_name=name,
        component_version="1",
        component_type="deb",
        component_purl=purl,
        component_path="var/lib/dpkg/status",
        severity=severity,
        cvss_score=9.8,
        cvss_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        fixed_versions=("2",),
        summary="bad",
        description="very bad",
        references=(),
        published=None,
        match=MatchDetail("direct", "Debian:12/" + name, "<2"),
    )


class FakeVulns:
    """Finds one critical vulnerability in libc6 (from the merged contents it receives)."""

    category: ClassVar[FindingCategory] = FindingCategory.VULN

    def __init__(self) -> None:
        self.seen: ImageContents | None = None

    def detect(self, image: ImageContents) -> DetectorOutcome:
        self.seen = image
        libc = next(c for c in image.components if c.name == "libc6")
        return DetectorOutcome(
            self.category, findings=(finding("libc6", Severity.CRITICAL, libc.purl),)
        )


class Broken:
    category: ClassVar[FindingCategory] = FindingCategory.SECRET

    def detect(self, image: ImageContents) -> DetectorOutcome:
        raise RuntimeError("rules missing")


def _scan(tmp_path: Path, **kw: object) -> ScanReport:
    img = make_image(
        [BASE, {"etc/motd": "hi", "big/file.boom": b"x"}], created="2024-05-06T07:08:09Z"
    )
    write_oci_layout(tmp_path, [("v2", img)])
    return scan_image(OciLayoutSource(tmp_path), ref=f"oci:{tmp_path}:v2", **kw)  # type: ignore[arg-type]


def test_report_fields(tmp_path: Path) -> None:
    r = _scan(tmp_path)
    assert r.image_id.startswith("sha256:") and r.manifest_digest is not None
    assert r.repo_tags == ("v2",)
    assert r.os is not None and r.os.name == "debian:12"
    assert r.architecture == "amd64" and r.os_name_config == "linux"
    assert r.created == "2024-05-06T07:08:09Z"
    assert r.layer_count == 2 == len(r.layers)
    assert r.size == sum(layer.size for layer in r.layers) > 0
    assert [name for name, _ in r.timings] == ["resolve", "layers", "apply"]
    assert r.source == f"oci:{tmp_path}:v2"
    assert [c.name for c in r.components] == ["libc6", "zlib1g"]


def test_detectors_get_merged_contents_and_failures_stay_in_their_category(tmp_path: Path) -> None:
    vulns = FakeVulns()
    r = _scan(tmp_path, detectors=[Broken(), vulns])
    assert vulns.seen is not None and vulns.seen.os is not None
    assert [o.category for o in r.outcomes] == [FindingCategory.SECRET, FindingCategory.VULN]
    secret, vuln = r.outcomes
    assert secret.error is not None and "rules missing" in secret.error and secret.findings == ()
    assert vuln.error is None and [f.component_name for f in vuln.findings] == ["libc6"]


def test_unsafe_layer_fails_the_image(tmp_path: Path) -> None:
    img = make_image([BASE, [("../../x", b"1")]])
    write_oci_layout(tmp_path, [("v", img)])
    with pytest.raises(ScanError):
        scan_image(OciLayoutSource(tmp_path))


def test_limits_flow_through(tmp_path: Path) -> None:
    r = _scan(tmp_path, limits=WalkLimits(max_file_size=100))
    assert ("var/lib/dpkg/status", "dpkg") in {(u.path, u.analyzer) for u in r.unknowns}
    assert r.components == ()
