"""Ruby gems from installed gem specifications (``specifications/*.gemspec``).

RubyGems writes one Ruby file per installed gem, under ``<gem dir>/specifications/`` (default
gems under ``specifications/default/``).  It is read as text, never evaluated:

* the block variable of ``Gem::Specification.new do |s|`` (any name), then the first
  ``s.name = "..."`` and ``s.version = "..."`` assignments (single or double quotes, an
  optional ``.freeze``, ``Gem::Version.new("...")``);
* ``Gem::Specification.new("name", "version")`` arguments;
* else the ``# stub: name version platform require_paths`` comment RubyGems puts on top.

A file none of these yields a name and version for is an ``Unknown``.  Purl
``pkg:gem/name@version``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import ClassVar

from packageurl import PackageURL

from imagewarden.scan.analyzer.base import FileInfo, LayerFile
from imagewarden.scan.model import Component, ComponentType, LayerFacts, Unknown

__all__ = ["GemAnalyzer", "parse_gemspec"]

_NEW = re.compile(
    r"Gem::Specification\.new\s*"
    r"(?:\(?\s*(?P<q1>[\"'])(?P<name>[^\"'\n]+)(?P=q1)\s*,\s*"
    r"(?P<q2>[\"'])(?P<version>[^\"'\n]+)(?P=q2)\s*\)?)?"
    r"\s*(?:do|\{)\s*\|\s*(?P<var>[A-Za-z_]\w*)\s*\|"
)
_STRING = r"(?:Gem::Version\.new\(\s*)?(?P<q>[\"'])(?P<value>[^\"'\n]*)(?P=q)"
_STUB = re.compile(r"^#\s*stub:\s*(?P<name>\S+)\s+(?P<version>\S+)", re.MULTILINE)
_VALID_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")
_VALID_VERSION = re.compile(r"^[0-9][0-9A-Za-z.\-+]*$")
_MAX_BYTES = 4 * 1024 * 1024


def _assignment(text: str, var: str, attr: str) -> str | None:
    pattern = rf"^\s*{re.escape(var)}\.{attr}\s*=\s*{_STRING}"
    m = re.search(pattern, text, re.MULTILINE)
    return m.group("value").strip() if m else None


def parse_gemspec(text: str) -> tuple[str, str] | None:
    """(name, version) of a gemspec's source text, or None if it does not state them."""
    name = version = None
    if m := _NEW.search(text):
        name, version = m.group("name"), m.group("version")
        var = m.group("var")
        name = _assignment(text, var, "name") or name
        version = _assignment(text, var, "version") or version
    if not (name and version) and (stub := _STUB.search(text)):
        name = name or stub.group("name")
        version = version or stub.group("version")
    if not name or not version:
        return None
    if not _VALID_NAME.match(name) or not _VALID_VERSION.match(version):
        return None
    return name, version


class GemAnalyzer:
    name: ClassVar[str] = "gem"
    version: ClassVar[int] = 1

    def wants(self, path: PurePosixPath, info: FileInfo) -> bool:
        if path.suffix != ".gemspec":
            return False
        parent = path.parent
        if parent.name == "default":
            parent = parent.parent
        return parent.name == "specifications"

    def analyze(self, files: Mapping[PurePosixPath, LayerFile]) -> LayerFacts:
        components: list[Component] = []
        unknowns: list[Unknown] = []
        for p, f in sorted(files.items()):
            path = str(p)
            found = parse_gemspec(f.content[:_MAX_BYTES].decode("utf-8", "replace"))
            if found is None:
                unknowns.append(Unknown(path, self.name, "gemspec states no usable name/version"))
                continue
            name, version = found
            components.append(
                Component(
                    type=ComponentType.GEM,
                    name=name,
                    version=version,
                    path=path,
                    purl=PackageURL(type="gem", name=name, version=version).to_string(),
                    analyzer=self.name,
                )
            )
        return LayerFacts(components=tuple(sorted(components)), unknowns=tuple(sorted(unknowns)))
