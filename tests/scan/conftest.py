"""Helpers for the scanner tests: in-memory layers and a counting analyzer wrapper."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import ClassVar

import pytest

from imagewarden.scan.analyzer.base import Analyzer, FileInfo, LayerFile
from imagewarden.scan.model import Digest, LayerFacts
from imagewarden.scan.source.base import Layer
from tests.testdata.images.build import BuiltLayer


def as_layer(built: BuiltLayer) -> Layer:
    """A ``Layer`` reading ``built``'s blob from memory."""
    blob = built.blob
    return Layer(
        Digest(built.digest),
        Digest(built.diff_id),
        built.media_type,
        len(blob),
        open=lambda: io.BytesIO(blob),
    )


class Counting:
    """Wraps an analyzer and counts ``analyze`` calls (same name and version)."""

    def __init__(self, inner: Analyzer) -> None:
        self.inner = inner
        self.name = inner.name  # type: ignore[misc]
        self.version = inner.version  # type: ignore[misc]
        self.calls = 0
        self.paths: list[str] = []

    def wants(self, path: PurePosixPath, info: FileInfo) -> bool:
        return self.inner.wants(path, info)

    def analyze(self, files: Mapping[PurePosixPath, LayerFile]) -> LayerFacts:
        self.calls += 1
        self.paths.extend(str(p) for p in files)
        return self.inner.analyze(files)


class Exploding:
    """An analyzer that wants ``*.boom`` files and always fails."""

    name: ClassVar[str] = "exploding"
    version: ClassVar[int] = 1

    def wants(self, path: PurePosixPath, info: FileInfo) -> bool:
        return path.suffix == ".boom"

    def analyze(self, files: Mapping[PurePosixPath, LayerFile]) -> LayerFacts:
        raise RuntimeError("kaboom")


class Recording:
    """An analyzer that wants every file under ``want/`` and records what it got."""

    name: ClassVar[str] = "recording"
    version: ClassVar[int] = 1

    def __init__(self) -> None:
        self.got: dict[str, bytes] = {}

    def wants(self, path: PurePosixPath, info: FileInfo) -> bool:
        return str(path).startswith("want/")

    def analyze(self, files: Mapping[PurePosixPath, LayerFile]) -> LayerFacts:
        self.got.update({str(p): f.content for p, f in files.items()})
        return LayerFacts()


DEBIAN_OS_RELEASE = (
    'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
    'VERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n'
)

STATUS = """\
Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 12986
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Depends: libgcc-s1
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.

Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib (1:1.2.13.dfsg-1)
Version: 1:1.2.13.dfsg-1+b1
Description: compression library - runtime

Package: oldpkg
Status: deinstall ok config-files
Architecture: amd64
Version: 0.9-1
Description: removed, config files left
"""


@pytest.fixture
def debian_base() -> dict[str, object]:
    from tests.testdata.images.build import Dir, Symlink

    return {
        "etc": Dir(),
        "etc/os-release": Symlink("../usr/lib/os-release"),
        "etc/debian_version": "12.5\n",
        "usr": Dir(),
        "usr/lib": Dir(),
        "usr/lib/os-release": DEBIAN_OS_RELEASE,
        "var/lib/dpkg/status": STATUS,
    }
