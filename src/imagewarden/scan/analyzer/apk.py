"""Alpine packages from the apk database ``lib/apk/db/installed``.

One paragraph per package, one ``X:value`` line per field: ``P`` name, ``V`` version,
``A`` architecture, ``o`` origin (the source package), ``L`` licence.  The purl distro
qualifier is added by ``apply`` once the image's OS is known.

The files of each package follow its fields: an ``F:dir`` line (root-relative), then one
``R:name`` line per file of that directory (``a:``/``Z:`` lines about the file in between).
Their language-relevant part becomes a ``FileOwnership`` keyed by the database file, so
language components installed by apk get an ``owner``
(``imagewarden.scan.analyzer.ownership``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import ClassVar

from packageurl import PackageURL

from imagewarden.scan.analyzer.base import FileInfo, LayerFile
from imagewarden.scan.analyzer.ownership import file_ownership
from imagewarden.scan.model import Component, ComponentType, FileOwnership, LayerFacts, Unknown

INSTALLED = "lib/apk/db/installed"


def parse_apk_installed(text: str) -> list[tuple[int, dict[str, str]]]:
    """Paragraphs of the installed database as (first line number, {field letter: value})."""
    out: list[tuple[int, dict[str, str]]] = []
    fields: dict[str, str] = {}
    start = 1
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            if fields:
                out.append((start, fields))
            fields = {}
            start = lineno + 1
            continue
        key, sep, value = line.partition(":")
        if sep and len(key) == 1 and key not in fields:
            fields[key] = value
    if fields:
        out.append((start, fields))
    return out


def parse_apk_files(text: str) -> dict[str, list[str]]:
    """{package name: its directories (``F:``) and files (``R:`` joined to the last ``F:``)}."""
    out: dict[str, list[str]] = {}
    package = ""
    directory = ""
    for line in text.splitlines():
        if not line.strip():
            package = directory = ""
            continue
        key, sep, value = line.partition(":")
        if not sep or len(key) != 1:
            continue
        if key == "P" and not package:
            package = value
            out.setdefault(package, [])
        elif key == "F" and package:
            directory = value
            out[package].append(directory)
        elif key == "R" and package:
            out[package].append(f"{directory}/{value}" if directory else value)
    return out


class ApkAnalyzer:
    name: ClassVar[str] = "apk"
    version: ClassVar[int] = 2  # 2: F:/R: file ownership

    def wants(self, path: PurePosixPath, info: FileInfo) -> bool:
        return str(path) == INSTALLED

    def analyze(self, files: Mapping[PurePosixPath, LayerFile]) -> LayerFacts:
        components: list[Component] = []
        unknowns: list[Unknown] = []
        owned: list[FileOwnership] = []
        for p, f in sorted(files.items()):
            path = str(p)
            text = f.content.decode("utf-8", "replace")
            for package, paths in parse_apk_files(text).items():
                if ownership := file_ownership(path, ComponentType.APK, package, paths):
                    owned.append(ownership)
            for lineno, fields in parse_apk_installed(text):
                name, version = fields.get("P", ""), fields.get("V", "")
                if not name or not version:
                    unknowns.append(
                        Unknown(path, self.name, f"paragraph at line {lineno}: no P or no V")
                    )
                    continue
                arch = fields.get("A") or None
                purl = PackageURL(
                    type="apk",
                    namespace="alpine",
                    name=name,
                    version=version,
                    qualifiers={"arch": arch} if arch else {},
                ).to_string()
                components.append(
                    Component(
                        type=ComponentType.APK,
                        name=name,
                        version=version,
                        path=path,
                        purl=purl,
                        analyzer=self.name,
                        source_name=fields.get("o") or name,
                        source_version=version,
                    )
                )
        return LayerFacts(
            components=tuple(components),
            unknowns=tuple(sorted(unknowns)),
            owned_files=tuple(sorted(owned)),
        )
