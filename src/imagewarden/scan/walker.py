"""One streaming pass over a layer: safe paths, whiteouts, links, limits, analyzers.

``walk_layer`` reads a layer blob exactly once from ``Layer.open()`` (a second pass happens
only to fetch the target of a hard link an analyzer asked for after the target went by).
Compression is detected by magic bytes (gzip, zstd, none).  The compressed bytes are hashed
against ``Layer.digest`` and the tar stream against ``Layer.diff_id``; a mismatch is a
``DigestMismatchError``.  libarchive parses the tar headers from exactly the bytes that
reader chain produces (``imagewarden.scan.tarstream``, which also refuses headers libarchive
would read differently from the runtimes).  The chain runs inline: a reader thread running
ahead (hashlib, zlib and libarchive all release the GIL) was measured slower on two cores,
wall and CPU, as the GIL changed hands at every libarchive call.  What does pay is hashing
a *local* blob (``Layer.local``: an OCI layout's blob file, a plain archive's member) on a
second thread through its own file handle, 4 MiB per trip, while the walk parses the same
bytes through another: for an uncompressed layer that takes the only hash off the walk.
Both handles must be the same, unchanged file (device, inode, size, mtime and ctime, checked
when each opens and again at the end), so a write during the scan fails the layer.  The blob
size a manifest declares is checked before (local) or while (streamed) the blob is read.

Each regular file is offered to every analyzer and every content scanner; only files one of
them wants are read into memory (once, whoever wants them), each bounded by
``WalkLimits.max_file_size``.  Analyzers get their files in batches; content scanners
(malware, secrets) see each file as it goes by, and only their findings are kept, stamped
with the layer's diff_id.  A hard link to a file already scanned reuses its findings; a path
written again further on in the layer drops what was found in its earlier content.  With
``WalkLimits.scan_threads = 1`` (the default) the content scanners run files of 64 KiB and
more on a worker thread, overlapped with the reading (same facts; see ``_ScanWorker``);
with 0 they run inline.

Nothing is ever written to disk.  Entry names are normalised (leading ``/`` and ``./``
stripped, ``.`` and ``..`` folded); a name or a hard link that escapes the root, an entry
written through a symlink created earlier in the same layer, and every limit in
``WalkLimits`` raise ``UnsafeArchiveError``.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import io
import os
import queue
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import PurePosixPath
from typing import IO, Any, ClassVar, Protocol, TypeVar, cast

import zstandard
from isal import isal_zlib

from imagewarden.scan.analyzer.base import Analyzer, FileInfo, LayerFile
from imagewarden.scan.detect.base import ContentScanner, FileFinding
from imagewarden.scan.errors import (
    DigestMismatchError,
    LayerReadError,
    ScanError,
    UnsafeArchiveError,
)
from imagewarden.scan.model import Component, LayerFacts, OsInfo, Unknown
from imagewarden.scan.source.base import Layer, LocalBlob
from imagewarden.scan.tarstream import HARDLINK, REGULAR, SYMLINK, TarEntry, TarReader

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

_CHUNK = 256 * KiB
#: bytes per trip through the reader chain and libarchive's read callback (64 KiB cost
#: ~10 % more CPU on a 146 MiB layer; 1 MiB was no faster)
_TAR_BUFSIZE = 256 * KiB
_WHITEOUT = ".wh."
_OPAQUE = ".wh..wh..opq"
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_OTHER_MAGIC = {b"\xfd7zXZ\x00": "xz", b"BZh": "bzip2"}


@dataclass(frozen=True)
class WalkLimits:
    """Safety limits for reading one layer; hitting one raises ``UnsafeArchiveError``.

    Except ``max_file_size``: a wanted file above it becomes an ``Unknown`` (the layer is
    fine, the file is just not read).
    """

    #: tar entries per layer
    max_entries: int = 1_000_000
    #: uncompressed bytes per layer (tar stream, headers included)
    max_layer_bytes: int = 64 * GiB
    #: uncompressed / compressed bytes, checked once ``ratio_grace_bytes`` were decompressed
    max_ratio: float = 250.0
    ratio_grace_bytes: int = 64 * MiB
    #: size of any single entry (a sparse entry counts with its full apparent size)
    max_entry_size: int = 8 * GiB
    #: a file wanted by an analyzer is read only up to this size; above it → Unknown
    max_file_size: int = 64 * MiB
    #: wanted files held in memory at once before the analyzers holding them are run
    max_buffered_bytes: int = 512 * MiB
    max_path_length: int = 4096
    max_path_depth: int = 256
    #: symlink hops when resolving a path inside the image root (loops stop here)
    max_symlink_hops: int = 40
    #: where content scanners run: 0, inline on the walking thread; 1, on a worker thread of
    #: the walk's own (``_ScanWorker``), overlapped with reading the layer.  Not a limit and
    #: not part of the cache key: both give the same facts.  On by default: on a quiet 2-core
    #: machine the worker was never slower and, with a hash blocklist, 1.3x faster
    #: (benchmarks/README.md, "Detectors")
    scan_threads: int = 1
    #: with the worker: bytes of read files handed to it and not scanned yet, at most (a
    #: single larger file is let through on its own)
    max_scan_queue_bytes: int = 32 * MiB
    #: with the worker: smaller files are still scanned inline (handing a small file over
    #: cost more in GIL hand-offs than overlapping its scan saved)
    scan_thread_min_size: int = 64 * KiB
    #: with the worker: files named so go to it whatever their size.  Compressed files
    #: are worth more than their size to a scanner that looks inside them (the malware
    #: engine inflates a Debian root's ~1,000 small gzipped changelogs and manuals, then
    #: searches the members), and inflating releases the GIL.  Routing only: either
    #: thread gives the same facts
    scan_thread_suffixes: tuple[str, ...] = (".gz", ".tgz", ".zip", ".jar", ".war", ".whl")

    def __post_init__(self) -> None:
        if self.scan_threads not in (0, 1):
            raise ValueError(f"scan_threads must be 0 or 1, not {self.scan_threads!r}")

    def cache_options(self) -> dict[str, Any]:
        """The limits that can change analyzer output (part of the layer-cache key)."""
        return {"max_file_size": self.max_file_size}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


#: the default limits (a module-level value: WalkLimits is frozen)
DEFAULT_LIMITS = WalkLimits()


def normalize_path(name: str, limits: WalkLimits = DEFAULT_LIMITS) -> str:
    """Normalise a tar entry or link name to a root-relative path ("" is the root itself).

    Raises ``UnsafeArchiveError`` if the name escapes the root or breaks a path limit.
    """
    if len(name) > limits.max_path_length:
        raise UnsafeArchiveError(f"path longer than {limits.max_path_length}: {name[:80]!r}...")
    if "\x00" in name:
        raise UnsafeArchiveError(f"NUL byte in path {name!r}")
    # fast path, taken by nearly every entry of a real layer ("./usr/bin/", "usr/lib/x"):
    # once a "./" prefix and one "/" suffix are cut, a name with no "//" and no component
    # starting with "." (so no "." or "..") is already normal; only its depth is left
    fast = name[2:] if name.startswith("./") else name
    if fast.endswith("/"):
        fast = fast[:-1]
    if fast and fast[0] not in "/." and fast[-1] != "/" and "//" not in fast and "/." not in fast:
        if fast.count("/") >= limits.max_path_depth:
            raise UnsafeArchiveError(f"path deeper than {limits.max_path_depth}: {name[:80]!r}...")
        return fast
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise UnsafeArchiveError(f"path escapes the image root: {name!r}")
            parts.pop()
            continue
        parts.append(part)
    if len(parts) > limits.max_path_depth:
        raise UnsafeArchiveError(f"path deeper than {limits.max_path_depth}: {name[:80]!r}...")
    return "/".join(parts)


if sys.version_info[:2] == (3, 11):
    _from_parsed_parts = PurePosixPath._from_parsed_parts  # type: ignore[attr-defined]

    def _posix_path(path: str) -> PurePosixPath:
        """``PurePosixPath(path)`` for a path ``normalize_path`` returned, without parsing it
        again (a tenth of the cost; once per file of every layer).  Python 3.11's private
        constructor; other versions take the public one."""
        return _from_parsed_parts("", "", path.split("/"))  # type: ignore[no-any-return]

else:  # pragma: no cover - the layout of PurePath's internals changed in 3.12
    _posix_path = PurePosixPath


# ---------------------------------------------------------------------------------------------
# streams


class _Reader(io.RawIOBase):
    """A readable raw stream defined by its ``read`` (the reader chain's links)."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _HashingReader(_Reader):
    """Reads through ``inner`` counting and (unless ``algorithm`` is None) hashing every byte.

    ``declared`` (>= 0) is the blob size the manifest gives: reading past it is an error at
    once (a small declared blob cannot make the walk read a huge one), and ``finish`` checks
    the stream was not shorter."""

    def __init__(self, inner: IO[bytes], algorithm: str | None, declared: int = -1) -> None:
        self._inner = inner
        self.hash = hashlib.new(algorithm) if algorithm else None
        self.count = 0
        self.declared = declared

    def read(self, size: int = -1) -> bytes:
        want = _CHUNK if size is None or size < 0 else size
        if self.declared >= 0:
            want = min(want, self.declared + 1 - self.count)
            if want <= 0:
                return b""
        data = self._inner.read(want)
        if self.hash is not None:
            self.hash.update(data)
        self.count += len(data)
        if self.declared >= 0 and self.count > self.declared:
            raise LayerReadError(f"blob is larger than the {self.declared} bytes declared for it")
        return data

    def finish(self) -> None:
        """Read to the end (bytes after the end of the compressed stream count too)."""
        while self.read(_CHUNK):
            pass
        if self.declared >= 0 and self.count > self.declared:
            raise LayerReadError(f"blob is larger than the {self.declared} bytes declared for it")
        if self.declared >= 0 and self.count < self.declared:
            raise LayerReadError(
                f"blob is {self.count} bytes, shorter than the {self.declared} declared for it"
            )


def _identity(st: os.stat_result) -> tuple[int, ...]:
    """What changes when a file is replaced or written to (a write always moves ctime)."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _check_same(fh: IO[bytes], ident: tuple[int, ...], path: str) -> None:
    """``fh`` is still the file ``ident`` describes, unwritten."""
    if _identity(os.fstat(fh.fileno())) != ident:
        raise LayerReadError(f"{path} changed while the layer was read")


class _LocalReader(_Reader):
    """The bytes of a ``LocalBlob`` through a file handle of our own (unbuffered reads of
    the size asked for; no tarfile member wrapper in between)."""

    def __init__(self, blob: LocalBlob, ident: tuple[int, ...]) -> None:
        self._fh = open(blob.path, "rb", buffering=0)
        try:
            _check_same(self._fh, ident, blob.path)
            self._fh.seek(blob.offset)
        except BaseException:
            self._fh.close()
            raise
        self._left = blob.length
        self._path = blob.path
        self._ident = ident

    def read(self, size: int = -1) -> bytes:
        n = self._left if size is None or size < 0 else min(size, self._left)
        if n <= 0:
            return b""
        data = self._fh.read(n) or b""
        self._left -= len(data)
        return data

    def check_unchanged(self) -> None:
        _check_same(self._fh, self._ident, self._path)

    def close(self) -> None:
        self._fh.close()
        super().close()


#: bytes per read of the blob-hashing thread: few trips back into the interpreter
_HASH_CHUNK = 4 * MiB


class _BlobHasher:
    """Hashes a local blob on a second thread while the walk parses the same bytes through
    its own handle (hashlib and file reads release the GIL; the thread needs it once per
    4 MiB).  Both handles must see the file ``ident`` names; the walk checks it again at the
    end, so bytes written in between fail the layer instead of mixing two contents."""

    def __init__(self, blob: LocalBlob, algorithm: str, ident: tuple[int, ...]) -> None:
        self._blob = blob
        self._ident = ident
        self.hash = hashlib.new(algorithm)
        self._stop = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="iw-blob-hash", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        blob = self._blob
        try:
            with open(blob.path, "rb", buffering=0) as fh:
                _check_same(fh, self._ident, blob.path)
                fh.seek(blob.offset)
                view = memoryview(bytearray(_HASH_CHUNK))
                left = blob.length
                while left > 0 and not self._stop:
                    n = fh.readinto(view[: min(_HASH_CHUNK, left)])
                    if not n:
                        raise LayerReadError(f"{blob.path}: blob truncated while read")
                    self.hash.update(view[:n])
                    left -= n
        except BaseException as exc:  # handed to the walk by hexdigest()
            self._error = exc

    def hexdigest(self) -> str:
        self._thread.join()
        if self._error is not None:
            if isinstance(self._error, ScanError):
                raise self._error
            raise LayerReadError(f"{self._blob.path}: read failed: {self._error}") from self._error
        return self.hash.hexdigest()

    def stop(self) -> None:
        self._stop = True
        self._thread.join()


#: ISA-L's inflate error (its type stub declares an instance, not a class)
_INFLATE_ERROR = cast(type[Exception], isal_zlib.IsalError)


class _GzipReader(_Reader):
    """Multi-member gzip decompression with bounded output per read; truncation is an error.

    Inflated by ISA-L (``isal``, the zlib interface), about twice zlib's speed on layers."""

    def __init__(self, inner: io.RawIOBase) -> None:
        self._inner = inner
        self._d = isal_zlib.decompressobj(16 + isal_zlib.MAX_WBITS)
        self._pending = b""
        self._between = True  # before the first member or after the end of one
        self._done = False

    def read(self, size: int = -1) -> bytes:
        want = _CHUNK if size is None or size < 0 else max(1, size)
        while not self._done:
            if not self._pending:
                self._pending = self._inner.read(64 * KiB)
                if not self._pending:
                    if not self._between:
                        raise LayerReadError("truncated gzip stream")
                    self._done = True
                    break
            if self._between:
                if not self._pending.startswith(b"\x1f"):
                    if self._pending.strip(b"\x00"):
                        raise LayerReadError("garbage after the end of the gzip stream")
                    self._pending = b""  # NUL padding after the last member
                    continue
                self._d = isal_zlib.decompressobj(16 + isal_zlib.MAX_WBITS)
                self._between = False
            try:
                out = self._d.decompress(self._pending, want)
            except _INFLATE_ERROR as exc:
                raise LayerReadError(f"corrupt gzip stream: {exc}") from exc
            self._pending = self._d.unconsumed_tail
            if self._d.eof:
                self._pending = self._d.unused_data + self._pending
                self._between = True
            if out:
                return out
        return b""


class _ZstdReader(_Reader):
    """zstd decompression (truncation shows up as a broken tar stream or a diff_id mismatch)."""

    def __init__(self, inner: io.RawIOBase) -> None:
        self._r = zstandard.ZstdDecompressor().stream_reader(
            inner,  # type: ignore[arg-type]
            read_across_frames=True,
        )

    def read(self, size: int = -1) -> bytes:
        try:
            return self._r.read(_CHUNK if size is None or size < 0 else max(1, size))
        except zstandard.ZstdError as exc:
            raise LayerReadError(f"corrupt zstd stream: {exc}") from exc


class _PeekReader(_Reader):
    def __init__(self, head: bytes, inner: _HashingReader) -> None:
        self._head = head
        self._inner = inner

    def read(self, size: int = -1) -> bytes:
        if self._head:
            n = len(self._head) if size is None or size < 0 else size
            out, self._head = self._head[:n], self._head[n:]
            return out
        return self._inner.read(size)


class _LimitedTarStream(_Reader):
    """The uncompressed tar stream: hashed (diff_id), counted, ratio- and size-limited."""

    def __init__(
        self,
        inner: io.RawIOBase,
        raw: _HashingReader,
        algorithm: str | None,
        limits: WalkLimits,
    ):
        self._inner = inner
        self._raw = raw
        #: None when the diff_id needs no hash of its own (see ``_Opened``)
        self.hash = hashlib.new(algorithm) if algorithm else None
        self.count = 0
        self._limits = limits

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(_CHUNK if size is None or size < 0 else size)
        if data:
            if self.hash is not None:
                self.hash.update(data)
            self.count += len(data)
            lim = self._limits
            if self.count > lim.max_layer_bytes:
                raise UnsafeArchiveError(
                    f"layer decompresses to more than {lim.max_layer_bytes} bytes"
                )
            if self.count > lim.ratio_grace_bytes and self.count > lim.max_ratio * max(
                1, self._raw.count
            ):
                raise UnsafeArchiveError(
                    f"compression ratio above {lim.max_ratio:g} "
                    f"({self.count} bytes from {self._raw.count}): decompression bomb?"
                )
        return data

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass


def _split_digest(digest: str) -> tuple[str, str]:
    alg, _, hexpart = digest.partition(":")
    if alg not in ("sha256", "sha512") or not hexpart:
        raise LayerReadError(f"unsupported digest {digest!r}")
    return alg, hexpart


@dataclass
class _Opened:
    """A layer opened for one pass: the raw blob reader, the tar stream, and how each of the
    two digests is computed."""

    raw: _HashingReader
    stream: _LimitedTarStream
    #: the blob hash runs on a second thread (a local blob), else in ``raw``
    hasher: _BlobHasher | None
    #: an uncompressed layer whose digests use one algorithm: the tar stream *is* the blob,
    #: so the blob's hash is the diff_id's (one pass over the bytes, not two)
    same_as_raw: bool
    local: _LocalReader | None

    def verify(self, layer: Layer) -> None:
        self.raw.finish()
        if self.local is not None:
            self.local.check_unchanged()
        if self.hasher is not None:
            raw_hex = self.hasher.hexdigest()
        else:
            assert self.raw.hash is not None
            raw_hex = self.raw.hash.hexdigest()
        got = f"{layer.digest.partition(':')[0]}:{raw_hex}"
        if got != layer.digest and layer.digest != layer.diff_id:  # uncompressed: diff_id says
            raise DigestMismatchError(f"layer {layer.digest} (blob)", layer.digest, got)
        if self.same_as_raw:
            diff_hex = raw_hex
        else:
            assert self.stream.hash is not None
            diff_hex = self.stream.hash.hexdigest()
        got = f"{layer.diff_id.partition(':')[0]}:{diff_hex}"
        if got != layer.diff_id:
            raise DigestMismatchError(f"layer {layer.digest} (diff_id)", layer.diff_id, got)


@contextlib.contextmanager
def _open_tar_stream(layer: Layer, limits: WalkLimits, *, verify: bool = True) -> Iterator[_Opened]:
    """Open ``layer`` for one pass.  With ``verify`` False (a second pass over a layer the
    first pass verified) nothing is hashed."""
    raw_alg, _ = _split_digest(layer.digest)
    diff_alg, _ = _split_digest(layer.diff_id)
    blob = layer.local
    local: _LocalReader | None = None
    hasher: _BlobHasher | None = None
    fh: IO[bytes]
    try:
        if blob is not None:
            if layer.size >= 0 and blob.length != layer.size:
                raise LayerReadError(
                    f"layer {layer.digest}: the blob is {blob.length} bytes, "
                    f"its manifest declares {layer.size}"
                )
            ident = _identity(os.stat(blob.path))
            if blob.offset + blob.length > ident[2]:
                raise LayerReadError(f"layer {layer.digest}: {blob.path} is truncated")
            local = _LocalReader(blob, ident)
            fh = cast(IO[bytes], local)
            if verify:
                hasher = _BlobHasher(blob, raw_alg, ident)
        else:
            fh = layer.open()
    except ScanError:
        raise
    except OSError as exc:
        raise LayerReadError(f"layer {layer.digest}: cannot open: {exc}") from exc
    try:
        raw = _HashingReader(
            fh, raw_alg if verify and hasher is None else None, layer.size if blob is None else -1
        )
        head = raw.read(8)
        peek = _PeekReader(head, raw)
        inner: io.RawIOBase
        uncompressed = False
        if head.startswith(_GZIP_MAGIC):
            inner = _GzipReader(peek)
        elif head.startswith(_ZSTD_MAGIC):
            inner = _ZstdReader(peek)
        else:
            for magic, label in _OTHER_MAGIC.items():
                if head.startswith(magic):
                    raise LayerReadError(f"layer {layer.digest}: unsupported compression {label}")
            inner = peek
            uncompressed = True
        same = uncompressed and raw_alg == diff_alg
        stream = _LimitedTarStream(inner, raw, diff_alg if verify and not same else None, limits)
        yield _Opened(raw, stream, hasher, same, local)
    except OSError as exc:
        raise LayerReadError(f"layer {layer.digest}: read failed: {exc}") from exc
    finally:
        if hasher is not None:
            hasher.stop()
        fh.close()


# ---------------------------------------------------------------------------------------------
# the walk


#: low bits of a ``_LayerState.regular`` record: which content scanners scanned the file
_SCANNER_BITS = 16


def _size(record: int) -> int:
    return record >> _SCANNER_BITS


class _LayerState:
    def __init__(self) -> None:
        self.symlinks: dict[str, str] = {}
        self.whiteouts: set[str] = set()
        self.opaque: set[str] = set()
        #: every regular file and hard link of the layer -> one int: its size (a hard link's
        #: entry says 0: it gets its target's) << _SCANNER_BITS | a bit per content scanner
        #: that scanned it (see ``_Collector.scan``).  One small record per file: a layer
        #: may hold a million.  The keys are also the layer's ``facts_paths``: a file this
        #: layer writes replaces whatever lower layers said about that path.
        self.regular: dict[str, int] = {}
        #: directories that are not symlinks and not under one (see _check_not_through_symlink)
        self.clean: set[str] = set()


def _iter_entries(
    stream: _LimitedTarStream, limits: WalkLimits, state: _LayerState, what: str
) -> Iterator[tuple[str, TarEntry, TarReader]]:
    """Yield (normalised path, entry, reader) for every entry, after the safety checks."""
    max_entries = limits.max_entries
    max_entry_size = limits.max_entry_size
    max_layer_bytes = limits.max_layer_bytes
    symlinks = state.symlinks
    entries = 0
    declared = 0
    with TarReader(stream.read, what, _TAR_BUFSIZE) as tar:
        for entry in tar:
            entries += 1
            if entries > max_entries:
                raise UnsafeArchiveError(f"{what}: more than {max_entries} entries")
            size = entry.size
            if size > max_entry_size:
                raise UnsafeArchiveError(
                    f"{what}: entry {entry.name[:200]!r} is {size} bytes (limit {max_entry_size})"
                )
            if not entry.sparse:
                declared += size
                if declared > max_layer_bytes:
                    raise UnsafeArchiveError(f"{what}: entries exceed {max_layer_bytes} bytes")
            path = normalize_path(entry.name, limits)
            if not path:
                continue  # the root directory itself
            parent, _, base = path.rpartition("/")
            _check_not_through_symlink(path, parent, state, what)
            if base.startswith(_WHITEOUT):
                if base == _OPAQUE:
                    state.opaque.add(parent)
                elif not base.startswith(_WHITEOUT + _WHITEOUT):  # .wh..wh.* is aufs metadata
                    name = base[len(_WHITEOUT) :]
                    if name in ("", ".", ".."):
                        raise UnsafeArchiveError(f"{what}: bad whiteout {entry.name!r}")
                    state.whiteouts.add(f"{parent}/{name}" if parent else name)
                continue
            kind = entry.kind
            if kind == SYMLINK:
                if len(entry.linkname) > limits.max_path_length:
                    raise UnsafeArchiveError(f"{what}: symlink target too long at {path!r}")
                symlinks[path] = entry.linkname
                if path in state.clean:  # a directory replaced by a symlink
                    state.clean.clear()
            else:
                if symlinks:
                    symlinks.pop(path, None)
                if kind == HARDLINK and not normalize_path(entry.linkname, limits):
                    raise UnsafeArchiveError(f"{what}: hard link {path!r} to the root")
            yield path, entry, tar
    stream.drain()


def _check_not_through_symlink(path: str, parent: str, state: _LayerState, what: str) -> None:
    """Refuse ``path`` if a directory above it is a symlink of this layer.

    ``state.clean`` caches the directories found not to be (or be under) one, with all
    their ancestors, so an entry whose siblings went by costs one set lookup; a new symlink
    at one of them empties the cache.
    """
    clean = state.clean
    if parent in clean or not parent:
        return
    symlinks = state.symlinks
    seen = []
    d = parent
    while d and d not in clean:
        if d in symlinks:
            # name the outermost symlink, as the message always did
            i = path.find("/")
            while path[:i] not in symlinks:
                i = path.find("/", i + 1)
            prefix = path[:i]
            raise UnsafeArchiveError(
                f"{what}: entry {path!r} is written through symlink {prefix!r} "
                f"-> {symlinks[prefix]!r}"
            )
        seen.append(d)
        d = d.rpartition("/")[0]
    clean.update(seen)


#: what one content scanner made of one file: its findings (stamped with the layer), or why
#: it failed (the reason of the file's ``Unknown``)
_Outcome = tuple[FileFinding, ...] | str


def _run_scanner(scanner: ContentScanner, lf: LayerFile, diff_id: str) -> _Outcome:
    """``scanner`` on ``lf``; touches nothing shared (it runs on the scan worker)."""
    try:
        return tuple(f if f.layer else replace(f, layer=diff_id) for f in scanner.scan(lf))
    except Exception as exc:  # a scanner bug or odd file must not fail the image
        return f"scanner failed: {type(exc).__name__}: {exc}"[:500]


class _Job:
    """A read file for the scan worker: the scanners that want it, then what they made of it."""

    __slots__ = ("lf", "outcomes", "path", "scanners", "seq")

    def __init__(self, seq: int, path: str, lf: LayerFile, scanners: list[ContentScanner]):
        self.seq = seq
        self.path = path
        self.lf: LayerFile | None = lf
        self.scanners = scanners
        self.outcomes: list[_Outcome] = []


#: files (or bytes) the walk gathers before handing them to the scan worker in one trip:
#: a hand-over per file cost more than the overlap gained (the worker woke and took the GIL
#: for every small file)
_BATCH_FILES = 64
_BATCH_BYTES = 1 * MiB


class _ScanWorker:
    """Runs the content scanners of one layer walk on a thread of its own, overlapped with
    the walk's reading.  What of the scanners' work can overlap is what releases the GIL:
    YARA's match, hashlib over more than 2 KiB (the blocklist's md5/sha256), Hyperscan's
    keyword search and ahocorasick-rs' literal search over bytes, ISA-L inflating gzip
    members; ``re``, sniffing and rule selection hold it, as does most of the walk (each of its
    ctypes calls into libarchive releases and takes it back).  Each of those releases
    is a chance for the GIL to change threads, and on the files of a root filesystem (23 KB
    on average) the hand-offs cost about what the overlap saves: files below
    ``WalkLimits.scan_thread_min_size`` are scanned inline.

    One thread, jobs in submission order, handed over in batches (``_BATCH_FILES``,
    ``_BATCH_BYTES``).  The worker only computes: every result is applied by the walking
    thread (``_Collector.collect``), so the collector's state and the layer's file records
    are never touched from two threads.  The bytes of files submitted and not scanned yet
    are bounded by ``WalkLimits.max_scan_queue_bytes``: ``submit`` waits for room.
    ``close`` stops the worker (jobs not started are dropped) and joins it; the walk calls
    it on every way out, an exception included.
    """

    def __init__(self, diff_id: str, max_bytes: int) -> None:
        self._diff_id = diff_id
        self._max = max_bytes
        self._jobs: queue.SimpleQueue[list[_Job] | None] = queue.SimpleQueue()
        #: scanned jobs, for the walking thread to pop (deque appends and pops are atomic)
        self.done: collections.deque[_Job] = collections.deque()
        self._cond = threading.Condition()
        #: written by the walking thread only
        self._seq = 0
        self._submitted = 0  # bytes
        self._batch: list[_Job] = []
        self._batch_bytes = 0
        #: written by the worker only, under ``_cond``
        self._finished = 0  # bytes
        self.finished_seq = 0
        self._waiting = False
        self._stop = False
        self._fatal: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="iw-content-scan", daemon=True)
        self._thread.start()

    def submit(self, path: str, lf: LayerFile, scanners: list[ContentScanner]) -> int:
        """Queue ``lf`` for ``scanners`` (waiting for room first); returns the job's number."""
        size = len(lf.content)
        if self._submitted - self._finished + size > self._max:
            self._flush()
            self._wait(lambda: self._room_for(size))
        self._check()
        self._seq += 1
        self._submitted += size
        self._batch.append(_Job(self._seq, path, lf, scanners))
        self._batch_bytes += size
        if len(self._batch) >= _BATCH_FILES or self._batch_bytes >= _BATCH_BYTES:
            self._flush()
        return self._seq

    def _flush(self) -> None:
        if self._batch:
            self._jobs.put(self._batch)
            self._batch = []
            self._batch_bytes = 0

    def _room_for(self, size: int) -> bool:
        queued = self._submitted - self._finished
        return queued == 0 or queued + size <= self._max

    def wait_for(self, seq: int) -> None:
        """Return once job ``seq`` (and every job before it) was scanned."""
        if self.finished_seq < seq:
            self._flush()
            self._wait(lambda: self.finished_seq >= seq)
        self._check()

    def finish(self) -> None:
        """Scan everything submitted, then end the thread."""
        self._flush()
        self._jobs.put(None)
        self._thread.join()
        self._check()

    def close(self) -> None:
        """Stop now: jobs not started are dropped; waits for the scanner call under way."""
        self._stop = True
        self._batch = []
        self._jobs.put(None)
        self._thread.join()

    def _wait(self, ready: Callable[[], bool]) -> None:
        with self._cond:
            self._waiting = True
            try:
                while not ready() and self._fatal is None and self._thread.is_alive():
                    self._cond.wait(1.0)
            finally:
                self._waiting = False

    def _check(self) -> None:
        if self._fatal is not None:
            raise self._fatal
        if not self._thread.is_alive() and self._seq > self.finished_seq:
            raise ScanError("the content-scan worker stopped")  # pragma: no cover

    def _run(self) -> None:
        diff_id = self._diff_id
        done = self.done
        try:
            while not self._stop:
                batch = self._jobs.get()
                if batch is None:
                    break
                scanned = 0
                for job in batch:
                    lf = job.lf
                    assert lf is not None
                    for scanner in job.scanners:
                        if self._stop:
                            return
                        job.outcomes.append(_run_scanner(scanner, lf, diff_id))
                    job.lf = None  # the bytes go now, not when the walk collects the job
                    scanned += len(lf.content)
                    done.append(job)
                with self._cond:
                    self._finished += scanned
                    self.finished_seq = batch[-1].seq
                    if self._waiting:
                        self._cond.notify()
        except BaseException as exc:  # not a scanner's failure (those are outcomes): the walk's
            with self._cond:
                self._fatal = exc
                self._cond.notify()


class _Collector:
    """Wanted files per analyzer, with a memory budget; runs analyzers when it is exceeded.

    Content scanners need no buffering: each wanted file is scanned as it goes by (inline,
    or on the ``_ScanWorker`` while the walk reads on) and only the findings are kept.
    """

    def __init__(
        self,
        analyzers: Sequence[Analyzer],
        limits: WalkLimits,
        diff_id: str,
        regular: dict[str, int],
    ) -> None:
        self.analyzers = analyzers
        self.limits = limits
        self.diff_id = diff_id
        self.files: dict[str, dict[PurePosixPath, LayerFile]] = {a.name: {} for a in analyzers}
        self.sizes: dict[str, int] = dict.fromkeys(self.files, 0)
        self.results: list[LayerFacts] = []
        self.unknowns: list[Unknown] = []
        #: what the content scanners found, by the path it is found at
        self.findings: dict[str, list[FileFinding]] = {}
        #: which content scanners scanned a path is kept in its ``regular`` record, what they
        #: found there (when they found something) here: a hard link to a scanned file
        #: reuses the result instead of reading the layer a second time
        self.regular = regular
        self.found: dict[tuple[str, str], tuple[FileFinding, ...]] = {}
        self._bits: dict[str, int] = {}
        self.buffered = 0
        self.worker: _ScanWorker | None = None
        #: path -> the last job submitted for it, until the walking thread applied it
        self.in_flight: dict[str, int] = {}

    def add(self, analyzer: Analyzer, lf: LayerFile) -> None:
        self.files[analyzer.name][lf.path] = lf
        self.sizes[analyzer.name] += lf.size
        self.buffered += lf.size
        while self.buffered > self.limits.max_buffered_bytes:
            biggest = max(self.analyzers, key=lambda a: self.sizes[a.name])
            self.run(biggest)

    def _bit(self, scanner: ContentScanner) -> int:
        bit = self._bits.get(scanner.name)
        if bit is None:
            if len(self._bits) >= _SCANNER_BITS:
                raise ScanError(f"more than {_SCANNER_BITS} content scanners")
            bit = self._bits[scanner.name] = 1 << len(self._bits)
        return bit

    def start_worker(self) -> None:
        self.worker = _ScanWorker(self.diff_id, self.limits.max_scan_queue_bytes)

    def scan(self, path: str, lf: LayerFile, scanners: Sequence[ContentScanner]) -> None:
        """Run ``scanners`` on the file at ``path`` (on the worker when there is one)."""
        worker = self.worker
        if worker is None or (
            lf.size < self.limits.scan_thread_min_size
            and not path.endswith(self.limits.scan_thread_suffixes)
        ):
            for sc in scanners:
                self._apply(sc, path, _run_scanner(sc, lf, self.diff_id))
            return
        if worker.done:
            self.collect()
        self.in_flight[path] = worker.submit(path, lf, list(scanners))

    def _apply(self, scanner: ContentScanner, path: str, outcome: _Outcome) -> None:
        if isinstance(outcome, str):
            self.unknowns.append(Unknown(path, scanner.name, outcome))
            return
        if path in self.regular:
            self.regular[path] |= self._bit(scanner)
        if outcome:
            self.found[path, scanner.name] = outcome
            self.findings.setdefault(path, []).extend(outcome)

    def collect(self) -> None:
        """Apply what the worker has scanned so far (on the walking thread)."""
        assert self.worker is not None
        done = self.worker.done
        in_flight = self.in_flight
        while done:
            job = done.popleft()
            for sc, outcome in zip(job.scanners, job.outcomes, strict=True):
                self._apply(sc, job.path, outcome)
            if in_flight.get(job.path) == job.seq:
                del in_flight[job.path]

    def settle(self, path: str) -> None:
        """Wait until every scan of ``path`` submitted so far was applied: before its record
        is rewritten (the same path again in the layer) or a hard link reuses its results."""
        seq = self.in_flight.get(path)
        if seq is not None:
            assert self.worker is not None
            self.worker.wait_for(seq)
            self.collect()

    def rewritten(self, path: str) -> None:
        """``path`` is written again in this layer: what was found in its earlier content is
        not in the layer (nor what a hard link to it would reuse)."""
        self.settle(path)
        if self.findings.pop(path, None) is not None:
            for name in self._bits:
                self.found.pop((path, name), None)

    def finish_scans(self) -> None:
        """Wait for the worker's last scan and apply everything (the walk is done)."""
        if self.worker is not None:
            self.worker.finish()
            self.collect()
            self.worker = None

    def close(self) -> None:
        """Stop the worker, if it still runs (the walk failed): nothing more is applied."""
        if self.worker is not None:
            self.worker.close()
            self.worker = None

    def reuse(self, scanner: ContentScanner, link: str, target: str) -> bool:
        """Copy ``scanner``'s findings of ``target`` to the hard link ``link``, if it has them."""
        if self.in_flight:
            self.settle(target)
        if not self.regular.get(target, 0) & self._bit(scanner):
            return False
        done = self.found.get((target, scanner.name), ())
        old, new = "/" + target, "/" + link
        self.findings.setdefault(link, []).extend(
            replace(f, path=new + f.path[len(old) :]) if f.path.startswith(old) else f for f in done
        )
        return True

    def run(self, analyzer: Analyzer) -> None:
        files = self.files[analyzer.name]
        if not files:
            return
        self.files[analyzer.name] = {}
        self.buffered -= self.sizes[analyzer.name]
        self.sizes[analyzer.name] = 0
        try:
            facts = analyzer.analyze(files)
        except Exception as exc:  # an analyzer bug or bad file must not fail the image
            reason = f"analyzer failed: {type(exc).__name__}: {exc}"[:500]
            self.unknowns.extend(Unknown(str(p), analyzer.name, reason) for p in files)
            return
        self.results.append(facts)

    def run_all(self) -> None:
        for a in self.analyzers:
            self.run(a)


class _Named(Protocol):
    name: ClassVar[str]

    def wants(self, path: PurePosixPath, info: FileInfo) -> bool: ...


_N = TypeVar("_N", bound=_Named)


def _wanting(analyzers: Sequence[_N], info: FileInfo, col: _Collector) -> list[_N]:
    out = []
    for a in analyzers:
        try:
            if a.wants(info.path, info):
                out.append(a)
        except Exception as exc:
            col.unknowns.append(Unknown(str(info.path), a.name, f"wants() failed: {exc}"[:500]))
    return out


def _read_member(tar: TarReader, entry: TarEntry) -> bytes:
    return tar.read_data(entry.size)


#: a hard link whose target must be read in a second pass: (target, analyzers, content
#: scanners, the link's entry)
_Pending = tuple[str, list[Analyzer], list[ContentScanner], TarEntry]


def walk_layer(
    layer: Layer,
    analyzers: Sequence[Analyzer],
    limits: WalkLimits = DEFAULT_LIMITS,
    content_scanners: Sequence[ContentScanner] = (),
) -> LayerFacts:
    """Stream ``layer`` once, run ``analyzers`` on the files they want and ``content_scanners``
    on the files they want, return its facts (findings stamped with the layer's diff_id)."""
    state = _LayerState()
    col = _Collector(analyzers, limits, layer.diff_id, state.regular)
    #: hard links wanted whose target was not kept (nor scanned): link path -> _Pending
    pending: dict[str, _Pending] = {}
    if content_scanners and limits.scan_threads:
        col.start_worker()
    try:
        with _open_tar_stream(layer, limits) as opened:
            _walk(layer, analyzers, content_scanners, limits, opened.stream, state, col, pending)
            opened.verify(layer)
        if pending:
            _resolve_pending_links(layer, limits, pending, col)
        col.finish_scans()
    finally:
        col.close()
    col.run_all()
    return _combine(col, state)


def _not_read(path: str, names: Sequence[str], reason: str, col: _Collector) -> None:
    col.unknowns.extend(Unknown(path, name, reason) for name in names)


def _walk(
    layer: Layer,
    analyzers: Sequence[Analyzer],
    content_scanners: Sequence[ContentScanner],
    limits: WalkLimits,
    stream: _LimitedTarStream,
    state: _LayerState,
    col: _Collector,
    pending: dict[str, _Pending],
) -> None:
    what = f"layer {layer.digest}"
    kept: dict[str, bytes] = {}  # content of wanted regular files, for hard links to them

    def forget(path: str) -> None:
        """The same path earlier in the layer: forget that content (its findings, what a
        hard link to it would read or reuse)."""
        col.rewritten(path)
        pending.pop(path, None)
        kept.pop(path, None)

    regular = state.regular
    max_file_size = limits.max_file_size
    for path, entry, tar in _iter_entries(stream, limits, state, what):
        kind = entry.kind
        if kind == HARDLINK:
            target = normalize_path(entry.linkname, limits)
            size = _size(regular[target]) if target in regular else entry.size
            info = FileInfo(_posix_path(path), size, entry.mode)
            wanted = _wanting(analyzers, info, col)
            scanners = _wanting(content_scanners, info, col)
            if target not in regular:
                names = [a.name for a in wanted] + [sc.name for sc in scanners]
                _not_read(path, names, f"hard link target {target!r} is not in the layer", col)
                continue
            if path in regular:
                forget(path)
            regular[path] = size << _SCANNER_BITS
            scanners = [s for s in scanners if not col.reuse(s, path, target)]
            if not wanted and not scanners:
                continue
            if target in kept:
                lf = LayerFile(info.path, len(kept[target]), entry.mode, kept[target])
                for a in wanted:
                    col.add(a, lf)
                if scanners:
                    col.scan(path, lf, scanners)
            else:
                pending[path] = (target, wanted, scanners, entry)
            continue
        if kind != REGULAR:
            continue
        size = entry.size
        if path in regular:
            forget(path)
        regular[path] = size << _SCANNER_BITS
        info = FileInfo(_posix_path(path), size, entry.mode)
        wanted = _wanting(analyzers, info, col)
        scanners = _wanting(content_scanners, info, col)
        if not wanted and not scanners:
            continue
        names = [a.name for a in wanted] + [sc.name for sc in scanners]
        if entry.sparse:
            _not_read(path, names, "sparse file not read", col)
            continue
        if size > max_file_size:
            reason = f"file is {size} bytes, above the {max_file_size}-byte cap"
            _not_read(path, names, reason, col)
            continue
        data = _read_member(tar, entry)
        lf = LayerFile(info.path, size, entry.mode, data)
        if wanted:
            kept[path] = data
            for a in wanted:
                col.add(a, lf)
        if scanners:
            col.scan(path, lf, scanners)


def _resolve_pending_links(
    layer: Layer,
    limits: WalkLimits,
    pending: Mapping[str, _Pending],
    col: _Collector,
) -> None:
    """Second pass: read the targets of wanted hard links (only when some were not kept)."""
    targets = {p[0] for p in pending.values()}
    found: dict[str, bytes] = {}
    what = f"layer {layer.digest} (hard links)"
    with _open_tar_stream(layer, limits, verify=False) as opened:
        for path, entry, tar in _iter_entries(opened.stream, limits, _LayerState(), what):
            if path in targets and entry.kind == REGULAR and path not in found:
                if entry.size > limits.max_file_size or entry.sparse:
                    continue
                found[path] = _read_member(tar, entry)
    for path, (target, wanted, scanners, entry) in sorted(pending.items()):
        data = found.get(target)
        if data is None:
            names = [a.name for a in wanted] + [sc.name for sc in scanners]
            _not_read(path, names, f"hard link target {target!r} not readable", col)
            continue
        lf = LayerFile(_posix_path(path), len(data), entry.mode, data)
        for a in wanted:
            col.add(a, lf)
        if scanners:
            col.scan(path, lf, scanners)


def component_sort_key(c: Component) -> tuple[str, ...]:
    return (
        c.type.value,
        c.name,
        c.version,
        c.path,
        c.purl,
        c.analyzer,
        c.source_name or "",
        c.source_version or "",
        c.layer or "",
    )


def _combine(col: _Collector, state: _LayerState) -> LayerFacts:
    from imagewarden.scan.analyzer.os_release import os_path_rank

    components: list[Component] = []
    unknowns = list(col.unknowns)
    oses: list[OsInfo] = []
    facts_paths: set[str] = set()  # besides state.regular: only what analyzers name
    for facts in col.results:
        components.extend(facts.components)
        unknowns.extend(facts.unknowns)
        facts_paths.update(p for p in facts.facts_paths if p not in state.regular)
        oses.extend(facts.os_files)
        if facts.os is not None and facts.os not in facts.os_files:
            oses.append(facts.os)
    os = min(oses, key=lambda o: (os_path_rank(o.path), o.path)) if oses else None
    return LayerFacts(
        os=os,
        components=tuple(sorted(set(components), key=component_sort_key)),
        unknowns=tuple(sorted(set(unknowns))),
        facts_paths=tuple(sorted([*state.regular, *facts_paths])),
        whiteouts=tuple(sorted(state.whiteouts)),
        opaque_dirs=tuple(sorted(state.opaque)),
        symlinks=tuple(sorted(state.symlinks.items())),
        os_files=tuple(sorted(set(oses), key=lambda o: o.path)),
        findings=tuple(sorted({f for found in col.findings.values() for f in found})),
    )


def resolve_symlinks(
    path: str, symlinks: Mapping[str, str], max_hops: int = 40
) -> tuple[str | None, str | None]:
    """Resolve ``path`` inside the image root, following ``symlinks`` (path → stored target).

    Absolute targets are rooted at the image root and ``..`` stops at the root, as in a
    chroot.  Returns ``(resolved path, None)`` or ``(None, reason)`` on a loop or too many
    hops; never follows a loop forever.
    """
    hops = 0
    todo = [p for p in path.split("/") if p not in ("", ".")]
    done: list[str] = []
    while todo:
        part = todo.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = "/".join([*done, part])
        target = symlinks.get(candidate)
        if target is None:
            done.append(part)
            continue
        hops += 1
        if hops > max_hops:
            return None, f"more than {max_hops} symlink hops (loop?) resolving {path!r}"
        if target.startswith("/"):
            done = []
        todo = [p for p in target.split("/") if p not in ("", ".")] + todo
    return "/".join(done), None
