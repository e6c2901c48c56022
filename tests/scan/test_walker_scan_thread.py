"""The walk's content-scan worker (``WalkLimits.scan_threads``): the same facts as scanning
inline (planted secrets and malware, hard links, a path written twice, a failing scanner),
bytes in flight bounded, and no thread left behind when the walk fails mid-layer."""

from __future__ import annotations

import hashlib
import io
import random
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import PurePosixPath
from typing import IO, Any, ClassVar, cast

import pytest

from imagewarden.scan import walker
from imagewarden.scan.analyzer.base import FileInfo, LayerFile
from imagewarden.scan.detect.base import ContentScanner, FileFinding, FindingCategory
from imagewarden.scan.errors import LayerReadError, UnsafeArchiveError
from imagewarden.scan.malware import HashBlocklist, MalwareScanner
from imagewarden.scan.model import Digest, LayerFacts
from imagewarden.scan.secrets import SecretScanner
from imagewarden.scan.source.base import Layer
from imagewarden.scan.walker import WalkLimits, walk_layer
from tests.scan.conftest import as_layer
from tests.scan.malware.conftest import EICAR, tar_bytes, zip_bytes
from tests.testdata.images.build import BuiltLayer, File, Hardlink, make_layer
from tests.testdata.images.planted_secrets import ENV_FILE, GITHUB_TOKEN, secrets_image

INLINE = WalkLimits(scan_threads=0)
#: every file through the worker (the default sends only files of 64 KiB and more)
THREADED = WalkLimits(scan_threads=1, scan_thread_min_size=0)
#: a queue far smaller than the layer: the walk waits for the worker again and again
TIGHT = WalkLimits(scan_threads=1, scan_thread_min_size=0, max_scan_queue_bytes=64 * 1024)
#: the default split: small files inline, larger ones on the worker
SPLIT = WalkLimits(scan_threads=1, scan_thread_min_size=16 * 1024)
DROPPER = b"#!/bin/sh\nexec /tmp/.x/kthreadd\n"


class _Boom:
    """Fails on ``*.boom`` files: an ``Unknown`` per file, never a failed walk."""

    name: ClassVar[str] = "boom"
    category: ClassVar[FindingCategory] = FindingCategory.SECRET

    def fingerprint(self) -> str:
        return "boom"

    def wants(self, path: PurePosixPath, info: FileInfo) -> bool:
        return path.suffix == ".boom"

    def scan(self, file: LayerFile) -> tuple[FileFinding, ...]:
        raise RuntimeError(f"kaboom at {file.path}")


def _filler(n: int, seed: int = 7) -> list[tuple[str, bytes]]:
    """``n`` clean text files of 1-40 KiB (enough bytes that batches go to the worker)."""
    rng = random.Random(seed)
    words = [b"alpha", b"beta", b"gamma", b"delta", b"lorem", b"ipsum", b"\n"]
    return [
        (f"srv/notes/p{i}.txt", b" ".join(rng.choices(words, k=rng.randint(200, 8000))))
        for i in range(n)
    ]


def _mixed_layer() -> BuiltLayer:
    """Planted secrets and malware among clean files; hard links to scanned files (right
    after their target and far after it), a path written twice with a hard link to the
    second version, and files the failing scanner wants."""
    bundle = tar_bytes({"lib/plugins.zip": zip_bytes({"p/eicar.com": EICAR})})
    fill = _filler(300)
    entries: list[tuple[str, Any]] = [
        ("app/.env", ENV_FILE),
        ("app/env-link", Hardlink("app/.env")),
        ("srv/eicar.com", EICAR),
        ("usr/local/bin/init.sh", File(DROPPER, 0o755)),
        ("opt/bundle.tar", bundle),
        ("x/a.boom", b"boom"),
        *fill[:150],
        ("dup/creds", f"https://bot:{GITHUB_TOKEN}@github.com\n"),
        *fill[150:200],
        ("dup/creds", b"nothing to see\n"),
        ("dup/link", Hardlink("dup/creds")),
        ("home/app/.git-credentials", f"https://bot:{GITHUB_TOKEN}@github.com\n"),
        *fill[200:],
        ("y/b.boom", b"boom again"),
        ("late/env-link", Hardlink("app/.env")),
        ("late/eicar-link", Hardlink("srv/eicar.com")),
    ]
    return make_layer(entries)


def _scanners() -> list[ContentScanner]:
    blocklist = HashBlocklist.from_entries(
        [
            ("sha256", hashlib.sha256(DROPPER).hexdigest(), "Linux.Dropper.Test"),
            ("md5", hashlib.md5(EICAR).hexdigest(), "Eicar.Md5"),
        ]
    )
    return [_Boom(), SecretScanner(), MalwareScanner(blocklist=blocklist)]


def _walk(layer: BuiltLayer, limits: WalkLimits) -> LayerFacts:
    return walk_layer(as_layer(layer), (), limits, _scanners())


def _threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "iw-content-scan"]


@pytest.mark.parametrize("limits", [THREADED, TIGHT, SPLIT], ids=["threaded", "tight", "split"])
def test_threaded_walk_gives_the_inline_facts(limits: WalkLimits) -> None:
    layer = _mixed_layer()
    inline = _walk(layer, INLINE)
    assert _walk(layer, limits) == inline
    assert _threads() == []
    # the comparison is about something: what was planted is there, links included
    found = {(f.path, f.rule_id) for f in inline.findings}
    assert {
        ("/app/.env", "aws-access-key-id"),
        ("/app/env-link", "aws-access-key-id"),
        ("/late/env-link", "aws-access-key-id"),
        ("/srv/eicar.com", "yara:EICAR_Test_File"),
        ("/srv/eicar.com", "hash:md5"),
        ("/late/eicar-link", "yara:EICAR_Test_File"),
        ("/usr/local/bin/init.sh", "hash:sha256"),
        ("/opt/bundle.tar", "yara:EICAR_Test_File"),
        ("/home/app/.git-credentials", "github-token"),
    } <= found
    # rewritten with clean bytes further on in the layer: neither the path nor a hard link
    # to it reports what its first content held
    assert {p for p, _ in found} & {"/dup/creds", "/dup/link"} == set()
    assert [(u.path, u.analyzer) for u in inline.unknowns] == [
        ("x/a.boom", "boom"),
        ("y/b.boom", "boom"),
    ]
    assert all(f.layer == layer.diff_id for f in inline.findings)


def test_planted_secrets_image_layers_same_either_way() -> None:
    for built in secrets_image().image.layers:
        inline = walk_layer(as_layer(built), (), INLINE, [SecretScanner()])
        assert walk_layer(as_layer(built), (), THREADED, [SecretScanner()]) == inline


def test_hard_link_right_after_its_target_waits_for_the_target_scan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The link reuses the target's findings only once the worker scanned the target (the
    walk waits for it; the link is not read or scanned again)."""
    waits: list[int] = []
    real_wait = walker._ScanWorker.wait_for

    def spy(self: walker._ScanWorker, seq: int) -> None:
        waits.append(seq)
        real_wait(self, seq)

    monkeypatch.setattr(walker._ScanWorker, "wait_for", spy)
    layer = make_layer([("app/.env", ENV_FILE), ("app/link", Hardlink("app/.env"))])
    scanned: list[str] = []

    class Recording(SecretScanner):
        def scan(self, file: LayerFile) -> tuple[FileFinding, ...]:
            scanned.append(str(file.path))
            return super().scan(file)

    facts = walk_layer(as_layer(layer), (), THREADED, [Recording()])
    assert waits == [1]
    assert scanned == ["app/.env"]
    paths = {f.path for f in facts.findings}
    assert paths == {"/app/.env", "/app/link"}


def test_bytes_waiting_for_the_worker_stay_under_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    cap = 64 * 1024
    queued: list[tuple[int, int]] = []  # (bytes submitted and not scanned, this file's size)
    real_submit = walker._ScanWorker.submit

    def spy(self: walker._ScanWorker, path: str, lf: LayerFile, scanners: Any) -> int:
        seq = real_submit(self, path, lf, scanners)
        queued.append((self._submitted - self._finished, lf.size))
        return seq

    monkeypatch.setattr(walker._ScanWorker, "submit", spy)
    big = ("big/blob.txt", b"x" * (3 * cap))  # larger than the cap: let through alone
    layer = make_layer([*_filler(120), big, *_filler(40, seed=9)])
    facts = walk_layer(as_layer(layer), (), TIGHT, [SecretScanner()])
    assert len(queued) == 161
    assert sum(size for _, size in queued) > 10 * cap
    assert all(q <= cap or q == size for q, size in queued)
    assert facts == walk_layer(as_layer(layer), (), INLINE, [SecretScanner()])


class _Gate:
    """A scanner whose first scan blocks until the layer's stream breaks (``release``)."""

    name: ClassVar[str] = "gate"
    category: ClassVar[FindingCategory] = FindingCategory.SECRET

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.calls = 0

    def fingerprint(self) -> str:
        return "gate"

    def wants(self, path: PurePosixPath, info: FileInfo) -> bool:
        return True

    def scan(self, file: LayerFile) -> tuple[FileFinding, ...]:
        self.calls += 1
        self.started.set()
        assert self.release.wait(30), "the walk never failed"
        return ()


class _Breaking(io.RawIOBase):
    """``data`` up to ``at`` bytes, then (once the gate's first scan is under way) an error."""

    def __init__(self, data: bytes, at: int, before: Callable[[], None]) -> None:
        self._data = data
        self._at = at
        self._pos = 0
        self._before = before

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self._at:
            self._before()
            raise OSError("disk went away")
        n = min(len(buffer), self._at - self._pos)
        buffer[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


def _layer_from(built: BuiltLayer, stream: Callable[[], io.RawIOBase]) -> Layer:
    return Layer(
        Digest(built.digest),
        Digest(built.diff_id),
        built.media_type,
        len(built.blob),
        open=lambda: cast(IO[bytes], stream()),
    )


def test_walk_failing_mid_layer_stops_the_worker() -> None:
    """A read error while the worker is busy: the walk raises, and the worker is stopped
    and joined (no thread left; files still queued are dropped, not scanned)."""
    files = [(f"d/f{i}.txt", bytes([65 + i % 26]) * (1200 * 1024)) for i in range(12)]
    built = make_layer(files, compression="none")
    gate = _Gate()

    def before_error() -> None:
        assert gate.started.wait(30), "the worker never got a file"
        gate.release.set()

    layer = _layer_from(built, lambda: _Breaking(built.blob, len(built.blob) // 2, before_error))
    with pytest.raises(LayerReadError, match="disk went away"):
        walk_layer(layer, (), THREADED, [gate])
    assert _threads() == []
    assert gate.calls >= 1


def test_walk_refusing_a_layer_mid_way_stops_the_worker() -> None:
    built = make_layer(_filler(200))
    with pytest.raises(UnsafeArchiveError, match="more than 150 entries"):
        walk_layer(as_layer(built), (), replace(THREADED, max_entries=150), [SecretScanner()])
    assert _threads() == []


def test_only_inline_or_one_worker() -> None:
    with pytest.raises(ValueError, match="scan_threads"):
        WalkLimits(scan_threads=2)


class _WhereScanned:
    """Records the thread each file is scanned on."""

    name: ClassVar[str] = "where"
    category: ClassVar[FindingCategory] = FindingCategory.SECRET

    def __init__(self) -> None:
        self.threads: dict[str, str] = {}

    def fingerprint(self) -> str:
        return "where"

    def wants(self, path: PurePosixPath, info: FileInfo) -> bool:
        return True

    def scan(self, file: LayerFile) -> tuple[FileFinding, ...]:
        self.threads[str(file.path)] = threading.current_thread().name
        return ()


def test_small_compressed_files_go_to_the_worker_small_others_stay_inline() -> None:
    # the default split: size decides, except for compressed files, worth more than their
    # size to a scanner that inflates them
    layer = make_layer(
        [
            ("usr/share/doc/x/changelog.Debian.gz", b"\x1f\x8b small"),
            ("usr/share/doc/x/copyright", b"small text"),
            ("opt/big.bin", b"\x00" * (WalkLimits().scan_thread_min_size + 1)),
        ]
    )
    where = _WhereScanned()
    walk_layer(as_layer(layer), (), WalkLimits(), [where])
    main = threading.current_thread().name
    assert where.threads == {
        "usr/share/doc/x/changelog.Debian.gz": "iw-content-scan",
        "usr/share/doc/x/copyright": main,
        "opt/big.bin": "iw-content-scan",
    }
