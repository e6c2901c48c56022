"""OCI layouts packed in a tar file (``oci-archive:FILE[:TAG]``), read in place.

``TarMembers`` indexes an archive's members once (bounded count, safe names) and opens
them by name with tarfile's random access: nothing is ever extracted to disk.  Symlinks
and hard links between members are followed inside the archive with a bounded hop count.
``docker_archive`` uses it too.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from imagewarden.scan.errors import LayerReadError, SourceError, UnsafeArchiveError
from imagewarden.scan.model import Digest
from imagewarden.scan.source.base import ImageConfig, Layer, LocalBlob, Manifest, Platform
from imagewarden.scan.source.oci_layout import check_digest, read_layout_index, resolve_oci
from imagewarden.scan.walker import WalkLimits, normalize_path

MAX_ARCHIVE_MEMBERS = 200_000
_MAX_LINK_HOPS = 16


class TarMembers:
    """Random access to the members of an image archive by normalised name."""

    def __init__(self, path: str | Path, max_members: int = MAX_ARCHIVE_MEMBERS) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise SourceError(f"{self.path}: no such file")
        try:
            self._tar = tarfile.open(self.path, mode="r:*")
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise SourceError(f"{self.path}: not a tar archive: {exc}") from exc
        self._members: dict[str, tarfile.TarInfo] = {}
        limits = WalkLimits()
        try:
            for n, member in enumerate(self._tar, 1):
                if n > max_members:
                    raise UnsafeArchiveError(f"{self.path}: more than {max_members} members")
                name = normalize_path(member.name, limits)
                if name:
                    self._members[name] = member
        except (tarfile.TarError, OSError, EOFError) as exc:
            self.close()
            raise SourceError(f"{self.path}: broken tar archive: {exc}") from exc
        except UnsafeArchiveError:
            self.close()
            raise

    def _resolve(self, name: str) -> tarfile.TarInfo | None:
        member = self._members.get(name)
        for _ in range(_MAX_LINK_HOPS):
            if member is None or member.isreg():
                return member
            if member.issym():
                base = name.rpartition("/")[0]
                target = (
                    member.linkname
                    if member.linkname.startswith("/")
                    else f"{base}/{member.linkname}"
                )
            elif member.islnk():
                target = member.linkname
            else:
                return None
            name = normalize_path(target)
            member = self._members.get(name)
        raise UnsafeArchiveError(f"{self.path}: link loop at {name!r}")

    def exists(self, name: str) -> bool:
        return self._resolve(normalize_path(name)) is not None

    def open(self, name: str) -> IO[bytes]:
        member = self._resolve(normalize_path(name))
        if member is None:
            raise SourceError(f"{self.path}: missing member {name}")
        fh = self._tar.extractfile(member)
        if fh is None:
            raise SourceError(f"{self.path}: {name} is not a file")
        return fh

    def local(self, name: str) -> LocalBlob | None:
        """Where member ``name``'s bytes are in the archive file: only for a plain
        (uncompressed) archive and a regular, non-sparse member."""
        if not isinstance(self._tar.fileobj, io.BufferedReader):
            return None  # a compressed archive: member offsets are not file offsets
        member = self._resolve(normalize_path(name))
        if member is None or member.sparse is not None:
            return None
        return LocalBlob(str(self.path), member.offset_data, member.size)

    def read(self, name: str, max_size: int) -> bytes | None:
        member = self._resolve(normalize_path(name))
        if member is None:
            return None
        if member.size > max_size:
            raise SourceError(f"{self.path}: {name} is larger than {max_size} bytes")
        try:
            data = self.open(name).read()
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise LayerReadError(f"{self.path}: cannot read {name}: {exc}") from exc
        if len(data) != member.size:
            raise LayerReadError(f"{self.path}: {name} is truncated")
        return data

    def close(self) -> None:
        self._tar.close()


class _ArchiveBlobs:
    def __init__(self, members: TarMembers) -> None:
        self.members = members

    def _name(self, digest: Digest) -> str:
        alg, _, hexpart = check_digest(digest, str(self.members.path)).partition(":")
        return f"blobs/{alg}/{hexpart}"

    def read(self, digest: Digest, max_size: int) -> bytes:
        data = self.members.read(self._name(digest), max_size)
        if data is None:
            raise SourceError(f"{self.members.path}: missing blob {digest}")
        return data

    def open(self, digest: Digest) -> IO[bytes]:
        name = self._name(digest)
        if not self.members.exists(name):
            raise SourceError(f"{self.members.path}: missing blob {digest}")
        return self.members.open(name)

    def local(self, digest: Digest) -> LocalBlob | None:
        return self.members.local(self._name(digest))


class OciArchiveSource:
    """An OCI layout inside a tar file (``oci-archive:FILE[:TAG]``)."""

    def __init__(
        self, path: str | Path, tag: str | None = None, platform: Platform | None = None
    ) -> None:
        self._members = TarMembers(path)
        try:
            index = read_layout_index(self._members.read, str(path))
            self._resolved = resolve_oci(
                _ArchiveBlobs(self._members), index, tag=tag, platform=platform, what=str(path)
            )
        except BaseException:
            self._members.close()
            raise

    def manifest(self) -> Manifest:
        return self._resolved.manifest

    def config(self) -> ImageConfig:
        return self._resolved.config

    def layers(self) -> Sequence[Layer]:
        return self._resolved.layers

    def close(self) -> None:
        self._members.close()

    def __enter__(self) -> OciArchiveSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
