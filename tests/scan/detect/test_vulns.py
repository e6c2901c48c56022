"""The vulnerability detector over real OSV records imported into SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from sqlalchemy import Engine

from imagewarden.scan.detect.base import DetectorOutcome, FindingCategory, Severity
from imagewarden.scan.detect.vulns import VulnerabilityDetector
from imagewarden.scan.model import Component, ComponentType, Digest, ImageContents, OsInfo
from imagewarden.store.advisories import SqlAdvisoryIndex, SqlAdvisoryWriter
from imagewarden.vulndb import Advisory, detector_for, import_paths
from tests.vulndb.fixtures import OSV_DIR, pg_vulndb, vuln_engine

__all__ = ["pg_vulndb", "vuln_engine"]

DEBIAN_12 = OsInfo("debian", "12", "debian:12")
ALPINE_318 = OsInfo("alpine", "3.18.4", "alpine:v3.18")
ALPINE_319 = OsInfo("alpine", "3.19.1", "alpine:v3.19")


def _c(
    t: ComponentType,
    name: str,
    version: str,
    purl: str = "",
    source: str | None = None,
    source_version: str | None = None,
) -> Component:
    return Component(
        type=t,
        name=name,
        version=version,
        path=f"/layer/{t}/{name}",
        purl=purl or f"pkg:{t}/{name}@{version}",
        analyzer="test",
        source_name=source,
        source_version=source_version,
    )


def _image(os: OsInfo | None, *components: Component) -> ImageContents:
    return ImageContents(image_id=Digest("sha256:" + "0" * 64), os=os, components=components)


@pytest.fixture
def detector(vuln_engine: Engine) -> VulnerabilityDetector:
    import_paths([OSV_DIR], SqlAdvisoryWriter(vuln_engine))
    return VulnerabilityDetector(SqlAdvisoryIndex(vuln_engine))


def _one(outcome: DetectorOutcome) -> dict[str, object]:
    assert outcome.error is None
    assert len(outcome.findings) == 1, outcome.findings
    f = outcome.findings[0]
    return {
        "id": f.id,
        "cve": f.cve_id,
        "name": f.component_name,
        "severity": f.severity,
        "score": f.cvss_score,
        "fixed": f.fixed_versions,
        "kind": f.match.kind,
    }


def test_debian_source_match_and_backport_fix(detector: VulnerabilityDetector) -> None:
    # libssl3 is built from src:openssl; DSA-5532-1 fixed bookworm in 3.0.11-1~deb12u2
    vulnerable = _c(ComponentType.DEB, "libssl3", "3.0.11-1~deb12u1", source="openssl")
    got = _one(detector.detect(_image(DEBIAN_12, vulnerable)))
    assert got == {
        "id": "DSA-5532-1",
        "cve": "CVE-2023-5363",
        "name": "libssl3",
        "severity": Severity.UNKNOWN,  # DSAs carry no severity
        "score": None,
        "fixed": ("3.0.11-1~deb12u2",),
        "kind": "via-source",
    }
    f = detector.detect(_image(DEBIAN_12, vulnerable)).findings[0]
    assert f.match.searched_by == "Debian:12/openssl@3.0.11-1~deb12u1"
    assert "fixed=3.0.11-1~deb12u2" in f.match.found
    assert f.references[0] == "https://www.debian.org/security/2023/dsa-5532"
    assert f.published == "2023-10-24T00:00:00Z"
    fixed = _c(ComponentType.DEB, "libssl3", "3.0.11-1~deb12u2", source="openssl")
    assert detector.detect(_image(DEBIAN_12, fixed)).findings == ()
    # the binary named like its source matches directly; bookworm's original 3.0.9-1
    direct = _c(ComponentType.DEB, "openssl", "3.0.9-1", source="openssl")
    assert _one(detector.detect(_image(DEBIAN_12, direct)))["kind"] == "direct"


def test_alpine_origin_match(detector: VulnerabilityDetector) -> None:
    sub = _c(
        ComponentType.APK, "libcrypto3", "3.1.3-r0", source="openssl", source_version="3.1.3-r0"
    )
    got = _one(detector.detect(_image(ALPINE_318, sub)))
    assert (got["id"], got["cve"], got["kind"], got["fixed"]) == (
        "ALPINE-CVE-2023-5363",
        "CVE-2023-5363",
        "via-source",
        ("3.1.4-r0",),
    )
    ok = _c(
        ComponentType.APK, "libcrypto3", "3.1.4-r0", source="openssl", source_version="3.1.4-r0"
    )
    assert detector.detect(_image(ALPINE_318, ok)).findings == ()
    # the v3.18 record says nothing about Alpine 3.19
    assert detector.detect(_image(ALPINE_319, sub)).findings == ()


LANGUAGE_CASES = [
    # (component, advisory, severity, score, fixed) for an affected version
    (
        _c(ComponentType.PYPI, "urllib3", "2.0.5"),
        "GHSA-v845-jxx5-vc9f",
        Severity.MEDIUM,
        5.9,
        ("2.0.6",),
    ),
    (
        _c(ComponentType.PYPI, "urllib3", "1.26.16"),
        "GHSA-v845-jxx5-vc9f",
        Severity.MEDIUM,
        5.9,
        ("1.26.17",),
    ),
    (
        _c(ComponentType.PYPI, "Requests", "2.30.0"),
        "GHSA-j8r2-6x86-q33q",
        Severity.MEDIUM,
        6.1,
        ("2.31.0",),
    ),
    (
        _c(ComponentType.NPM, "minimist", "1.2.5"),
        "GHSA-xvch-5gv4-984h",
        Severity.CRITICAL,
        9.8,
        ("1.2.6",),
    ),
    (
        _c(ComponentType.NPM, "minimist", "0.2.3"),
        "GHSA-xvch-5gv4-984h",
        Severity.CRITICAL,
        9.8,
        ("0.2.4",),
    ),
    (
        _c(
            ComponentType.MAVEN,
            "log4j-core",
            "2.14.1",
            purl="pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
        ),
        "GHSA-jfh8-c2jp-5v3q",
        Severity.CRITICAL,
        10.0,
        ("2.15.0",),
    ),
    (
        _c(ComponentType.MAVEN, "org.apache.logging.log4j:log4j-core", "2.12.1"),
        "GHSA-jfh8-c2jp-5v3q",
        Severity.CRITICAL,
        10.0,
        ("2.12.2",),
    ),
    (
        _c(ComponentType.GOLANG, "golang.org/x/crypto", "v0.16.0"),
        "GHSA-45x7-px36-x8w8",
        Severity.MEDIUM,
        5.9,
        ("0.17.0",),
    ),
    (
        _c(ComponentType.PYPI, "paramiko", "3.3.1"),
        "GHSA-45x7-px36-x8w8",
        Severity.MEDIUM,
        5.9,
        ("3.4.0",),
    ),
    (
        _c(ComponentType.GEM, "rack", "2.2.3"),
        "GHSA-hxqx-xwvh-44m2",
        Severity.HIGH,
        7.5,
        ("2.2.3.1",),
    ),
]

NOT_AFFECTED = [
    _c(ComponentType.PYPI, "urllib3", "2.0.6"),
    _c(ComponentType.PYPI, "urllib3", "1.26.17"),
    _c(ComponentType.PYPI, "requests", "2.31.0"),
    _c(ComponentType.PYPI, "requests", "2.2.1"),  # before "introduced": 2.3.0
    _c(ComponentType.NPM, "minimist", "1.2.6"),
    _c(ComponentType.NPM, "minimist", "0.2.4"),
    _c(ComponentType.MAVEN, "org.apache.logging.log4j:log4j-core", "2.15.0"),
    _c(ComponentType.MAVEN, "org.apache.logging.log4j:log4j-core", "2.12.2"),
    _c(ComponentType.MAVEN, "org.apache.logging.log4j:log4j-core", "2.3.1"),
    _c(ComponentType.MAVEN, "org.apache.logging.log4j:log4j-api", "2.14.1"),
    _c(ComponentType.GOLANG, "golang.org/x/crypto", "v0.17.0"),
    _c(ComponentType.GEM, "rack", "2.2.3.1"),
    _c(ComponentType.GEM, "rack", "1.1.0"),
]


@pytest.mark.parametrize(("comp", "ident", "severity", "score", "fixed"), LANGUAGE_CASES)
def test_language_packages_affected(
    detector: VulnerabilityDetector,
    comp: Component,
    ident: str,
    severity: Severity,
    score: float,
    fixed: tuple[str, ...],
) -> None:
    got = _one(detector.detect(_image(None, comp)))
    assert (got["id"], got["severity"], got["score"], got["fixed"], got["kind"]) == (
        ident,
        severity,
        score,
        fixed,
        "direct",
    )
    assert str(got["cve"]).startswith("CVE-")


@pytest.mark.parametrize("comp", NOT_AFFECTED, ids=lambda c: f"{c.name}@{c.version}")
def test_fixed_versions_do_not_match(detector: VulnerabilityDetector, comp: Component) -> None:
    outcome = detector.detect(_image(DEBIAN_12, comp))
    assert outcome.error is None
    assert outcome.findings == ()
    assert outcome.unknowns == ()


def test_whole_image_is_deterministic(detector: VulnerabilityDetector) -> None:
    comps = [c for c, *_ in LANGUAGE_CASES] + NOT_AFFECTED
    comps.append(_c(ComponentType.DEB, "libssl3", "3.0.11-1~deb12u1", source="openssl"))
    first = detector.detect(_image(DEBIAN_12, *comps))
    second = detector.detect(_image(DEBIAN_12, *reversed(comps)))
    assert first == second
    assert len(first.findings) == len(LANGUAGE_CASES) + 1
    keys = [(f.component_name, f.component_version, f.component_path, f.id) for f in first.findings]
    assert keys == sorted(keys)


def test_unparseable_version_is_an_unknown(detector: VulnerabilityDetector) -> None:
    comp = _c(ComponentType.PYPI, "urllib3", "this is not pep 440")
    outcome = detector.detect(_image(None, comp))
    assert outcome.error is None and outcome.findings == ()
    assert outcome.unknowns
    assert all(u.analyzer == "vulns" and u.path == comp.path for u in outcome.unknowns)
    assert "GHSA-v845-jxx5-vc9f" in outcome.unknowns[0].reason


def test_os_packages_without_an_ecosystem_are_reported(detector: VulnerabilityDetector) -> None:
    comp = _c(ComponentType.RPM, "openssl", "3.0.7-1.el9")
    outcome = detector.detect(_image(OsInfo("rocky", "9", "rocky:9"), comp))
    assert outcome.findings == ()
    (u,) = outcome.unknowns
    assert "rocky 9" in u.reason


class _BrokenIndex:
    def candidates(self, ecosystem: str, name: str) -> Iterable[Advisory]:
        raise RuntimeError("database went away")


def test_a_failing_index_is_the_categorys_error() -> None:
    outcome = VulnerabilityDetector(_BrokenIndex()).detect(
        _image(None, _c(ComponentType.NPM, "minimist", "1.2.5"))
    )
    assert outcome.category is FindingCategory.VULN
    assert outcome.findings == ()
    assert outcome.error is not None and "database went away" in outcome.error


def test_detector_for_url(tmp_path: object) -> None:
    from pathlib import Path

    from imagewarden.store.engine import make_engine
    from imagewarden.store.migrate import upgrade

    url = f"sqlite:///{Path(str(tmp_path)) / 'd.db'}"
    engine = make_engine(url)
    upgrade(engine, "0002_advisories")
    import_paths([OSV_DIR / "ghsa"], SqlAdvisoryWriter(engine))
    engine.dispose()
    det = detector_for(url)
    assert det.category is FindingCategory.VULN
    outcome = det.detect(_image(None, _c(ComponentType.GEM, "rack", "2.1.4")))
    assert [f.id for f in outcome.findings] == ["GHSA-hxqx-xwvh-44m2"]
