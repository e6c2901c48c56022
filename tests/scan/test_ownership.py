"""Language components installed by the OS package manager: owned, kept, never language-matched.

Images are built with the test builders in the real formats: a dpkg database with
``info/<package>.list`` files, an apk ``installed`` database with ``F:``/``R:`` lines, and an
rpm database written by rpm itself from packages rpmbuild made.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path, PurePosixPath

import pytest
from sqlalchemy import Engine

from imagewarden.scan.analyzer.apk import ApkAnalyzer, parse_apk_files
from imagewarden.scan.analyzer.base import FileInfo, LayerFile
from imagewarden.scan.analyzer.dpkg import DpkgAnalyzer
from imagewarden.scan.analyzer.ownership import language_relevant
from imagewarden.scan.analyzer.rpm import RpmAnalyzer
from imagewarden.scan.cache import InMemoryLayerCache
from imagewarden.scan.detect.base import FindingCategory
from imagewarden.scan.detect.vulns import VulnerabilityDetector
from imagewarden.scan.model import Component, FileOwnership, ScanReport
from imagewarden.scan.pipeline import scan_image
from imagewarden.scan.report.cyclonedx import render_cyclonedx
from imagewarden.scan.report.json import report_to_builtins
from imagewarden.scan.report.spdx import render_spdx
from imagewarden.scan.source.oci_layout import OciLayoutSource
from imagewarden.store.advisories import SqlAdvisoryIndex, SqlAdvisoryWriter
from imagewarden.vulndb import import_paths
from tests.scan.conftest import DEBIAN_OS_RELEASE
from tests.testdata.images.build import Symlink, make_image, write_oci_layout
from tests.vulndb.fixtures import OSV_DIR, pg_vulndb, vuln_engine

__all__ = ["pg_vulndb", "vuln_engine"]

DEB_EGG = "usr/lib/python3/dist-packages/requests-2.28.1.egg-info"
PIP_DIST = "usr/local/lib/python3.11/dist-packages/requests-2.28.1.dist-info"
PKG_INFO = "Metadata-Version: 2.1\nName: requests\nVersion: 2.28.1\nSummary: HTTP\n"
STATUS = (
    "Package: python3-requests\nStatus: install ok installed\nArchitecture: all\n"
    "Source: requests\nVersion: 2.28.1+dfsg-1\n\n"
    "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\n"
    "Source: glibc\nVersion: 2.36-9+deb12u4\n"
)
REQUESTS_LIST = "\n".join(
    [
        "/.",
        "/usr",
        "/usr/lib/python3/dist-packages",
        "/usr/lib/python3/dist-packages/requests",
        "/usr/lib/python3/dist-packages/requests/__init__.py",
        f"/{DEB_EGG}",
        f"/{DEB_EGG}/PKG-INFO",
        f"/{DEB_EGG}/top_level.txt",
        "/usr/share/doc/python3-requests/copyright",
    ]
)


def _debian_layers() -> list[dict[str, object]]:
    return [
        {
            "etc/os-release": DEBIAN_OS_RELEASE,
            "var/lib/dpkg/status": STATUS,
            "var/lib/dpkg/info/python3-requests.list": REQUESTS_LIST + "\n",
            "var/lib/dpkg/info/libc6:amd64.list": "/.\n/usr/lib/x86_64-linux-gnu/libc.so.6\n",
            f"{DEB_EGG}/PKG-INFO": PKG_INFO,
            "usr/lib/python3/dist-packages/requests/__init__.py": "",
        },
        # `pip install requests==2.28.1` on top: not the OS package's files
        {f"{PIP_DIST}/METADATA": PKG_INFO, f"{PIP_DIST}/RECORD": ""},
    ]


def _scan(tmp_path: Path, layers: list[dict[str, object]], **kw: object) -> ScanReport:
    image = make_image(layers)  # type: ignore[arg-type]
    layout = write_oci_layout(tmp_path / "img", [("t:1", image)])
    return scan_image(OciLayoutSource(layout, "t:1"), **kw)  # type: ignore[arg-type]


def _pypi(report: ScanReport) -> dict[str, str | None]:
    return {c.path: c.owner for c in report.components if c.type == "pypi"}


def _files(files: dict[str, str | bytes]) -> dict[PurePosixPath, LayerFile]:
    out = {}
    for name, body in files.items():
        data = body.encode() if isinstance(body, str) else body
        out[PurePosixPath(name)] = LayerFile(PurePosixPath(name), len(data), 0o644, data)
    return out


# --- the database formats -------------------------------------------------------------------


def test_dpkg_lists_keep_only_language_relevant_paths() -> None:
    a = DpkgAnalyzer()
    info = FileInfo(PurePosixPath("var/lib/dpkg/info/x.list"), 1, 0o644)
    assert a.wants(PurePosixPath("var/lib/dpkg/info/python3-requests.list"), info)
    assert a.wants(PurePosixPath("var/lib/dpkg/info/libc6:amd64.list"), info)
    assert not a.wants(PurePosixPath("var/lib/dpkg/info/libc6:amd64.md5sums"), info)
    facts = a.analyze(
        _files(
            {
                "var/lib/dpkg/info/python3-requests.list": REQUESTS_LIST,
                "var/lib/dpkg/info/golang-x:amd64.list": "/usr/bin/x-tool\n/usr/share/man/x.1.gz\n",
                "var/lib/dpkg/info/tzdata.list": "/usr/share/zoneinfo/UTC\n",
            }
        )
    )
    assert facts.components == ()
    assert facts.owned_files == (
        FileOwnership("var/lib/dpkg/info/golang-x:amd64.list", "deb:golang-x", ("usr/bin/x-tool",)),
        FileOwnership(
            "var/lib/dpkg/info/python3-requests.list",
            "deb:python3-requests",
            (DEB_EGG, f"{DEB_EGG}/PKG-INFO"),
        ),
    )


def test_language_relevant_paths() -> None:
    yes = [
        "usr/lib/python3/dist-packages/six-1.16.0.egg-info",
        "usr/lib/python3/dist-packages/pip-23.0.1.dist-info/METADATA",
        "usr/lib/node_modules/npm/package.json",
        "usr/share/rubygems-integration/all/specifications/rake-13.0.6.gemspec",
        "usr/share/java/commons-io.jar",
        "usr/sbin/tool",
        "usr/libexec/docker/cli-plugins/docker-buildx",
        "usr/lib/go-1.19/pkg/tool/linux_amd64/vet",
    ]
    no = [
        "usr/lib/python3/dist-packages/requests/__init__.py",
        "usr/lib/python3/dist-packages/pip-23.0.1.dist-info/RECORD",
        "usr/share/zoneinfo/UTC",
        "usr/share/doc/python3-requests/copyright",
        "usr/lib/x86_64-linux-gnu/libc.so.6",
    ]
    assert [p for p in yes if not language_relevant(p)] == []
    assert [p for p in no if language_relevant(p)] == []


APK_INSTALLED = """\
C:Q1abc=
P:py3-requests
V:2.31.0-r0
A:noarch
o:py3-requests
F:usr/lib/python3.11/site-packages/requests
R:__init__.py
F:usr/lib/python3.11/site-packages/requests-2.31.0.dist-info
R:METADATA
a:0:0:644
Z:Q1xyz=
R:RECORD

C:Q1def=
P:musl
V:1.2.4-r2
A:x86_64
o:musl
F:lib
R:ld-musl-x86_64.so.1
"""


def test_apk_f_and_r_lines() -> None:
    assert parse_apk_files(APK_INSTALLED)["py3-requests"] == [
        "usr/lib/python3.11/site-packages/requests",
        "usr/lib/python3.11/site-packages/requests/__init__.py",
        "usr/lib/python3.11/site-packages/requests-2.31.0.dist-info",
        "usr/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA",
        "usr/lib/python3.11/site-packages/requests-2.31.0.dist-info/RECORD",
    ]
    facts = ApkAnalyzer().analyze(_files({"lib/apk/db/installed": APK_INSTALLED}))
    assert {c.name for c in facts.components} == {"py3-requests", "musl"}
    assert facts.owned_files == (
        FileOwnership(
            "lib/apk/db/installed",
            "apk:py3-requests",
            (
                "usr/lib/python3.11/site-packages/requests-2.31.0.dist-info",
                "usr/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA",
            ),
        ),
    )


def test_alpine_image_owner(tmp_path: Path) -> None:
    dist = "usr/lib/python3.11/site-packages/requests-2.31.0.dist-info"
    report = _scan(
        tmp_path,
        [
            {
                "etc/alpine-release": "3.18.4\n",
                "etc/os-release": 'ID=alpine\nVERSION_ID=3.18.4\nPRETTY_NAME="Alpine"\n',
                "lib/apk/db/installed": APK_INSTALLED,
                f"{dist}/METADATA": PKG_INFO.replace("2.28.1", "2.31.0"),
            }
        ],
    )
    assert _pypi(report) == {f"{dist}/METADATA": "apk:py3-requests"}


# --- apply: ownership, whiteouts, rewrites, the cache ---------------------------------------


def test_debian_owned_and_pip_installed(tmp_path: Path) -> None:
    cache = InMemoryLayerCache()
    cold = _scan(tmp_path / "cold", _debian_layers(), cache=cache)
    assert _pypi(cold) == {
        f"{DEB_EGG}/PKG-INFO": "deb:python3-requests",
        f"{PIP_DIST}/METADATA": None,
    }
    assert all(c.owner is None for c in cold.components if c.type != "pypi")
    # the second scan reads nothing: ownership comes back from the layer cache
    warm = _scan(tmp_path / "warm", _debian_layers(), cache=cache)
    assert all(layer.cached for layer in warm.layers)
    assert warm.components == cold.components


def test_whiteout_of_the_list_file_drops_ownership(tmp_path: Path) -> None:
    layers = _debian_layers()
    layers.append({"var/lib/dpkg/info/.wh.python3-requests.list": b""})
    assert _pypi(_scan(tmp_path, layers))[f"{DEB_EGG}/PKG-INFO"] is None


def test_rewritten_list_file_and_removed_package(tmp_path: Path) -> None:
    # an upper layer rewrites the list without the egg-info: the lower list no longer counts
    rewritten = _debian_layers()
    rewritten.append(
        {"var/lib/dpkg/info/python3-requests.list": "/usr/lib/python3/dist-packages/requests\n"}
    )
    assert _pypi(_scan(tmp_path / "a", rewritten))[f"{DEB_EGG}/PKG-INFO"] is None
    # the status no longer lists python3-requests (its list left behind): no owner to
    # match through, so the language component is matched on its own again
    removed = _debian_layers()
    removed.append({"var/lib/dpkg/status": STATUS.split("\n\n")[1]})
    assert _pypi(_scan(tmp_path / "b", removed))[f"{DEB_EGG}/PKG-INFO"] is None


def _jar(group: str, artifact: str, version: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(
            f"META-INF/maven/{group}/{artifact}/pom.properties",
            f"groupId={group}\nartifactId={artifact}\nversion={version}\n",
        )
    return buf.getvalue()


def test_merged_usr_symlinks_and_nested_jars(tmp_path: Path) -> None:
    """dpkg lists ``/lib/...`` on merged-/usr systems while the file lives in ``usr/lib``;
    a jar nested in an owned archive is owned through its outer file."""
    inner = _jar("org.y", "inner", "2.0")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(
            "META-INF/maven/org.x/outer/pom.properties",
            "groupId=org.x\nartifactId=outer\nversion=1.0\n",
        )
        z.writestr("lib/inner-2.0.jar", inner)
    outer = buf.getvalue()
    status = STATUS + (
        "\nPackage: libx-java\nStatus: install ok installed\nArchitecture: all\nVersion: 1.0-1\n"
    )
    report = _scan(
        tmp_path,
        [
            {
                "etc/os-release": DEBIAN_OS_RELEASE,
                "lib": Symlink("usr/lib"),
                "var/lib/dpkg/status": status,
                "var/lib/dpkg/info/libx-java.list": "/lib/java/outer.jar\n",
                "usr/lib/java/outer.jar": outer,
                "usr/share/java/mine.jar": _jar("org.z", "mine", "3.0"),  # not in any list
            }
        ],
    )
    owners = {(c.name, c.path): c.owner for c in report.components if c.type == "maven"}
    assert owners == {
        ("org.x:outer", "usr/lib/java/outer.jar"): "deb:libx-java",
        ("org.y:inner", "usr/lib/java/outer.jar!/lib/inner-2.0.jar"): "deb:libx-java",
        ("org.z:mine", "usr/share/java/mine.jar"): None,
    }


# --- matching and reports -------------------------------------------------------------------


@pytest.fixture
def detector(vuln_engine: Engine) -> VulnerabilityDetector:
    import_paths([OSV_DIR / "ghsa"], SqlAdvisoryWriter(vuln_engine))
    return VulnerabilityDetector(SqlAdvisoryIndex(vuln_engine))


def test_owned_dist_not_matched_against_pypi_advisories(
    tmp_path: Path, detector: VulnerabilityDetector
) -> None:
    # GHSA-j8r2-6x86-q33q (CVE-2023-32681): requests >= 2.3.0, < 2.31.0.  Debian fixed it in
    # python3-requests 2.28.1+dfsg-1 by a patch (DSA-5438-1 style backport), keeping 2.28.1
    report = _scan(tmp_path, _debian_layers(), detectors=[detector])
    (outcome,) = report.outcomes
    assert outcome.category is FindingCategory.VULN and outcome.error is None
    assert [(f.id, f.component_path) for f in outcome.findings] == [
        ("GHSA-j8r2-6x86-q33q", f"{PIP_DIST}/METADATA")
    ]
    owned = next(c for c in report.components if c.owner)
    assert not detector.could_match(owned, report.os)
    assert detector.could_match(
        next(c for c in report.components if c.type == "pypi" and not c.owner), report.os
    )

    # the owned component stays in every SBOM, with its owner
    assert {(c.path, c.owner) for c in report.components if c.type == "pypi"} == {
        (f"{DEB_EGG}/PKG-INFO", "deb:python3-requests"),
        (f"{PIP_DIST}/METADATA", None),
    }
    doc = report_to_builtins(report, stable=True)
    assert {(c["path"], c["owner"]) for c in doc["components"] if c["type"] == "pypi"} == {
        (f"{DEB_EGG}/PKG-INFO", "deb:python3-requests"),
        (f"{PIP_DIST}/METADATA", None),
    }
    bom = json.loads(render_cyclonedx(report))
    props: dict[str, dict[str, str]] = {}
    for c in bom["components"]:
        named = {p["name"]: p["value"] for p in c.get("properties", [])}
        props[f"{c['name']}@{named.get('imagewarden:path')}"] = named
    assert props[f"requests@{DEB_EGG}/PKG-INFO"]["imagewarden:owner"] == "deb:python3-requests"
    assert "imagewarden:owner" not in props[f"requests@{PIP_DIST}/METADATA"]
    # the finding affects the pip-installed component, not the owned one of the same purl
    (vuln,) = bom["vulnerabilities"]
    (target,) = vuln["affects"]
    pip_ref = next(
        c["bom-ref"]
        for c in bom["components"]
        if {"name": "imagewarden:path", "value": f"{PIP_DIST}/METADATA"} in c.get("properties", [])
    )
    assert target["ref"] == pip_ref
    spdx = json.loads(render_spdx(report))
    by_id = {p["SPDXID"]: p for p in spdx["packages"]}
    owned_pkg = next(p for p in spdx["packages"] if p.get("comment", "").startswith("installed"))
    assert owned_pkg["comment"] == "installed by the OS package deb:python3-requests"
    contains = [
        (by_id[r["spdxElementId"]]["name"], by_id[r["relatedSpdxElement"]]["name"])
        for r in spdx["relationships"]
        if r["relationshipType"] == "CONTAINS" and r["relatedSpdxElement"] == owned_pkg["SPDXID"]
    ]
    assert sorted(contains) == sorted(
        [("python3-requests", "requests"), (next(iter(by_id.values()))["name"], "requests")]
    )


def test_detector_skips_owned_components_of_every_language_type(
    detector: VulnerabilityDetector,
) -> None:
    from imagewarden.scan.model import ComponentType, Digest, ImageContents

    pip = Component(
        ComponentType.PYPI, "requests", "2.28.1", "a/METADATA", "pkg:pypi/requests@2.28.1", "t"
    )
    owned = Component(
        ComponentType.PYPI,
        "requests",
        "2.28.1",
        "b/PKG-INFO",
        "pkg:pypi/requests@2.28.1",
        "t",
        owner="rpm:python3-requests",
    )
    image = ImageContents(Digest("sha256:" + "0" * 64), None, (owned, pip))
    found = detector.detect(image).findings
    assert [f.component_path for f in found] == ["a/METADATA"]


RPM_SPEC = """\
Name: python3-iwreq
Version: 2.25.1
Release: 7.el9
Summary: requests as Red Hat ships it
License: ASL 2.0
BuildArch: noarch

%description
test

%install
mkdir -p %{buildroot}/usr/lib/python3.9/site-packages/requests-2.25.1-py3.9.egg-info
printf 'Metadata-Version: 2.1\\nName: requests\\nVersion: 2.25.1\\n' \\
  > %{buildroot}/usr/lib/python3.9/site-packages/requests-2.25.1-py3.9.egg-info/PKG-INFO
mkdir -p %{buildroot}/usr/lib/python3.9/site-packages/requests
touch %{buildroot}/usr/lib/python3.9/site-packages/requests/__init__.py
mkdir -p %{buildroot}/usr/bin
touch %{buildroot}/usr/bin/iwreq

%files
/usr/lib/python3.9/site-packages/requests-2.25.1-py3.9.egg-info
/usr/lib/python3.9/site-packages/requests
/usr/bin/iwreq
"""


@pytest.mark.slow
def test_rpm_file_lists_written_by_rpm(tmp_path: Path) -> None:
    if shutil.which("rpmbuild") is None or shutil.which("rpm") is None:
        pytest.skip("apt-get install rpm")
    spec = tmp_path / "iwreq.spec"
    spec.write_text(RPM_SPEC)
    top = tmp_path / "top"
    subprocess.run(
        ["rpmbuild", "-bb", "--define", f"_topdir {top}", str(spec)],
        check=True,
        capture_output=True,
    )
    (rpm_file,) = (top / "RPMS").rglob("*.rpm")
    root = tmp_path / "root"
    dbpath = ["--root", str(root), "--dbpath", "/var/lib/rpm"]
    subprocess.run(["rpm", "--initdb", *dbpath], check=True, capture_output=True)
    subprocess.run(["rpm", "-i", *dbpath, "--nodeps", "--justdb", str(rpm_file)], check=True)
    listed = subprocess.run(
        ["rpm", "-ql", *dbpath, "python3-iwreq"], check=True, capture_output=True, text=True
    ).stdout.split()
    db = (root / "var/lib/rpm/rpmdb.sqlite").read_bytes()

    facts = RpmAnalyzer().analyze(_files({"var/lib/rpm/rpmdb.sqlite": db}))
    assert facts.unknowns == ()
    # rpm's own file list, filtered the documented way, is what the analyzer keeps
    want = tuple(sorted(p.lstrip("/") for p in listed if language_relevant(p.lstrip("/"))))
    assert want == (
        "usr/bin/iwreq",
        "usr/lib/python3.9/site-packages/requests-2.25.1-py3.9.egg-info",
        "usr/lib/python3.9/site-packages/requests-2.25.1-py3.9.egg-info/PKG-INFO",
    )
    assert facts.owned_files == (
        FileOwnership("var/lib/rpm/rpmdb.sqlite", "rpm:python3-iwreq", want),
    )

    egg = "usr/lib/python3.9/site-packages/requests-2.25.1-py3.9.egg-info/PKG-INFO"
    report = _scan(
        tmp_path,
        [
            {
                "etc/os-release": 'ID="rocky"\nVERSION_ID="9.3"\nPRETTY_NAME="Rocky Linux 9.3"\n',
                "var/lib/rpm/rpmdb.sqlite": db,
                egg: "Metadata-Version: 2.1\nName: requests\nVersion: 2.25.1\n",
                "usr/local/lib/python3.9/site-packages/requests-2.25.1.dist-info/METADATA": (
                    "Metadata-Version: 2.1\nName: requests\nVersion: 2.25.1\n"
                ),
            }
        ],
    )
    assert _pypi(report) == {
        egg: "rpm:python3-iwreq",
        "usr/local/lib/python3.9/site-packages/requests-2.25.1.dist-info/METADATA": None,
    }
