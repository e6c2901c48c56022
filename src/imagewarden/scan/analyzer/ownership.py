"""Which files the OS package manager installed: the facts behind ``Component.owner``.

Debian's ``python3-requests`` puts ``requests-2.28.1.egg-info`` under
``/usr/lib/python3/dist-packages``; Alpine, Red Hat and Debian ship jars, gems, node
modules and Go binaries the same way.  The language analyzers report those as PyPI, Maven,
... components, but the distribution patches them without changing the language-level
version, so matching them against the language ecosystem's advisories reports
vulnerabilities the distribution already fixed.  They stay in the SBOM (they are in the
image), marked as owned by their OS package, and are matched only through it.

The package databases (dpkg ``info/*.list``, apk ``F:``/``R:`` lines, rpm
BASENAMES/DIRNAMES/DIRINDEXES) list every file of every package: tens of thousands on a
small base image.  ``language_relevant`` keeps only the paths a language analyzer could
report, so the layer cache stays small:

* Python: ``*.dist-info`` and ``*.egg-info`` directories or files, and the ``METADATA`` /
  ``PKG-INFO`` inside them;
* npm: ``package.json`` and ``package-lock.json``;
* Ruby: ``*.gemspec``;
* Java: the archive suffixes the java analyzer opens (``.jar``, ``.war``, ``.ear``, ...);
* Go: files in a ``bin``, ``sbin`` or ``libexec`` directory, or in a Go toolchain's
  ``pkg/tool`` directory.  The database lists do not say which files are executable (the
  Go analyzer looks at every executable file), so this is where OS packages put programs;
  a Go program a package installs elsewhere is still matched as a Go component.

The paths are stored as the database states them (root-relative); ``apply`` resolves them
through the image's symlinks (``/bin`` → ``usr/bin`` on merged-``/usr`` systems).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import PurePosixPath
from typing import cast

from imagewarden.scan.analyzer.base import Analyzer, FileInfo, LayerFile
from imagewarden.scan.analyzer.java_archive import ARCHIVE_SUFFIXES
from imagewarden.scan.model import ComponentType, FileOwnership, LayerFacts

__all__ = [
    "LANGUAGE_TYPES",
    "OwnedFilesRecorder",
    "file_ownership",
    "language_relevant",
    "normalise_path",
    "owner_ref",
]

#: component types whose components can be owned by an OS package
LANGUAGE_TYPES = frozenset(
    {
        ComponentType.PYPI,
        ComponentType.NPM,
        ComponentType.MAVEN,
        ComponentType.GOLANG,
        ComponentType.GEM,
    }
)
_PY_DIRS = (".dist-info", ".egg-info")
_PY_FILES = frozenset({"METADATA", "PKG-INFO"})
_NPM_FILES = frozenset({"package.json", "package-lock.json"})
_PROGRAM_DIRS = ("/bin/", "/sbin/", "/libexec/", "/pkg/tool/")


def owner_ref(kind: ComponentType, package: str) -> str:
    """``"deb:python3-requests"``: the value of ``Component.owner``."""
    return f"{kind.value}:{package}"


def normalise_path(path: str) -> str:
    """Root-relative, no ``./`` or leading ``/``, no trailing ``/``."""
    if "//" in path or "/./" in path or path.startswith("./") or path.endswith(("/", "/.")):
        return "/".join(p for p in path.split("/") if p not in ("", "."))
    return path.lstrip("/")


def language_relevant(path: str) -> bool:
    """Whether a language analyzer could report a component for ``path`` (see module doc).

    Plain string operations: an rpm database lists ~80,000 files on a CentOS 7 image."""
    parent, _, name = path.rpartition("/")
    if name.endswith(_PY_DIRS):
        return True
    if name in _PY_FILES:
        return parent.endswith(_PY_DIRS)
    if name in _NPM_FILES:
        return True
    dot = name.rfind(".")
    if dot > 0:
        suffix = name[dot:].lower()
        if suffix == ".gemspec" or suffix in ARCHIVE_SUFFIXES:
            return True
    if not parent:
        return False
    dirs = f"/{parent}/"
    return any(d in dirs for d in _PROGRAM_DIRS)


def file_ownership(
    db_path: str, kind: ComponentType, package: str, paths: Iterable[str]
) -> FileOwnership | None:
    """The language-relevant subset of ``paths`` as a ``FileOwnership``, or None if empty."""
    kept = sorted({q for q in map(normalise_path, paths) if q and language_relevant(q)})
    if not kept:
        return None
    return FileOwnership(db_path, owner_ref(kind, package), tuple(kept))


class _Recorded:
    """An analyzer (same name and version) whose ``owned_files`` are also kept aside."""

    def __init__(self, inner: Analyzer, sink: list[FileOwnership]) -> None:
        self.inner = inner
        self.name = inner.name
        self.version = inner.version
        self._sink = sink

    def wants(self, path: PurePosixPath, info: FileInfo) -> bool:
        return self.inner.wants(path, info)

    def analyze(self, files: Mapping[PurePosixPath, LayerFile]) -> LayerFacts:
        facts = self.inner.analyze(files)
        self._sink.extend(facts.owned_files)
        return facts


class OwnedFilesRecorder:
    """Carries the analyzers' ``owned_files`` into a layer's facts.

    The layer walker merges the analyzers' results field by field; one that predates
    ``LayerFacts.owned_files`` drops them.  ``scan_image`` walks with ``analyzers`` (the
    same names and versions, so cache keys do not change) and passes the walker's facts
    through ``attach``.  A walker that carries the field itself gives the same result: the
    two sets are merged.
    """

    def __init__(self, analyzers: Sequence[Analyzer]) -> None:
        self._owned: list[FileOwnership] = []
        # same name and version as the wrapped analyzer, as instance (not class) attributes
        self.analyzers: tuple[Analyzer, ...] = tuple(
            cast(Analyzer, _Recorded(a, self._owned)) for a in analyzers
        )

    def attach(self, facts: LayerFacts) -> LayerFacts:
        """``facts`` with every ownership recorded since the last call; resets the record."""
        owned = tuple(sorted(set(facts.owned_files) | set(self._owned)))
        self._owned.clear()
        return facts if owned == facts.owned_files else replace(facts, owned_files=owned)
