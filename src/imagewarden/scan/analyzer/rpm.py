"""Red Hat-family and SUSE packages from the rpm database, in any of its three backends.

* ``rpmdb.sqlite`` (rpm ≥ 4.16: Fedora 33+, RHEL/Rocky/Alma 9): table ``Packages(hnum,
  blob)``.  Opened from memory with ``sqlite3.Connection.deserialize`` (nothing is written
  to disk); a WAL-mode file is switched to rollback mode in the in-memory copy first;
* ``Packages`` (Berkeley DB hash, CentOS 5–8, RHEL ≤ 8, Amazon Linux 2): ``rpmdb_bdb``;
* ``Packages.db`` (ndb, openSUSE/SLES 15+): ``rpmdb_ndb``.

Each backend stores one rpm header blob per installed package (``rpm_header``).  Both the
classic ``var/lib/rpm`` and ``usr/lib/sysimage/rpm`` locations are read.  ``gpg-pubkey``
entries are imported signing keys, not software, and are skipped.

The version is ``[epoch:]version-release``; the purl carries ``version-release`` with
``epoch`` and ``arch`` qualifiers (purl-spec rpm type).  The source package comes from
SOURCERPM (``name-version-release.src.rpm``) with the binary's epoch; the purl distro
qualifier is added by ``apply`` once the image's OS is known.

Each header's file list (BASENAMES/DIRNAMES/DIRINDEXES) gives a ``FileOwnership`` keyed by
the database file (its language-relevant part only), so language components installed by
rpm get an ``owner`` (``imagewarden.scan.analyzer.ownership``).  A file list that cannot be
decoded is an ``Unknown``; the package itself is still reported.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from typing import ClassVar

from packageurl import PackageURL

from imagewarden.scan.analyzer.base import FileInfo, LayerFile
from imagewarden.scan.analyzer.ownership import file_ownership
from imagewarden.scan.analyzer.rpm_header import HeaderError, RpmHeader, parse_header
from imagewarden.scan.analyzer.rpmdb_bdb import BdbError, iter_hash_items
from imagewarden.scan.analyzer.rpmdb_ndb import NdbError, iter_ndb_blobs
from imagewarden.scan.model import Component, ComponentType, FileOwnership, LayerFacts, Unknown

__all__ = ["DB_PATHS", "RpmAnalyzer", "rpm_version", "split_sourcerpm"]

_DIRS = ("var/lib/rpm", "usr/lib/sysimage/rpm")
_FILES = ("Packages", "Packages.db", "rpmdb.sqlite")
DB_PATHS = frozenset(f"{d}/{f}" for d in _DIRS for f in _FILES)
_SQLITE_MAGIC = b"SQLite format 3\x00"
_SKIP = frozenset({"gpg-pubkey"})


class _DbError(ValueError):
    pass


def rpm_version(epoch: int | None, version: str, release: str) -> str:
    """``[epoch:]version-release`` (no epoch part when the package has none)."""
    vr = f"{version}-{release}" if release else version
    return f"{epoch}:{vr}" if epoch is not None else vr


def split_sourcerpm(sourcerpm: str) -> tuple[str, str, str] | None:
    """(name, version, release) of ``name-version-release.src.rpm``, or None if malformed."""
    for suffix in (".src.rpm", ".nosrc.rpm"):
        if sourcerpm.endswith(suffix):
            stem = sourcerpm[: -len(suffix)]
            break
    else:
        return None
    parts = stem.rsplit("-", 2)
    if len(parts) != 3 or not all(parts):
        return None
    return parts[0], parts[1], parts[2]


def _sqlite_blobs(data: bytes) -> list[bytes]:
    if not data.startswith(_SQLITE_MAGIC):
        raise _DbError("not an SQLite database")
    buf = bytearray(data)
    if len(buf) > 19 and buf[18] == 2 and buf[19] == 2:
        buf[18] = buf[19] = 1  # WAL → rollback journal, in our private copy only
    con = sqlite3.connect(":memory:")
    try:
        con.deserialize(bytes(buf))
        con.execute("PRAGMA query_only = ON")
        rows = con.execute("SELECT blob FROM Packages ORDER BY hnum").fetchall()
    except sqlite3.Error as exc:
        raise _DbError(f"SQLite: {exc}") from exc
    finally:
        con.close()
    return [bytes(r[0]) for r in rows if isinstance(r[0], bytes | memoryview)]


def _blobs(name: str, data: bytes) -> Iterable[bytes]:
    try:
        if name == "rpmdb.sqlite":
            return _sqlite_blobs(data)
        if name == "Packages.db":
            return [blob for _, blob in iter_ndb_blobs(data)]
        return [v for k, v in iter_hash_items(data) if k != b"\x00\x00\x00\x00"]
    except (BdbError, NdbError) as exc:
        raise _DbError(str(exc)) from exc


class RpmAnalyzer:
    name: ClassVar[str] = "rpm"
    version: ClassVar[int] = 2  # 2: file-list ownership

    def wants(self, path: PurePosixPath, info: FileInfo) -> bool:
        return str(path) in DB_PATHS

    def analyze(self, files: Mapping[PurePosixPath, LayerFile]) -> LayerFacts:
        components: list[Component] = []
        unknowns: list[Unknown] = []
        owned: dict[tuple[str, str], list[str]] = {}
        for p, f in sorted(files.items()):
            path = str(p)
            try:
                blobs = list(_blobs(p.name, f.content))
            except _DbError as exc:
                unknowns.append(Unknown(path, self.name, f"unreadable rpm database: {exc}"))
                continue
            for i, blob in enumerate(blobs):
                try:
                    header = parse_header(blob)
                except HeaderError as exc:
                    unknowns.append(Unknown(path, self.name, f"package #{i + 1}: {exc}"))
                    continue
                if header.name in _SKIP:
                    continue
                if not header.name or not header.version:
                    unknowns.append(
                        Unknown(path, self.name, f"package #{i + 1}: no NAME or VERSION")
                    )
                    continue
                components.append(self._component(path, header))
                try:
                    file_list = parse_header(blob, with_files=True).files
                except HeaderError as exc:
                    unknowns.append(Unknown(path, self.name, f"package #{i + 1} files: {exc}"))
                    continue
                owned.setdefault((path, header.name), []).extend(file_list)
        ownership: list[FileOwnership] = []
        for (db_path, package), paths in owned.items():
            if found := file_ownership(db_path, ComponentType.RPM, package, paths):
                ownership.append(found)
        return LayerFacts(
            components=tuple(sorted(components)),
            unknowns=tuple(sorted(unknowns)),
            owned_files=tuple(sorted(ownership)),
        )

    def _component(self, path: str, h: RpmHeader) -> Component:
        version = rpm_version(h.epoch, h.version, h.release)
        qualifiers: dict[str, str] = {}
        if h.arch:
            qualifiers["arch"] = h.arch
        if h.epoch is not None:
            qualifiers["epoch"] = str(h.epoch)
        purl = PackageURL(
            type="rpm",
            name=h.name,
            version=f"{h.version}-{h.release}" if h.release else h.version,
            qualifiers=qualifiers,
        ).to_string()
        source = split_sourcerpm(h.sourcerpm)
        if source is None:
            source_name, source_version = h.name, version
        else:
            source_name = source[0]
            source_version = rpm_version(h.epoch, source[1], source[2])
        return Component(
            type=ComponentType.RPM,
            name=h.name,
            version=version,
            path=path,
            purl=purl,
            analyzer=self.name,
            source_name=source_name,
            source_version=source_version,
        )
