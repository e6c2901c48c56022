"""dpkg status database and distroless status.d files."""

from __future__ import annotations

from pathlib import PurePosixPath

from imagewarden.scan.analyzer.base import FileInfo, LayerFile
from imagewarden.scan.analyzer.dpkg import DpkgAnalyzer, parse_deb822
from imagewarden.scan.model import ComponentType
from tests.scan.conftest import STATUS

A = DpkgAnalyzer()


def _files(files: dict[str, str]) -> dict[PurePosixPath, LayerFile]:
    return {
        PurePosixPath(p): LayerFile(PurePosixPath(p), len(t.encode()), 0o644, t.encode())
        for p, t in files.items()
    }


def test_installed_packages_only() -> None:
    facts = A.analyze(_files({"var/lib/dpkg/status": STATUS}))
    got = [(c.name, c.version, c.source_name, c.source_version) for c in facts.components]
    assert got == [
        ("libc6", "2.36-9+deb12u4", "glibc", "2.36-9+deb12u4"),
        ("zlib1g", "1:1.2.13.dfsg-1+b1", "zlib", "1:1.2.13.dfsg-1"),
    ]
    libc = facts.components[0]
    assert libc.type is ComponentType.DEB
    assert libc.path == "var/lib/dpkg/status"
    assert libc.analyzer == "dpkg"
    assert libc.purl == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64"


def test_hold_is_installed_half_installed_is_not() -> None:
    text = (
        "Package: held\nStatus: hold ok installed\nVersion: 1\n\n"
        "Package: half\nStatus: install reinstreq half-installed\nVersion: 2\n\n"
        "Package: purged\nStatus: purge ok not-installed\nVersion: 3\n"
    )
    facts = A.analyze(_files({"var/lib/dpkg/status": text}))
    assert [c.name for c in facts.components] == ["held"]


def test_distroless_status_d() -> None:
    files = {
        "var/lib/dpkg/status.d/base": "Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n",
        "var/lib/dpkg/status.d/tzdata": "Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n",
    }
    for p in files:
        assert A.wants(PurePosixPath(p), FileInfo(PurePosixPath(p), 1, 0o644))
    md5 = PurePosixPath("var/lib/dpkg/status.d/base.md5sums")
    assert not A.wants(md5, FileInfo(md5, 1, 0o644))
    facts = A.analyze(_files(files))
    assert {(c.name, c.path) for c in facts.components} == {
        ("base-files", "var/lib/dpkg/status.d/base"),
        ("tzdata", "var/lib/dpkg/status.d/tzdata"),
    }


def test_paragraph_without_version_is_unknown() -> None:
    facts = A.analyze(
        _files({"var/lib/dpkg/status": "Package: broken\nStatus: install ok installed\n"})
    )
    assert facts.components == ()
    assert len(facts.unknowns) == 1 and "line 1" in facts.unknowns[0].reason


def test_deb822_continuation_and_blank_runs() -> None:
    text = "\n\nA: 1\nB: two\n three\n .\n\n\n\nA: 2\n"
    assert [f for _, f in parse_deb822(text)] == [{"A": "1", "B": "two\nthree\n."}, {"A": "2"}]
