"""``docker save`` / ``podman save`` archives (``docker-archive:FILE[:N | :repo:tag]``).

``manifest.json`` lists each image's ``Config``, ``RepoTags`` and ``Layers`` as paths in
the archive: ``<id>/layer.tar`` + ``<hex>.json`` in the classic layout, ``blobs/sha256/<hex>``
in the OCI-style layout written by Docker 25+.  The config is verified against the digest
its name carries (and is the image ID).  A layer named by its digest is verified against
that digest; a classic uncompressed ``layer.tar`` is verified against its diff_id; a
classic compressed one is hashed once to name it.  Members are read in place.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from imagewarden.scan.errors import SourceError
from imagewarden.scan.model import Digest
from imagewarden.scan.source.base import ImageConfig, Layer, Manifest
from imagewarden.scan.source.oci_archive import TarMembers
from imagewarden.scan.source.oci_layout import (
    MAX_CONFIG_BLOB,
    MAX_JSON_BLOB,
    MT_DOCKER_LAYER_GZIP,
    MT_DOCKER_LAYER_TAR,
    digest_of,
    parse_config,
    verify_blob,
)

MANIFEST_MEDIA_TYPE = "application/vnd.docker.archive.manifest.v1+json"  # manifest.json entry
_HEX = re.compile(r"(?:^|/)(?:blobs/sha256/)?([a-f0-9]{64})(?:\.json)?$")
_BLOB = re.compile(r"^blobs/(sha256|sha512)/([a-f0-9]+)$")


class DockerArchiveSource:
    """One image of a ``docker save`` archive, chosen by index or by ``repo:tag``."""

    def __init__(self, path: str | Path, selector: int | str | None = None) -> None:
        self.path = Path(path)
        self._members = TarMembers(self.path)
        try:
            self._load(selector)
        except BaseException:
            self._members.close()
            raise

    def _load(self, selector: int | str | None) -> None:
        what = str(self.path)
        raw = self._members.read("manifest.json", MAX_JSON_BLOB)
        if raw is None:
            raise SourceError(f"{what}: no manifest.json (not a docker-archive)")
        try:
            entries = json.loads(raw)
        except ValueError as exc:
            raise SourceError(f"{what}: manifest.json is not valid JSON: {exc}") from exc
        if (
            not isinstance(entries, list)
            or not entries
            or not all(isinstance(e, dict) for e in entries)
        ):
            raise SourceError(f"{what}: manifest.json lists no images")
        entry = _select(entries, selector, what)
        cfg_name = entry.get("Config")
        layer_names = entry.get("Layers")
        if not isinstance(cfg_name, str) or not isinstance(layer_names, list):
            raise SourceError(f"{what}: manifest.json entry without Config or Layers")
        cfg_data = self._members.read(cfg_name, MAX_CONFIG_BLOB)
        if cfg_data is None:
            raise SourceError(f"{what}: missing config {cfg_name}")
        m = _HEX.search(cfg_name)
        cfg_digest = Digest(f"sha256:{m.group(1)}") if m else digest_of(cfg_data)
        verify_blob(cfg_data, cfg_digest, f"config {cfg_name}")
        config = parse_config(cfg_data, cfg_digest)
        if len(layer_names) != len(config.diff_ids):
            raise SourceError(
                f"{what}: {len(layer_names)} layers but the config lists {len(config.diff_ids)} diff_ids"
            )
        layers = []
        for name, diff_id in zip(layer_names, config.diff_ids, strict=True):
            if not isinstance(name, str):
                raise SourceError(f"{what}: bad layer entry {name!r}")
            layers.append(self._layer(name, diff_id, what))
        tags = entry.get("RepoTags") or []
        self._manifest = Manifest(
            digest=None,
            media_type=MANIFEST_MEDIA_TYPE,
            config_digest=cfg_digest,
            repo_tags=tuple(sorted(t for t in tags if isinstance(t, str))),
        )
        self._config = config
        self._layers = tuple(layers)

    def _layer(self, name: str, diff_id: Digest, what: str) -> Layer:
        if not self._members.exists(name):
            raise SourceError(f"{what}: missing layer {name}")
        member_size = self._member_size(name)
        with self._members.open(name) as fh:
            head = fh.read(4)
        compressed = head.startswith(b"\x1f\x8b") or head.startswith(b"\x28\xb5\x2f\xfd")
        media_type = MT_DOCKER_LAYER_GZIP if compressed else MT_DOCKER_LAYER_TAR
        if m := _BLOB.match(name):
            digest = Digest(f"{m.group(1)}:{m.group(2)}")
        elif not compressed:
            digest = diff_id
        else:
            h = hashlib.sha256()
            with self._members.open(name) as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
            digest = Digest(f"sha256:{h.hexdigest()}")
        members = self._members
        return Layer(
            digest,
            diff_id,
            media_type,
            member_size,
            open=lambda: members.open(name),
            local=members.local(name),
        )

    def _member_size(self, name: str) -> int:
        with self._members.open(name) as fh:
            fh.seek(0, 2)
            return fh.tell()

    def manifest(self) -> Manifest:
        return self._manifest

    def config(self) -> ImageConfig:
        return self._config

    def layers(self) -> Sequence[Layer]:
        return self._layers

    def close(self) -> None:
        self._members.close()

    def __enter__(self) -> DockerArchiveSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _select(entries: list[dict[str, Any]], selector: int | str | None, what: str) -> dict[str, Any]:
    if selector is None:
        if len(entries) != 1:
            raise SourceError(
                f"{what}: the archive holds {len(entries)} images; choose one with :N or :repo:tag"
            )
        return entries[0]
    if isinstance(selector, int):
        if not 0 <= selector < len(entries):
            raise SourceError(f"{what}: no image #{selector} (the archive holds {len(entries)})")
        return entries[selector]
    for e in entries:
        if selector in (e.get("RepoTags") or []):
            return e
    raise SourceError(f"{what}: no image tagged {selector!r}")
