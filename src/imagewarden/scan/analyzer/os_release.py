"""The operating system of an image: os-release and the distribution release files.

Produces one ``OsInfo`` per layer (the best file of that layer, see ``OS_PATHS``) with the
TCSS ``OsName``: ``alpine:v3.18``, ``debian:12``, ``ubuntu:22.04``, ``centos:7``,
``rhel:9``, ``rocky:9``, ``amzn:2``.  ``apply`` picks the final one across layers by the
same precedence, after whiteouts and symlinks.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import ClassVar

from imagewarden.scan.analyzer.base import FileInfo, LayerFile
from imagewarden.scan.model import LayerFacts, OsInfo, Unknown

#: files read, best first: os-release beats the distribution-specific files
OS_PATHS: tuple[str, ...] = (
    "etc/os-release",
    "usr/lib/os-release",
    "etc/alpine-release",
    "etc/redhat-release",
    "etc/centos-release",
    "etc/rocky-release",
    "etc/system-release",
    "etc/lsb-release",
    "etc/debian_version",
)
_WANTED = frozenset(OS_PATHS)
_MAX = 64 * 1024

#: os-release ID (or release-file name) → family
_FAMILY = {
    "rhel": "rhel",
    "redhat": "rhel",
    "red hat enterprise linux": "rhel",
    "red hat enterprise linux server": "rhel",
    "centos": "centos",
    "centos linux": "centos",
    "centos stream": "centos",
    "rocky": "rocky",
    "rocky linux": "rocky",
    "almalinux": "almalinux",
    "amzn": "amzn",
    "amazon linux": "amzn",
    "amazon linux ami": "amzn",
    "fedora": "fedora",
    "ol": "oracle",
    "oracle linux server": "oracle",
    "opensuse-leap": "opensuse-leap",
    "sles": "sles",
}
#: families whose TCSS OsName keeps only the major version
_MAJOR_ONLY = frozenset({"rhel", "centos", "rocky", "almalinux", "oracle", "amzn", "fedora"})


def os_path_rank(path: str) -> int:
    """Precedence of a release file (lower is better); unknown paths rank last."""
    try:
        return OS_PATHS.index(path)
    except ValueError:
        return len(OS_PATHS)


def os_name(family: str, version: str) -> str:
    """The TCSS OsName for a family and a full version ("alpine", "3.18.4" → "alpine:v3.18")."""
    if family == "alpine":
        parts = version.split(".")
        return f"alpine:v{'.'.join(parts[:2])}" if version else "alpine"
    if family == "debian":
        major = version.split(".")[0]
        return f"debian:{major}" if major else "debian"
    if family in _MAJOR_ONLY:
        major = version.split(".")[0]
        return f"{family}:{major}" if major else family
    return f"{family}:{version}" if version else family


def parse_os_release(text: str) -> dict[str, str]:
    """Parse os-release / lsb-release ``KEY=value`` lines (shell quoting, comments)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        key = key.strip()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            continue
        try:
            words = shlex.split(raw, comments=False, posix=True)
        except ValueError:
            words = [raw.strip().strip("\"'")]
        out[key] = " ".join(words)
    return out


_RELEASE_LINE = re.compile(r"^(?P<name>.+?)\s+release\s+(?P<version>[0-9][0-9.]*)", re.IGNORECASE)


def _from_os_release(fields: Mapping[str, str], path: str) -> OsInfo | None:
    ident = fields.get("ID", "").strip().lower()
    if not ident:
        return None
    family = _FAMILY.get(ident, ident)
    version = fields.get("VERSION_ID", "").strip()
    if not version and family == "debian":
        version = fields.get("VERSION_CODENAME", "").strip()
    pretty = fields.get("PRETTY_NAME", "")
    return OsInfo(family, version, os_name(family, version), pretty, path)


def _from_lsb(fields: Mapping[str, str], path: str) -> OsInfo | None:
    ident = fields.get("DISTRIB_ID", "").strip().lower()
    if not ident:
        return None
    family = _FAMILY.get(ident, ident)
    version = fields.get("DISTRIB_RELEASE", "").strip()
    return OsInfo(
        family, version, os_name(family, version), fields.get("DISTRIB_DESCRIPTION", ""), path
    )


def _from_release_line(text: str, path: str) -> OsInfo | None:
    line = text.strip().splitlines()[0] if text.strip() else ""
    m = _RELEASE_LINE.match(line)
    if not m:
        return None
    name = re.sub(r"\s+", " ", m["name"]).strip().lower()
    family = _FAMILY.get(name)
    if family is None:
        family = _FAMILY.get(name.split(" ")[0], name.split(" ")[0])
    version = m["version"].rstrip(".")
    return OsInfo(family, version, os_name(family, version), line, path)


def _parse(path: str, text: str) -> OsInfo | None:
    if path.rpartition("/")[2] == "os-release":
        return _from_os_release(parse_os_release(text), path)
    if path == "etc/lsb-release":
        return _from_lsb(parse_os_release(text), path)
    first = text.strip().splitlines()[0].strip() if text.strip() else ""
    if path == "etc/alpine-release":
        return (
            OsInfo("alpine", first, os_name("alpine", first), f"Alpine Linux {first}", path)
            if first
            else None
        )
    if path == "etc/debian_version":
        return (
            OsInfo("debian", first, os_name("debian", first), f"Debian {first}", path)
            if first
            else None
        )
    return _from_release_line(text, path)


class OsReleaseAnalyzer:
    """Reads ``OS_PATHS``; reports the best one found in the layer."""

    name: ClassVar[str] = "os-release"
    version: ClassVar[int] = 1

    def wants(self, path: PurePosixPath, info: FileInfo) -> bool:
        return str(path) in _WANTED and info.size <= _MAX

    def analyze(self, files: Mapping[PurePosixPath, LayerFile]) -> LayerFacts:
        found: list[OsInfo] = []
        unknowns: list[Unknown] = []
        for p, f in files.items():
            path = str(p)
            text = f.content.decode("utf-8", "replace")
            info = _parse(path, text)
            if info is None:
                unknowns.append(Unknown(path, self.name, "no distribution identifier found"))
            else:
                found.append(info)
        best = min(found, key=lambda o: (os_path_rank(o.path), o.path)) if found else None
        return LayerFacts(
            os=best,
            unknowns=tuple(sorted(unknowns)),
            os_files=tuple(sorted(found, key=lambda o: o.path)),
        )
