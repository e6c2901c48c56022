"""OS detection from release files, and TCSS OsName formatting."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from imagewarden.scan.analyzer.base import FileInfo, LayerFile
from imagewarden.scan.analyzer.os_release import OsReleaseAnalyzer, os_name, parse_os_release

A = OsReleaseAnalyzer()


def _run(files: dict[str, str]):  # type: ignore[no-untyped-def]
    given = {
        PurePosixPath(p): LayerFile(PurePosixPath(p), len(t.encode()), 0o644, t.encode())
        for p, t in files.items()
    }
    assert all(A.wants(p, FileInfo(p, f.size, f.mode)) for p, f in given.items())
    return A.analyze(given)


@pytest.mark.parametrize(
    ("path", "text", "name"),
    [
        ("etc/os-release", 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.18.4\n', "alpine:v3.18"),
        (
            "etc/os-release",
            'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"',
            "debian:12",
        ),
        (
            "usr/lib/os-release",
            'PRETTY_NAME="Distroless"\nID=debian\nVERSION_ID="12"\n',
            "debian:12",
        ),
        ("etc/os-release", 'ID=ubuntu\nID_LIKE=debian\nVERSION_ID="22.04"\n', "ubuntu:22.04"),
        ("etc/os-release", 'ID="centos"\nVERSION_ID="7"\n', "centos:7"),
        ("etc/os-release", 'ID="rhel"\nVERSION_ID="9.2"\n', "rhel:9"),
        ("etc/os-release", 'ID="rocky"\nVERSION_ID="9.3"\n', "rocky:9"),
        ("etc/os-release", 'ID="amzn"\nVERSION_ID="2"\n', "amzn:2"),
        ("etc/os-release", 'ID="amzn"\nVERSION_ID="2023"\n', "amzn:2023"),
        ("etc/os-release", "ID=debian\nVERSION_CODENAME=trixie\n", "debian:trixie"),
        ("etc/alpine-release", "3.19.1\n", "alpine:v3.19"),
        ("etc/debian_version", "12.5\n", "debian:12"),
        ("etc/redhat-release", "CentOS Linux release 7.9.2009 (Core)\n", "centos:7"),
        ("etc/centos-release", "CentOS Linux release 7.9.2009 (Core)\n", "centos:7"),
        ("etc/redhat-release", "Red Hat Enterprise Linux release 9.2 (Plow)\n", "rhel:9"),
        ("etc/redhat-release", "Rocky Linux release 9.3 (Blue Onyx)\n", "rocky:9"),
        ("etc/system-release", "Amazon Linux release 2 (Karoo)\n", "amzn:2"),
        ("etc/lsb-release", "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=20.04\n", "ubuntu:20.04"),
    ],
)
def test_os_names(path: str, text: str, name: str) -> None:
    facts = _run({path: text})
    assert facts.os is not None
    assert facts.os.name == name
    assert facts.os.path == path


def test_best_file_of_the_layer_wins() -> None:
    facts = _run(
        {
            "etc/debian_version": "12.5\n",
            "usr/lib/os-release": "ID=debian\nVERSION_ID=12\n",
            "etc/os-release": 'ID=ubuntu\nVERSION_ID="22.04"\n',
        }
    )
    assert facts.os is not None and facts.os.name == "ubuntu:22.04"
    assert [o.path for o in facts.os_files] == [
        "etc/debian_version",
        "etc/os-release",
        "usr/lib/os-release",
    ]


def test_unparseable_file_is_unknown() -> None:
    facts = _run({"etc/os-release": "# nothing here\n"})
    assert facts.os is None
    assert [(u.path, u.analyzer) for u in facts.unknowns] == [("etc/os-release", "os-release")]


def test_wants_only_release_files() -> None:
    info = FileInfo(PurePosixPath("etc/passwd"), 10, 0o644)
    assert not A.wants(PurePosixPath("etc/passwd"), info)
    big = FileInfo(PurePosixPath("etc/os-release"), 10**7, 0o644)
    assert not A.wants(PurePosixPath("etc/os-release"), big)


def test_parse_os_release_quoting() -> None:
    fields = parse_os_release('A=\'single quoted\'\nB="dq \\"x\\""\n C = ignored\n#D=no\nE=plain\n')
    assert fields["A"] == "single quoted"
    assert fields["B"] == 'dq "x"'
    assert fields["E"] == "plain"
    assert "D" not in fields


def test_os_name_major_only_families() -> None:
    assert os_name("centos", "8.5.2111") == "centos:8"
    assert os_name("ubuntu", "24.04") == "ubuntu:24.04"
    assert os_name("alpine", "3.20") == "alpine:v3.20"
