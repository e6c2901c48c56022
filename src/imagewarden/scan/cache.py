"""The per-layer cache: a layer's facts, keyed by what produced them.

``cache_key`` hashes the layer's diff_id, every analyzer's (name, version), every content
scanner's (name, fingerprint), the options that change analyzer output and
``SCHEMA_VERSION``: bumping one analyzer's version, or changing a scanner's rules, misses
exactly the layers it would look at differently.  Images sharing base layers analyse each
shared layer once.

``InMemoryLayerCache`` is for one process; ``DirLayerCache`` keeps one msgspec JSON file
per key, written atomically (temporary file, fsync, then rename); a corrupt or unreadable
file is a miss, never an error, and a corrupt one is removed.  The cache is an
optimisation: a write that fails (disk full, file size limit, permissions) is logged and
the scan goes on with the facts it computed.  ``imagewarden.store`` provides a SQL-backed
one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import msgspec

from imagewarden.scan.analyzer.base import Analyzer
from imagewarden.scan.detect.base import ContentScanner
from imagewarden.scan.model import SCHEMA_VERSION, LayerFacts

log = logging.getLogger(__name__)

_KEY = re.compile(r"^[a-f0-9]{64}$")


class LayerCache(Protocol):
    def missing(self, keys: Sequence[str]) -> set[str]: ...

    def get(self, key: str) -> LayerFacts | None: ...

    def put(self, key: str, facts: LayerFacts) -> None: ...


def cache_key(
    diff_id: str,
    analyzers: Sequence[Analyzer],
    options: Mapping[str, Any] | None = None,
    content_scanners: Sequence[ContentScanner] = (),
) -> str:
    """sha256 hex over diff_id, sorted (analyzer name, version) pairs, sorted (content
    scanner name, fingerprint) pairs, options and the schema.

    Without content scanners the key is the one earlier versions computed, so a cache
    filled by package-only scans stays valid.
    """
    doc: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "diff_id": diff_id,
        "analyzers": sorted([a.name, a.version] for a in analyzers),
        "options": dict(options or {}),
    }
    if content_scanners:
        doc["content_scanners"] = sorted([s.name, s.fingerprint()] for s in content_scanners)
    blob = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def encode_facts(facts: LayerFacts) -> bytes:
    return msgspec.json.encode(facts)


def decode_facts(data: bytes) -> LayerFacts:
    return msgspec.json.decode(data, type=LayerFacts)


class InMemoryLayerCache:
    """A dict of encoded facts (encoded, so a cached value can never be mutated by a caller)."""

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}

    def missing(self, keys: Sequence[str]) -> set[str]:
        return {k for k in keys if k not in self._data}

    def get(self, key: str) -> LayerFacts | None:
        data = self._data.get(key)
        return None if data is None else decode_facts(data)

    def put(self, key: str, facts: LayerFacts) -> None:
        self._data[key] = encode_facts(facts)

    def __len__(self) -> int:
        return len(self._data)


class DirLayerCache:
    """One ``<key>.json`` file per layer under ``path`` (created if missing)."""

    #: temporary files older than this were left by a killed writer and are removed on open
    STALE_TMP_SECONDS = 3600.0

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._sweep_stale_tmp()

    def _sweep_stale_tmp(self) -> None:
        """A process killed between ``mkstemp`` and ``rename`` leaves a ``.*.tmp`` file that
        no reader ever looks at; only its space is lost, so reclaim it (old ones only: a
        young one may belong to a live writer)."""
        cutoff = time.time() - self.STALE_TMP_SECONDS
        try:
            for tmp in self.path.glob(".*.tmp"):
                try:
                    if tmp.stat().st_mtime < cutoff:
                        tmp.unlink()
                except OSError:
                    pass
        except OSError:
            pass

    def _file(self, key: str) -> Path:
        if not _KEY.match(key):
            raise ValueError(f"bad cache key {key!r}")
        return self.path / f"{key}.json"

    def missing(self, keys: Sequence[str]) -> set[str]:
        return {k for k in keys if not self._file(k).is_file()}

    def get(self, key: str) -> LayerFacts | None:
        path = self._file(key)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        try:
            return decode_facts(data)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError, TypeError):
            # only whole files are ever renamed into place, so this one was damaged behind
            # our back (a copy, a restore, a disk error): drop it, the layer is walked again
            log.warning("layer cache entry %s is corrupt; removed", path)
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass
            return None

    def put(self, key: str, facts: LayerFacts) -> None:
        """Store ``facts`` under ``key``, or log why not: never raises ``OSError``.

        A failing write must not fail the scan that produced the facts, and must not leave
        a partial ``<key>.json``: readers only ever see a file that was complete and
        fsynced before it was renamed into place.
        """
        target = self._file(key)
        data = encode_facts(facts)
        tmp: str | None = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{key[:16]}.", suffix=".tmp", dir=self.path)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except OSError as exc:
            log.warning("layer cache write of %s failed (%s); the scan goes on", target, exc)
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
        except BaseException:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
            raise
