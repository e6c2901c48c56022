"""Debian packages from the dpkg database.

Reads ``var/lib/dpkg/status`` and the distroless per-package files
``var/lib/dpkg/status.d/<name>`` (not their ``.md5sums`` siblings).  Only installed
packages count: where a ``Status`` field exists its third word must be ``installed``
(distroless files have no Status and list installed packages only).  ``Source: name
(version)`` gives the source package; without it the source is the package itself.
The purl distro qualifier is added by ``apply`` once the image's OS is known.

``var/lib/dpkg/info/<package>[:<arch>].list`` holds the files each package installed, one
absolute path a line: its language-relevant part becomes a ``FileOwnership`` keyed by the
``.list`` file, so language components installed by dpkg get an ``owner``
(``imagewarden.scan.analyzer.ownership``).  Distroless ``status.d`` images have no lists.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import PurePosixPath
from typing import ClassVar

from packageurl import PackageURL

from imagewarden.scan.analyzer.base import FileInfo, LayerFile
from imagewarden.scan.analyzer.ownership import file_ownership
from imagewarden.scan.model import Component, ComponentType, FileOwnership, LayerFacts, Unknown

STATUS = "var/lib/dpkg/status"
STATUS_D = "var/lib/dpkg/status.d"
INFO = "var/lib/dpkg/info"
_SOURCE = re.compile(r"^(?P<name>\S+)(?:\s+\((?P<version>[^)]+)\))?\s*$")


def parse_deb822(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, fields) for each paragraph; continuation lines are folded in."""
    fields: dict[str, str] = {}
    start = 1
    key = ""
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            if fields:
                yield start, fields
            fields, key = {}, ""
            start = lineno + 1
            continue
        if line[0] in " \t":
            if key:
                fields[key] += "\n" + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep:
            continue
        key = name.strip()
        fields[key] = value.strip()
    if fields:
        yield start, fields


def deb_purl(name: str, version: str, arch: str | None, namespace: str = "debian") -> str:
    qualifiers = {"arch": arch} if arch else {}
    return PackageURL(
        type="deb", namespace=namespace, name=name, version=version, qualifiers=qualifiers
    ).to_string()


class DpkgAnalyzer:
    name: ClassVar[str] = "dpkg"
    version: ClassVar[int] = 2  # 2: info/*.list file ownership

    def wants(self, path: PurePosixPath, info: FileInfo) -> bool:
        text = str(path)
        if text == STATUS:
            return True
        parent = str(path.parent)
        if parent == INFO:
            return path.suffix == ".list"
        return parent == STATUS_D and not path.name.endswith(".md5sums")

    def analyze(self, files: Mapping[PurePosixPath, LayerFile]) -> LayerFacts:
        components: list[Component] = []
        unknowns: list[Unknown] = []
        owned: list[FileOwnership] = []
        for p, f in sorted(files.items()):
            path = str(p)
            try:
                text = f.content.decode("utf-8")
            except UnicodeDecodeError:
                text = f.content.decode("latin-1")
            if str(p.parent) == INFO:
                package = p.stem.split(":", 1)[0]  # "libc6:amd64.list" → libc6
                if ownership := file_ownership(path, ComponentType.DEB, package, text.splitlines()):
                    owned.append(ownership)
                continue
            for lineno, fields in parse_deb822(text):
                comp = self._component(path, fields)
                if isinstance(comp, str):
                    unknowns.append(
                        Unknown(f"{path}", self.name, f"paragraph at line {lineno}: {comp}")
                    )
                elif comp is not None:
                    components.append(comp)
        return LayerFacts(
            components=tuple(components),
            unknowns=tuple(sorted(unknowns)),
            owned_files=tuple(sorted(owned)),
        )

    def _component(self, path: str, fields: Mapping[str, str]) -> Component | str | None:
        name = fields.get("Package", "")
        version = fields.get("Version", "")
        status = fields.get("Status")
        if status is not None:
            words = status.split()
            if len(words) != 3 or words[2] != "installed":
                return None
        if not name or not version:
            return "no Package or no Version"
        arch = fields.get("Architecture") or None
        source_name, source_version = name, version
        if src := fields.get("Source"):
            m = _SOURCE.match(src)
            if m:
                source_name = m["name"]
                source_version = m["version"] or version
        return Component(
            type=ComponentType.DEB,
            name=name,
            version=version,
            path=path,
            purl=deb_purl(name, version, arch),
            analyzer=self.name,
            source_name=source_name,
            source_version=source_version,
        )
