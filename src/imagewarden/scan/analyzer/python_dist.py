"""Installed Python distributions, from their core metadata.

Read:

* ``<name>-<version>.dist-info/METADATA`` anywhere (only installers write ``.dist-info``
  directories, and ``pip install --target DIR`` puts them outside any site-packages);
* ``<name>.egg-info/PKG-INFO`` and the single-file form ``<name>.egg-info``, only below a
  ``site-packages`` or ``dist-packages`` directory (source checkouts carry egg-info too).

Core metadata is a block of RFC 822 headers (continuation lines start with whitespace) that
ends at the first empty line; ``Name`` and ``Version`` are required, and a file without them
is an ``Unknown``.  The component keeps the distribution's own spelling of its name; the purl
``pkg:pypi/<name>@<version>`` uses the PEP 503 normalised name.  RECORD is not needed for
name and version and is not read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import ClassVar

from packageurl import PackageURL

from imagewarden.scan.analyzer.base import FileInfo, LayerFile
from imagewarden.scan.model import Component, ComponentType, LayerFacts, Unknown

__all__ = ["PythonDistAnalyzer", "normalise_name", "parse_core_metadata"]

_SITE_DIRS = frozenset({"site-packages", "dist-packages"})
_PEP503 = re.compile(r"[-_.]+")
_MAX_HEADER_BYTES = 1024 * 1024


def normalise_name(name: str) -> str:
    """PEP 503: lower case, runs of ``-``, ``_`` and ``.`` become one ``-``."""
    return _PEP503.sub("-", name).lower()


def parse_core_metadata(text: str) -> dict[str, str]:
    """The header fields of a METADATA/PKG-INFO file (first occurrence of each wins)."""
    out: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if not line.strip():
            break
        if line[0] in " \t":
            if key and key in out:
                out[key] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep:
            key = ""
            continue
        key = name.strip()
        if key in out:
            key = ""  # repeated fields (Classifier, ...) are not needed
            continue
        out[key] = value.strip()
    return out


def _under_site(path: PurePosixPath) -> bool:
    return any(part in _SITE_DIRS for part in path.parts[:-1])


class PythonDistAnalyzer:
    name: ClassVar[str] = "python-dist"
    version: ClassVar[int] = 1

    def wants(self, path: PurePosixPath, info: FileInfo) -> bool:
        parent = path.parent.name
        if path.name == "METADATA":
            return parent.endswith(".dist-info")
        if path.name == "PKG-INFO":
            return parent.endswith(".egg-info") and _under_site(path)
        return path.suffix == ".egg-info" and _under_site(path)

    def analyze(self, files: Mapping[PurePosixPath, LayerFile]) -> LayerFacts:
        components: list[Component] = []
        unknowns: list[Unknown] = []
        for p, f in sorted(files.items()):
            path = str(p)
            head = f.content[:_MAX_HEADER_BYTES]
            try:
                text = head.decode("utf-8")
            except UnicodeDecodeError:
                text = head.decode("latin-1")  # old PKG-INFO files were not always UTF-8
            fields = parse_core_metadata(text)
            name, version = fields.get("Name", ""), fields.get("Version", "")
            if not name or not version:
                unknowns.append(Unknown(path, self.name, "core metadata without Name or Version"))
                continue
            purl = PackageURL(type="pypi", name=normalise_name(name), version=version)
            components.append(
                Component(
                    type=ComponentType.PYPI,
                    name=name,
                    version=version,
                    path=path,
                    purl=purl.to_string(),
                    analyzer=self.name,
                )
            )
        return LayerFacts(components=tuple(sorted(components)), unknowns=tuple(sorted(unknowns)))
