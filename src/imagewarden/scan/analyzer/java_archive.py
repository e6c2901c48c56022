"""Java libraries in ``.jar``/``.war``/``.ear`` archives (and Jenkins ``.jpi``/``.hpi``).

Each archive is a zip file.  What identifies a library, best first:

1. every ``META-INF/maven/<group>/<artifact>/pom.properties`` (``groupId``, ``artifactId``,
   ``version``): one component each, so shaded ("fat") jars report what they bundle;
2. else the main section of ``META-INF/MANIFEST.MF``: name from ``Bundle-SymbolicName``
   (without its ``;`` directives) or ``Implementation-Title``, version from
   ``Bundle-Version`` or ``Implementation-Version``, group from ``Implementation-Vendor-Id``.

An archive with neither is not reported.  Archives nested inside archives (``WEB-INF/lib``,
``BOOT-INF/lib``, ear modules) are opened in memory down to ``MAX_DEPTH`` levels and within
``MAX_NESTED_BYTES`` of nested content per top-level file; a component found in a nested
archive has the path ``outer.war!/WEB-INF/lib/x.jar`` (``apply`` keys it by the part before
the first ``!``).  A file that is not a readable zip, or a limit that is hit, becomes an
``Unknown`` on that (nested) path.

The component name is ``group:artifact`` (just the artifact when no group is known), the
purl ``pkg:maven/group/artifact@version``.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import ClassVar

from packageurl import PackageURL

from imagewarden.scan.analyzer.base import FileInfo, LayerFile
from imagewarden.scan.model import Component, ComponentType, LayerFacts, Unknown

__all__ = [
    "ARCHIVE_SUFFIXES",
    "MAX_DEPTH",
    "MAX_ENTRIES",
    "MAX_NESTED_BYTES",
    "JavaArchiveAnalyzer",
    "parse_manifest",
    "parse_properties",
]

ARCHIVE_SUFFIXES = frozenset({".jar", ".war", ".ear", ".jpi", ".hpi"})
MAX_DEPTH = 3
MAX_NESTED_BYTES = 256 * 1024 * 1024
MAX_ENTRIES = 200_000
_MAX_META = 1024 * 1024  # pom.properties, MANIFEST.MF
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    OSError,
    RuntimeError,  # encrypted entries
    NotImplementedError,  # unsupported compression
    ValueError,
)


class _LimitError(Exception):
    pass


def parse_properties(text: str) -> dict[str, str]:
    """A Java ``.properties`` file: ``key=value``, ``key: value`` or ``key value`` lines."""
    out: dict[str, str] = {}
    logical = ""
    for raw in text.splitlines():
        line = raw.strip() if not logical else raw.lstrip()
        if not logical and (not line or line[0] in "#!"):
            continue
        if line.endswith("\\") and not line.endswith("\\\\"):
            logical += line[:-1]
            continue
        logical += line
        cut = min((i for i in (logical.find("="), logical.find(":")) if i >= 0), default=-1)
        if cut < 0:
            key, _, value = logical.partition(" ")
        else:
            key, value = logical[:cut], logical[cut + 1 :]
        out.setdefault(key.strip(), value.strip())
        logical = ""
    return out


def parse_manifest(text: str) -> dict[str, str]:
    """The main section of a JAR manifest (continuation lines start with one space)."""
    out: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if not line:
            break  # end of the main section
        if line.startswith(" ") and key:
            out[key] += line[1:]
            continue
        name, sep, value = line.partition(":")
        if sep:
            key = name.strip()
            out[key] = value.strip()
    return out


@dataclass
class _Budget:
    nested_bytes: int
    unknowns: list[Unknown] = field(default_factory=list)


def _read(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    with zf.open(info) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise _LimitError(f"{info.filename} is larger than {limit} bytes")
    return data


def _purl(group: str, artifact: str, version: str) -> str:
    return PackageURL(
        type="maven", namespace=group or None, name=artifact, version=version
    ).to_string()


class JavaArchiveAnalyzer:
    name: ClassVar[str] = "java-archive"
    version: ClassVar[int] = 1

    def wants(self, path: PurePosixPath, info: FileInfo) -> bool:
        return path.suffix.lower() in ARCHIVE_SUFFIXES

    def analyze(self, files: Mapping[PurePosixPath, LayerFile]) -> LayerFacts:
        components: list[Component] = []
        unknowns: list[Unknown] = []
        for p, f in sorted(files.items()):
            budget = _Budget(MAX_NESTED_BYTES)
            components.extend(self._archive(str(p), f.content, 0, budget))
            unknowns.extend(budget.unknowns)
        return LayerFacts(
            components=tuple(sorted(set(components))), unknowns=tuple(sorted(set(unknowns)))
        )

    def _component(self, path: str, group: str, artifact: str, version: str) -> Component:
        return Component(
            type=ComponentType.MAVEN,
            name=f"{group}:{artifact}" if group else artifact,
            version=version,
            path=path,
            purl=_purl(group, artifact, version),
            analyzer=self.name,
        )

    def _archive(self, path: str, data: bytes, depth: int, budget: _Budget) -> list[Component]:
        try:
            return self._read_archive(path, data, depth, budget)
        except _LimitError as exc:
            budget.unknowns.append(Unknown(path, self.name, str(exc)))
        except _ZIP_ERRORS as exc:
            budget.unknowns.append(
                Unknown(path, self.name, f"unreadable archive: {type(exc).__name__}: {exc}")
            )
        return []

    def _read_archive(self, path: str, data: bytes, depth: int, budget: _Budget) -> list[Component]:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_ENTRIES:
                raise _LimitError(f"{len(infos)} entries (limit {MAX_ENTRIES})")
            found: list[Component] = []
            manifest: zipfile.ZipInfo | None = None
            nested: list[zipfile.ZipInfo] = []
            for info in sorted(infos, key=lambda i: i.filename):
                name = info.filename
                if not name or name.endswith("/"):  # directories (and nameless entries)
                    continue
                if name.startswith("META-INF/maven/") and name.endswith("/pom.properties"):
                    found.extend(self._pom(path, zf, info, budget))
                elif name == "META-INF/MANIFEST.MF":
                    manifest = info
                elif PurePosixPath(name).suffix.lower() in ARCHIVE_SUFFIXES:
                    nested.append(info)
            if not found and manifest is not None:
                found.extend(self._manifest(path, zf, manifest))
            for info in nested:
                inner = f"{path}!/{info.filename}"
                if depth + 1 > MAX_DEPTH:
                    budget.unknowns.append(
                        Unknown(inner, self.name, f"nested deeper than {MAX_DEPTH} archives")
                    )
                    continue
                if info.file_size > budget.nested_bytes:
                    budget.unknowns.append(
                        Unknown(
                            inner,
                            self.name,
                            f"nested archive of {info.file_size} bytes exceeds the "
                            f"remaining {budget.nested_bytes}-byte budget",
                        )
                    )
                    continue
                try:
                    content = _read(zf, info, budget.nested_bytes)
                except (_LimitError, *_ZIP_ERRORS) as exc:
                    budget.unknowns.append(Unknown(inner, self.name, f"cannot extract: {exc}"))
                    continue
                budget.nested_bytes -= len(content)
                found.extend(self._archive(inner, content, depth + 1, budget))
            return found

    def _pom(
        self, path: str, zf: zipfile.ZipFile, info: zipfile.ZipInfo, budget: _Budget
    ) -> list[Component]:
        props = parse_properties(_read(zf, info, _MAX_META).decode("utf-8", "replace"))
        group = props.get("groupId", "")
        artifact = props.get("artifactId", "")
        version = props.get("version", "")
        if not artifact or not version or "${" in version:
            budget.unknowns.append(
                Unknown(path, self.name, f"{info.filename}: no usable artifactId or version")
            )
            return []
        return [self._component(path, group, artifact, version)]

    def _manifest(self, path: str, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> list[Component]:
        fields = parse_manifest(_read(zf, info, _MAX_META).decode("utf-8", "replace"))
        name = fields.get("Bundle-SymbolicName", "").split(";", 1)[0].strip()
        name = name or fields.get("Implementation-Title", "").strip()
        version = fields.get("Bundle-Version", "") or fields.get("Implementation-Version", "")
        if not name or not version:
            return []
        group = fields.get("Implementation-Vendor-Id", "").strip()
        return [self._component(path, group, name, version.strip())]
