"""Deterministic builders for real image files, used by the scanner tests.

Everything is built from in-memory file trees and written in the real formats:

* layers: tar (ustar/pax as tarfile writes them), compressed with gzip, zstd or nothing;
* OCI image layouts (a directory: ``oci-layout``, ``index.json``, ``blobs/sha256/...``),
  optionally multi-arch (an image index blob in the layout);
* OCI archives (that layout in a tar file);
* docker-archives as ``docker save`` writes them, in the classic layout
  (``<id>/layer.tar``, ``<hex>.json``, ``manifest.json``, ``repositories``) and the
  OCI-style layout of Docker 25+ (``blobs/sha256/<hex>`` + ``manifest.json`` + ``index.json``).

The same input gives byte-identical output (mtimes 0, uid/gid 0, fixed order).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import zstandard

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_MEDIA = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}


# --------------------------------------------------------------------------------------------
# file trees and layers


@dataclass(frozen=True)
class File:
    content: bytes
    mode: int = 0o644


@dataclass(frozen=True)
class Dir:
    mode: int = 0o755


@dataclass(frozen=True)
class Symlink:
    target: str


@dataclass(frozen=True)
class Hardlink:
    target: str


Node = File | Dir | Symlink | Hardlink | bytes | str
Tree = Mapping[str, Node] | Sequence[tuple[str, Node]]


def _node(value: Node) -> File | Dir | Symlink | Hardlink:
    if isinstance(value, bytes):
        return File(value)
    if isinstance(value, str):
        return File(value.encode())
    return value


def tar_info(name: str, node: File | Dir | Symlink | Hardlink) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if isinstance(node, File):
        info.type, info.mode, info.size = tarfile.REGTYPE, node.mode, len(node.content)
    elif isinstance(node, Dir):
        info.type, info.mode = tarfile.DIRTYPE, node.mode
    elif isinstance(node, Symlink):
        info.type, info.mode, info.linkname = tarfile.SYMTYPE, 0o777, node.target
    else:
        info.type, info.mode, info.linkname = tarfile.LNKTYPE, 0o644, node.target
    return info


def layer_tar(tree: Tree) -> bytes:
    """A layer tar from a file tree, entries in the given order (names as given)."""
    items = tree.items() if isinstance(tree, Mapping) else tree
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, value in items:
            node = _node(value)
            info = tar_info(name, node)
            tar.addfile(info, io.BytesIO(node.content) if isinstance(node, File) else None)
    return buf.getvalue()


def raw_tar(members: Iterable[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    """A tar from hand-made headers (for hostile cases)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def compress(data: bytes, compression: str) -> bytes:
    if compression == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=0)
    if compression == "zstd":
        return zstandard.ZstdCompressor(level=3).compress(data)
    if compression == "none":
        return data
    raise ValueError(compression)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class BuiltLayer:
    tar: bytes
    blob: bytes
    media_type: str

    @property
    def diff_id(self) -> str:
        return sha256(self.tar)

    @property
    def digest(self) -> str:
        return sha256(self.blob)


def make_layer(tree: Tree | bytes, compression: str = "gzip") -> BuiltLayer:
    """A layer from a file tree (or ready tar bytes)."""
    tar = tree if isinstance(tree, bytes) else layer_tar(tree)
    return BuiltLayer(tar, compress(tar, compression), LAYER_MEDIA[compression])


# --------------------------------------------------------------------------------------------
# images


def _json(doc: object) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Image:
    layers: tuple[BuiltLayer, ...]
    config: bytes
    manifest: bytes
    architecture: str = "amd64"
    os: str = "linux"
    variant: str | None = None

    @property
    def config_digest(self) -> str:
        return sha256(self.config)

    @property
    def manifest_digest(self) -> str:
        return sha256(self.manifest)

    def descriptor(
        self, annotations: Mapping[str, str] | None = None, platform: bool = False
    ) -> dict[str, object]:
        d: dict[str, object] = {
            "mediaType": OCI_MANIFEST,
            "digest": self.manifest_digest,
            "size": len(self.manifest),
        }
        if platform:
            p: dict[str, str] = {"os": self.os, "architecture": self.architecture}
            if self.variant:
                p["variant"] = self.variant
            d["platform"] = p
        if annotations:
            d["annotations"] = dict(annotations)
        return d


def make_image(
    layers: Sequence[BuiltLayer | Tree],
    *,
    compression: str = "gzip",
    architecture: str = "amd64",
    os: str = "linux",
    variant: str | None = None,
    created: str = "2024-01-02T03:04:05Z",
    env: Sequence[str] = ("PATH=/usr/bin:/bin",),
    diff_ids: Sequence[str] | None = None,
    config_extra: Mapping[str, object] | None = None,
    history: Sequence[Mapping[str, object]] | None = None,
) -> Image:
    """An image of ``layers``.  ``config_extra`` adds keys to the config's ``config`` object
    (``User``, ``ExposedPorts``, ``Labels``...); ``history`` replaces the default history
    (one ``layer N`` entry per layer)."""
    built = tuple(x if isinstance(x, BuiltLayer) else make_layer(x, compression) for x in layers)
    config = {
        "architecture": architecture,
        "os": os,
        "created": created,
        "config": {"Env": list(env), **dict(config_extra or {})},
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids or [x.diff_id for x in built])},
        "history": [dict(h) for h in history]
        if history is not None
        else [{"created": created, "created_by": f"layer {i}"} for i in range(len(built))],
    }
    if variant:
        config["variant"] = variant
    config_bytes = _json(config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": OCI_CONFIG,
            "digest": sha256(config_bytes),
            "size": len(config_bytes),
        },
        "layers": [
            {"mediaType": x.media_type, "digest": x.digest, "size": len(x.blob)} for x in built
        ],
    }
    return Image(built, config_bytes, _json(manifest), architecture, os, variant)


# --------------------------------------------------------------------------------------------
# OCI layout / archive


@dataclass
class Files:
    """An ordered set of files to write into a directory or a tar."""

    files: dict[str, bytes] = field(default_factory=dict)

    def blob(self, data: bytes) -> str:
        digest = sha256(data)
        self.files[f"blobs/sha256/{digest.split(':', 1)[1]}"] = data
        return digest

    def write_dir(self, root: Path) -> Path:
        for name, data in sorted(self.files.items()):
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return root

    def write_tar(self, path: Path) -> Path:
        dirs = sorted(
            {"/".join(n.split("/")[:i]) for n in self.files for i in range(1, n.count("/") + 1)}
        )
        with tarfile.open(path, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for d in dirs:
                tar.addfile(tar_info(d, Dir()))
            for name, data in sorted(self.files.items()):
                tar.addfile(tar_info(name, File(data)), io.BytesIO(data))
        return path


def _add_image_blobs(files: Files, image: Image) -> None:
    for layer in image.layers:
        files.blob(layer.blob)
    files.blob(image.config)
    files.blob(image.manifest)


def oci_layout_files(
    images: Sequence[tuple[str | None, Image]] = (),
    *,
    multiarch: Sequence[Image] = (),
    multiarch_tag: str | None = "latest",
) -> Files:
    """Files of an OCI layout holding ``images`` (tag, image) and optionally one multi-arch index."""
    files = Files()
    files.files["oci-layout"] = _json({"imageLayoutVersion": "1.0.0"})
    manifests: list[dict[str, object]] = []
    for tag, image in images:
        _add_image_blobs(files, image)
        manifests.append(
            image.descriptor({"org.opencontainers.image.ref.name": tag} if tag else None)
        )
    if multiarch:
        for image in multiarch:
            _add_image_blobs(files, image)
        index = _json(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [i.descriptor(platform=True) for i in multiarch],
            }
        )
        digest = files.blob(index)
        desc: dict[str, object] = {"mediaType": OCI_INDEX, "digest": digest, "size": len(index)}
        if multiarch_tag:
            desc["annotations"] = {"org.opencontainers.image.ref.name": multiarch_tag}
        manifests.append(desc)
    files.files["index.json"] = _json(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
    )
    return files


def write_oci_layout(
    root: Path, images: Sequence[tuple[str | None, Image]] = (), **kw: object
) -> Path:
    return oci_layout_files(images, **kw).write_dir(root)  # type: ignore[arg-type]


def write_oci_archive(
    path: Path, images: Sequence[tuple[str | None, Image]] = (), **kw: object
) -> Path:
    return oci_layout_files(images, **kw).write_tar(path)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# docker-archive


def docker_archive_files(
    images: Sequence[tuple[Sequence[str], Image]], *, layout: str = "legacy"
) -> Files:
    """Files of a ``docker save`` archive; layers are stored uncompressed, as docker does."""
    files = Files()
    entries: list[dict[str, object]] = []
    repositories: dict[str, dict[str, str]] = {}
    for tags, image in images:
        layer_names: list[str] = []
        if layout == "legacy":
            parent = ""
            for layer in image.layers:
                layer_id = hashlib.sha256(f"{parent}\n{layer.diff_id}".encode()).hexdigest()
                files.files[f"{layer_id}/VERSION"] = b"1.0"
                files.files[f"{layer_id}/json"] = _json(
                    {"id": layer_id, **({"parent": parent} if parent else {})}
                )
                files.files[f"{layer_id}/layer.tar"] = layer.tar
                layer_names.append(f"{layer_id}/layer.tar")
                parent = layer_id
            config_name = f"{image.config_digest.split(':', 1)[1]}.json"
            files.files[config_name] = image.config
            for tag in tags:
                repo, _, t = tag.rpartition(":")
                repositories.setdefault(repo, {})[t] = parent
        elif layout == "oci":
            files.files["oci-layout"] = _json({"imageLayoutVersion": "1.0.0"})
            for layer in image.layers:
                digest = files.blob(layer.tar)
                layer_names.append(f"blobs/sha256/{digest.split(':', 1)[1]}")
            config_name = f"blobs/sha256/{files.blob(image.config).split(':', 1)[1]}"
        else:
            raise ValueError(layout)
        entries.append({"Config": config_name, "RepoTags": list(tags), "Layers": layer_names})
    files.files["manifest.json"] = _json(entries)
    if repositories:
        files.files["repositories"] = _json(repositories)
    return files


def write_docker_archive(
    path: Path, images: Sequence[tuple[Sequence[str], Image]], *, layout: str = "legacy"
) -> Path:
    return docker_archive_files(images, layout=layout).write_tar(path)
