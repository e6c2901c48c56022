"""The ImageSource contract: everything that reads an image goes through it.

A source resolves one image (one platform of a multi-arch index) to its manifest, its
config and an ordered list of layers.  Opening a layer yields the *compressed* blob
stream exactly as stored; the walker detects the compression (gzip, zstd, none) and
verifies digests while it streams.  Sources never unpack anything to disk.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from imagewarden.scan.model import Digest


@dataclass(frozen=True)
class Platform:
    os: str = "linux"
    architecture: str = "amd64"
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        """Parse ``os/arch[/variant]`` (e.g. ``linux/arm64/v8``)."""
        parts = text.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(f"platform must look like os/arch[/variant], got {text!r}")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)


@dataclass(frozen=True)
class HistoryEntry:
    created: str | None
    created_by: str
    empty_layer: bool
    comment: str = ""


@dataclass(frozen=True)
class ImageConfig:
    """The parts of the image config JSON the scanner uses (raw kept for detectors)."""

    digest: Digest  # the image ID: sha256 of the config blob
    os: str
    architecture: str
    created: str | None
    diff_ids: tuple[Digest, ...]
    history: tuple[HistoryEntry, ...] = ()
    env: tuple[str, ...] = ()
    author: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Manifest:
    digest: Digest | None  # digest of the manifest blob when known (registry / OCI)
    media_type: str
    config_digest: Digest
    repo_tags: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()


@dataclass(frozen=True)
class LocalBlob:
    """Where a layer blob's bytes lie, uncompressed by the container, in a local file: ``length``
    bytes from ``offset`` of ``path`` (the blob file of an OCI layout, or a member of a plain
    tar archive).  A walker may read them through its own file handles, e.g. to hash the blob
    on a second thread while it parses the same bytes; it checks the file did not change."""

    path: str
    offset: int
    length: int


@dataclass(frozen=True)
class Layer:
    """One layer: ``digest`` is the blob digest (compressed), ``diff_id`` the uncompressed one.

    ``size`` is the blob size the manifest declares (-1: not declared); a blob of another
    size is a read error.  ``local``, when the source knows it, says where the blob's bytes
    are on disk."""

    digest: Digest
    diff_id: Digest
    media_type: str
    size: int
    open: Callable[[], IO[bytes]] = field(compare=False, hash=False)
    local: LocalBlob | None = field(default=None, compare=False, hash=False)


class ImageSource(Protocol):
    """One image, resolved.  ``close`` releases files/connections; sources are context managers."""

    def manifest(self) -> Manifest: ...

    def config(self) -> ImageConfig: ...

    def layers(self) -> Sequence[Layer]: ...

    def close(self) -> None: ...
