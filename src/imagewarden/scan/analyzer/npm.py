"""npm packages: installed ``node_modules`` trees and ``package-lock.json`` files.

* ``.../node_modules/<name>/package.json`` and ``.../node_modules/@scope/<name>/package.json``
  (package roots only, nested ``node_modules`` included): ``name`` and ``version``.  A
  package without a version (or a name) is skipped; a file that is not a JSON object is an
  ``Unknown``.
* ``package-lock.json`` outside ``node_modules`` (an application root):

  - lockfileVersion 2 and 3: the ``packages`` map, keyed by install path
    (``node_modules/a/node_modules/@s/b``); the name is the part after the last
    ``node_modules/`` unless the entry names itself (aliases).  The root entry ``""``
    (the application) and ``link`` entries (workspaces) are not packages of their own;
  - lockfileVersion 1 (and a v2 file without ``packages``): the nested ``dependencies`` map.

  Entries marked ``dev`` are skipped (production images usually omit them; what is
  installed shows up through ``node_modules``).  Versions that are not registry versions
  (``file:``, ``git+https:``, tarball URLs) are skipped too.

Purl: ``pkg:npm/%40scope/name@version`` (scope as the namespace).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import PurePosixPath
from typing import Any, ClassVar

from packageurl import PackageURL

from imagewarden.scan.analyzer.base import FileInfo, LayerFile
from imagewarden.scan.model import Component, ComponentType, LayerFacts, Unknown

__all__ = ["NpmAnalyzer", "npm_purl"]

_MAX_DEPTH = 64  # nesting of lockfile v1 "dependencies"
_NAME = re.compile(r"^(?:@[^\s/@]+/)?[^\s/@][^\s/]*$")


class _LockError(ValueError):
    pass


def npm_purl(name: str, version: str) -> str:
    scope, _, base = name.rpartition("/")
    return PackageURL(type="npm", namespace=scope or None, name=base, version=version).to_string()


def _is_package_root(path: PurePosixPath) -> bool:
    parts = path.parts
    if len(parts) >= 3 and parts[-3] == "node_modules" and not parts[-2].startswith("@"):
        return True
    return len(parts) >= 4 and parts[-4] == "node_modules" and parts[-3].startswith("@")


def _registry_version(version: object) -> str | None:
    """``version`` if it is a registry version (not ``file:``, git or tarball URL), else None."""
    if isinstance(version, str) and version and ":" not in version and "/" not in version:
        return version
    return None


def _lock_v2(packages: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for key, entry in packages.items():
        if not key or not isinstance(entry, dict) or entry.get("link") or entry.get("dev"):
            continue
        if "node_modules/" not in key:
            continue  # a workspace folder, not an installed package
        name = entry.get("name") or key.rsplit("node_modules/", 1)[-1]
        version = _registry_version(entry.get("version"))
        if isinstance(name, str) and name and version:
            yield name, version


def _lock_v1(deps: Mapping[str, Any], depth: int = 0) -> Iterator[tuple[str, str]]:
    if depth > _MAX_DEPTH:
        raise _LockError(f"dependencies nested deeper than {_MAX_DEPTH}")
    for name, entry in deps.items():
        if not isinstance(entry, dict):
            raise _LockError(f"dependency {name!r} is not an object")
        version = _registry_version(entry.get("version"))
        if not entry.get("dev") and version:
            yield name, version
        nested = entry.get("dependencies")
        if isinstance(nested, dict):
            yield from _lock_v1(nested, depth + 1)


def parse_lock(doc: object) -> set[tuple[str, str]]:
    """(name, version) of every package a parsed package-lock.json lists."""
    if not isinstance(doc, dict):
        raise _LockError("not a JSON object")
    version = doc.get("lockfileVersion", 1)
    packages = doc.get("packages")
    if version in (2, 3) and isinstance(packages, dict):
        return set(_lock_v2(packages))
    if version in (1, 2) and isinstance(doc.get("dependencies", {}), dict):
        return set(_lock_v1(doc.get("dependencies", {})))
    raise _LockError(f"unsupported lockfileVersion {version!r}")


class NpmAnalyzer:
    name: ClassVar[str] = "npm"
    version: ClassVar[int] = 1

    def wants(self, path: PurePosixPath, info: FileInfo) -> bool:
        if path.name == "package.json":
            return _is_package_root(path)
        return path.name == "package-lock.json" and "node_modules" not in path.parts

    def analyze(self, files: Mapping[PurePosixPath, LayerFile]) -> LayerFacts:
        components: list[Component] = []
        unknowns: list[Unknown] = []
        for p, f in sorted(files.items()):
            path = str(p)
            try:
                doc = json.loads(f.content)
            except (ValueError, RecursionError) as exc:
                unknowns.append(Unknown(path, self.name, f"invalid JSON: {exc}"[:300]))
                continue
            if p.name == "package-lock.json":
                try:
                    found = parse_lock(doc)
                except _LockError as exc:
                    unknowns.append(Unknown(path, self.name, str(exc)))
                    continue
            elif not isinstance(doc, dict):
                unknowns.append(Unknown(path, self.name, "package.json is not a JSON object"))
                continue
            else:
                name, version = doc.get("name"), doc.get("version")
                if not (isinstance(name, str) and name and isinstance(version, str) and version):
                    continue
                found = {(name, version)}
            bad = sorted(n for n, _ in found if not _NAME.match(n))
            if bad:
                unknowns.append(Unknown(path, self.name, f"invalid package name {bad[0][:100]!r}"))
            components.extend(
                Component(
                    type=ComponentType.NPM,
                    name=name,
                    version=version,
                    path=path,
                    purl=npm_purl(name, version),
                    analyzer=self.name,
                )
                for name, version in found
                if _NAME.match(name)
            )
        return LayerFacts(components=tuple(sorted(components)), unknowns=tuple(sorted(unknowns)))
