"""OCI image layout directories, and the OCI resolution every OCI-shaped source shares.

``resolve_oci`` walks index → (nested index →) manifest → config → layers over any
``BlobStore`` (a directory here, a tar file in ``oci_archive``), verifying the digest of
every JSON blob it reads.  Layer blobs are verified by the walker while it streams them.
A multi-arch index is resolved to one ``Platform`` (default linux/amd64; with no explicit
platform a lone image of another platform is accepted).
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, Any, Protocol

from imagewarden.scan.errors import DigestMismatchError, SourceError
from imagewarden.scan.model import Digest
from imagewarden.scan.source.base import (
    HistoryEntry,
    ImageConfig,
    Layer,
    LocalBlob,
    Manifest,
    Platform,
)

MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MT_DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"

INDEX_TYPES = frozenset({MT_OCI_INDEX, MT_DOCKER_LIST})
MANIFEST_TYPES = frozenset({MT_OCI_MANIFEST, MT_DOCKER_MANIFEST})
CONFIG_TYPES = frozenset({MT_OCI_CONFIG, MT_DOCKER_CONFIG})
LAYER_TYPES = frozenset(
    {
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        MT_DOCKER_LAYER_GZIP,
        MT_DOCKER_LAYER_TAR,
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    }
)
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"

MAX_JSON_BLOB = 8 * 1024 * 1024
MAX_CONFIG_BLOB = 64 * 1024 * 1024
MAX_INDEX_DEPTH = 4

_DIGEST = re.compile(r"^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$")


def check_digest(value: object, what: str) -> Digest:
    """A well-formed ``alg:hex`` digest (sha256/sha512), else ``SourceError``."""
    if not isinstance(value, str) or not _DIGEST.match(value):
        raise SourceError(f"{what}: bad digest {value!r}")
    return Digest(value)


def digest_of(data: bytes, algorithm: str = "sha256") -> Digest:
    return Digest(f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}")


def verify_blob(data: bytes, digest: Digest, what: str) -> None:
    got = digest_of(data, digest.partition(":")[0])
    if got != digest:
        raise DigestMismatchError(what, digest, got)


def parse_json(data: bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise SourceError(f"{what}: not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise SourceError(f"{what}: expected a JSON object")
    return doc


def parse_config(data: bytes, digest: Digest) -> ImageConfig:
    """Parse an image config blob (OCI or Docker) into ``ImageConfig``."""
    what = f"config {digest}"
    doc = parse_json(data, what)
    rootfs = doc.get("rootfs")
    if not isinstance(rootfs, dict) or not isinstance(rootfs.get("diff_ids"), list):
        raise SourceError(f"{what}: no rootfs.diff_ids")
    diff_ids = tuple(check_digest(d, what) for d in rootfs["diff_ids"])
    history: list[HistoryEntry] = []
    for h in doc.get("history") or []:
        if not isinstance(h, dict):
            raise SourceError(f"{what}: bad history entry")
        history.append(
            HistoryEntry(
                created=_str_or_none(h.get("created")),
                created_by=str(h.get("created_by") or ""),
                empty_layer=bool(h.get("empty_layer", False)),
                comment=str(h.get("comment") or ""),
            )
        )
    cfg = doc.get("config") or {}
    env = cfg.get("Env") if isinstance(cfg, dict) else None
    return ImageConfig(
        digest=digest,
        os=str(doc.get("os") or ""),
        architecture=str(doc.get("architecture") or ""),
        created=_str_or_none(doc.get("created")),
        diff_ids=diff_ids,
        history=tuple(history),
        env=tuple(str(e) for e in env) if isinstance(env, list) else (),
        author=str(doc.get("author") or ""),
        raw=doc,
    )


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


class BlobStore(Protocol):
    """Content-addressed blobs of one OCI layout (a directory or an archive)."""

    def read(self, digest: Digest, max_size: int) -> bytes: ...

    def open(self, digest: Digest) -> IO[bytes]: ...

    def local(self, digest: Digest) -> LocalBlob | None:
        """Where the blob's bytes are in a local file, if they are (see ``LocalBlob``)."""
        ...


@dataclass(frozen=True)
class Resolved:
    manifest: Manifest
    config: ImageConfig
    layers: tuple[Layer, ...]


def _platform_of(desc: Mapping[str, Any]) -> Platform | None:
    p = desc.get("platform")
    if not isinstance(p, dict):
        return None
    return Platform(str(p.get("os", "")), str(p.get("architecture", "")), p.get("variant") or None)


def _platform_matches(have: Platform, want: Platform) -> bool:
    if (have.os, have.architecture) != (want.os, want.architecture):
        return False
    return want.variant is None or have.variant == want.variant


def _pick(
    descs: Sequence[Mapping[str, Any]], platform: Platform | None, what: str
) -> Mapping[str, Any]:
    if not descs:
        raise SourceError(f"{what}: the index lists no manifests")
    want = platform or Platform()
    platformed = [(d, p) for d in descs if (p := _platform_of(d)) is not None]
    matches = [d for d, p in platformed if _platform_matches(p, want)]
    if matches:
        return matches[0]
    if len(descs) == 1 and (platform is None or not platformed):
        return descs[0]
    if platformed:
        have = ", ".join(
            sorted(
                {
                    f"{p.os}/{p.architecture}" + (f"/{p.variant}" if p.variant else "")
                    for _, p in platformed
                }
            )
        )
        raise SourceError(
            f"{what}: no manifest for platform {want.os}/{want.architecture}"
            f"{'/' + want.variant if want.variant else ''} (available: {have})"
        )
    raise SourceError(f"{what}: the index holds {len(descs)} images; name one with :TAG")


def _tag_matches(desc: Mapping[str, Any], tag: str) -> bool:
    ann = desc.get("annotations")
    if not isinstance(ann, dict):
        return False
    names = {ann.get(REF_NAME), ann.get(CONTAINERD_NAME)}
    full = ann.get(CONTAINERD_NAME)
    if isinstance(full, str) and ":" in full:
        names.add(full.rsplit(":", 1)[1])
    return tag in names


def _tags_of(desc: Mapping[str, Any]) -> tuple[str, ...]:
    ann = desc.get("annotations")
    if not isinstance(ann, dict):
        return ()
    name = ann.get(CONTAINERD_NAME) or ann.get(REF_NAME)
    return (name,) if isinstance(name, str) and name else ()


def _descriptors(doc: Mapping[str, Any], what: str) -> list[Mapping[str, Any]]:
    descs = doc.get("manifests")
    if not isinstance(descs, list) or not all(isinstance(d, dict) for d in descs):
        raise SourceError(f"{what}: no manifests list")
    return descs


def resolve_oci(
    store: BlobStore,
    index: Mapping[str, Any],
    *,
    tag: str | None,
    platform: Platform | None,
    what: str,
) -> Resolved:
    """Resolve an ``index.json`` document to one image: manifest, config and layers."""
    descs = _descriptors(index, what)
    if tag is not None:
        descs = [d for d in descs if _tag_matches(d, tag)]
        if not descs:
            raise SourceError(f"{what}: no image tagged {tag!r}")
    desc = _pick(descs, platform, what)
    return _resolve_descriptor(store, desc, platform, _tags_of(desc), what, 0)


def _resolve_descriptor(
    store: BlobStore,
    desc: Mapping[str, Any],
    platform: Platform | None,
    tags: tuple[str, ...],
    what: str,
    depth: int,
) -> Resolved:
    digest = check_digest(desc.get("digest"), what)
    data = store.read(digest, MAX_JSON_BLOB)
    verify_blob(data, digest, f"manifest {digest}")
    doc = parse_json(data, f"manifest {digest}")
    media_type = desc.get("mediaType") or doc.get("mediaType") or ""
    if media_type in INDEX_TYPES or (not media_type and "manifests" in doc):
        if depth >= MAX_INDEX_DEPTH:
            raise SourceError(f"{what}: indexes nested deeper than {MAX_INDEX_DEPTH}")
        inner = _pick(_descriptors(doc, f"index {digest}"), platform, f"index {digest}")
        return _resolve_descriptor(store, inner, platform, tags, what, depth + 1)
    if media_type not in MANIFEST_TYPES and not (not media_type and "config" in doc):
        raise SourceError(f"manifest {digest}: unsupported media type {media_type!r}")
    return resolve_manifest(store, doc, digest, media_type or MT_OCI_MANIFEST, tags)


def resolve_manifest(
    store: BlobStore,
    doc: Mapping[str, Any],
    digest: Digest | None,
    media_type: str,
    tags: tuple[str, ...] = (),
    repo_digests: tuple[str, ...] = (),
) -> Resolved:
    """Resolve an image manifest document: read and verify its config, list its layers."""
    what = f"manifest {digest}"
    cfg_desc = doc.get("config")
    layer_descs = doc.get("layers")
    if not isinstance(cfg_desc, dict) or not isinstance(layer_descs, list):
        raise SourceError(f"{what}: no config or no layers")
    cfg_type = cfg_desc.get("mediaType", "")
    if cfg_type not in CONFIG_TYPES:
        raise SourceError(f"{what}: config media type {cfg_type!r} is not an image config")
    cfg_digest = check_digest(cfg_desc.get("digest"), what)
    cfg_data = store.read(cfg_digest, MAX_CONFIG_BLOB)
    verify_blob(cfg_data, cfg_digest, f"config {cfg_digest}")
    config = parse_config(cfg_data, cfg_digest)
    if len(layer_descs) != len(config.diff_ids):
        raise SourceError(
            f"{what}: {len(layer_descs)} layers but the config lists {len(config.diff_ids)} diff_ids"
        )
    layers: list[Layer] = []
    for d, diff_id in zip(layer_descs, config.diff_ids, strict=True):
        if not isinstance(d, dict):
            raise SourceError(f"{what}: bad layer descriptor")
        mt = d.get("mediaType", "")
        if mt not in LAYER_TYPES:
            raise SourceError(f"{what}: unsupported layer media type {mt!r}")
        ld = check_digest(d.get("digest"), what)
        size = d.get("size")
        layers.append(
            Layer(
                ld,
                diff_id,
                mt,
                size if isinstance(size, int) else -1,
                open=partial(store.open, ld),
                local=store.local(ld),
            )
        )
    manifest = Manifest(digest, media_type, cfg_digest, tags, repo_digests)
    return Resolved(manifest, config, tuple(layers))


class DirBlobStore:
    """Blobs under ``<root>/blobs/<alg>/<hex>``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, digest: Digest) -> Path:
        alg, _, hexpart = check_digest(digest, str(self.root)).partition(":")
        return self.root / "blobs" / alg / hexpart

    def read(self, digest: Digest, max_size: int) -> bytes:
        with self.open(digest) as fh:
            data = fh.read(max_size + 1)
        if len(data) > max_size:
            raise SourceError(f"blob {digest} is larger than {max_size} bytes")
        return data

    def open(self, digest: Digest) -> IO[bytes]:
        path = self.path(digest)
        if not path.is_file():
            raise SourceError(f"{self.root}: missing blob {digest}")
        return path.open("rb")

    def local(self, digest: Digest) -> LocalBlob | None:
        path = self.path(digest)
        try:
            st = path.stat()
        except OSError:
            return None  # open() says what is wrong
        return LocalBlob(str(path), 0, st.st_size) if stat.S_ISREG(st.st_mode) else None


def read_layout_index(read: Callable[[str, int], bytes | None], what: str) -> dict[str, Any]:
    """Check ``oci-layout`` and parse ``index.json`` through ``read(name, max_size)``."""
    marker = read("oci-layout", 64 * 1024)
    if marker is None:
        raise SourceError(f"{what}: not an OCI layout (no oci-layout file)")
    version = parse_json(marker, f"{what}/oci-layout").get("imageLayoutVersion")
    if not isinstance(version, str) or not version.startswith("1."):
        raise SourceError(f"{what}: unsupported imageLayoutVersion {version!r}")
    index = read("index.json", MAX_JSON_BLOB)
    if index is None:
        raise SourceError(f"{what}: no index.json")
    return parse_json(index, f"{what}/index.json")


class OciLayoutSource:
    """An OCI image layout directory (``oci:DIR[:TAG]``)."""

    def __init__(
        self, root: str | Path, tag: str | None = None, platform: Platform | None = None
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise SourceError(f"{self.root}: not a directory")
        store = DirBlobStore(self.root)

        def read(name: str, max_size: int) -> bytes | None:
            p = self.root / name
            if not p.is_file():
                return None
            with p.open("rb") as fh:
                data = fh.read(max_size + 1)
            if len(data) > max_size:
                raise SourceError(f"{p}: larger than {max_size} bytes")
            return data

        index = read_layout_index(read, str(self.root))
        self._resolved = resolve_oci(store, index, tag=tag, platform=platform, what=str(self.root))

    def manifest(self) -> Manifest:
        return self._resolved.manifest

    def config(self) -> ImageConfig:
        return self._resolved.config

    def layers(self) -> Sequence[Layer]:
        return self._resolved.layers

    def close(self) -> None:
        pass

    def __enter__(self) -> OciLayoutSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
