"""Registry documents: descriptors, digests, platform choice in an index, the image config.

Pure functions over bytes and parsed JSON; every malformed document is a ``SourceError``
and every content that does not hash to its name a ``DigestMismatchError``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from imagewarden.scan.errors import DigestMismatchError, SourceError
from imagewarden.scan.model import Digest
from imagewarden.scan.source.base import HistoryEntry, ImageConfig, Platform

HASHES = {"sha256": hashlib.sha256, "sha512": hashlib.sha512}


def json_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError as exc:
        raise SourceError(f"{what}: not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise SourceError(f"{what}: not a JSON object")
    return value


def verify_digest(body: bytes, digest: str, what: str) -> None:
    alg, _, expected = digest.partition(":")
    if alg not in HASHES:
        raise SourceError(f"{what}: unsupported digest algorithm {alg!r}")
    actual = HASHES[alg](body).hexdigest()
    if actual != expected:
        raise DigestMismatchError(what, digest, f"{alg}:{actual}")


def parse_descriptor(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SourceError(f"manifest {what} descriptor is missing")
    digest, size, media_type = value.get("digest"), value.get("size"), value.get("mediaType")
    if not isinstance(digest, str) or digest.partition(":")[0] not in HASHES:
        raise SourceError(f"manifest {what} descriptor has a bad digest {digest!r}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise SourceError(f"manifest {what} descriptor has a bad size {size!r}")
    if not isinstance(media_type, str):
        media_type = ""
    return {**value, "digest": Digest(digest), "size": size, "mediaType": media_type}


def normal_variant(platform: Platform) -> str | None:
    if platform.architecture == "arm64" and platform.variant in (None, "v8"):
        return "v8"
    return platform.variant


def select_platform(index: dict[str, Any], wanted: Platform, ref: str) -> Digest:
    """The digest of the manifest for ``wanted`` in an index; ``SourceError`` if absent."""
    entries = index.get("manifests")
    if not isinstance(entries, list):
        raise SourceError(f"{ref}: index has no manifest list")
    available: list[tuple[Platform, Digest]] = []
    for entry in entries:
        raw = entry.get("platform") if isinstance(entry, dict) else None
        if not isinstance(raw, dict):
            continue
        platform = Platform(
            str(raw.get("os", "")), str(raw.get("architecture", "")), raw.get("variant") or None
        )
        available.append((platform, parse_descriptor(entry, "index entry")["digest"]))
    same = [
        (p, d) for p, d in available if (p.os, p.architecture) == (wanted.os, wanted.architecture)
    ]
    exact = [d for p, d in same if normal_variant(p) == normal_variant(wanted)]
    if exact:
        return exact[0]
    if wanted.variant is None and len({p.variant for p, _ in same}) == 1:
        return same[0][1]
    names = sorted(
        {"/".join(filter(None, (p.os, p.architecture, p.variant))) for p, _ in available}
    )
    wanted_name = "/".join(filter(None, (wanted.os, wanted.architecture, wanted.variant)))
    problem = "is ambiguous" if same and wanted.variant is None else "is not in the index"
    raise SourceError(f"{ref}: platform {wanted_name} {problem} (available: {', '.join(names)})")


def parse_config(digest: Digest, body: bytes) -> ImageConfig:
    what = f"config {digest}"
    raw = json_object(body, what)
    rootfs = raw.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list) or not all(isinstance(d, str) for d in diff_ids):
        raise SourceError(f"{what}: rootfs.diff_ids is missing or malformed")
    history: list[HistoryEntry] = []
    raw_history = raw.get("history")
    for item in raw_history if isinstance(raw_history, list) else ():
        if isinstance(item, dict):
            created = item.get("created")
            history.append(
                HistoryEntry(
                    created=created if isinstance(created, str) else None,
                    created_by=str(item.get("created_by", "")),
                    empty_layer=bool(item.get("empty_layer", False)),
                    comment=str(item.get("comment", "")),
                )
            )
    container = raw.get("config")
    env = container.get("Env") if isinstance(container, dict) else None
    created = raw.get("created")
    return ImageConfig(
        digest=digest,
        os=str(raw.get("os", "")),
        architecture=str(raw.get("architecture", "")),
        created=created if isinstance(created, str) else None,
        diff_ids=tuple(Digest(d) for d in diff_ids),
        history=tuple(history),
        env=tuple(str(e) for e in env) if isinstance(env, list) else (),
        author=str(raw.get("author", "") or ""),
        raw=raw,
    )
