"""Disk full for the per-layer cache (``--cache-dir``): the scan still gives its result, and
no partial cache entry is ever left for a later scan to read.

The cache is an optimisation: its facts were computed from verified layers in this very
scan, so a failed write loses nothing but the next scan's speed.  Failing the scan instead
would make every image with a new layer unscannable until an operator frees space, with no
gain in safety.  ``DirLayerCache`` writes a temporary file, fsyncs it and renames it into
place, so a reader only ever sees whole entries; an entry damaged behind its back is a miss
and is removed.

Two ways to fill the disk: a small tmpfs (needs root and ``mount``; skipped otherwise) and
``RLIMIT_FSIZE`` (works anywhere; CPython ignores SIGXFSZ, so the write fails with EFBIG).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imagewarden.scan.cache import DirLayerCache, decode_facts, encode_facts
from tests.testdata.images.build import make_image, write_oci_layout

OS_RELEASE = 'NAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n'
N_PACKAGES = 300


def _status(n: int) -> str:
    """A dpkg status of ``n`` packages: cached facts of a few tens of KiB."""
    return "\n".join(
        f"Package: pkg{i:04d}\nStatus: install ok installed\nArchitecture: amd64\n"
        f"Version: 1.{i}-1\nSource: src{i:04d}\n"
        for i in range(n)
    )


@pytest.fixture
def image_dir(tmp_path: Path) -> Path:
    base = {"etc/os-release": OS_RELEASE, "var/lib/dpkg/status": _status(N_PACKAGES)}
    app = {"var/lib/dpkg/status.d/app": "Package: app\nVersion: 9\n", "srv/app.conf": "x=1\n"}
    return write_oci_layout(tmp_path / "img", [("big:1", make_image([base, app]))])


def scan(image: Path, cache: Path, *, fsize_limit: int | None = None) -> tuple[dict[str, Any], str]:
    """``imagewarden scan --cache-dir`` in a subprocess; the report on stdout, the log."""

    def limit() -> None:
        if fsize_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize_limit, fsize_limit))

    proc = subprocess.run(
        [
            *(sys.executable, "-m", "imagewarden", "scan", f"oci:{image}"),
            *("--cache-dir", str(cache), "--format", "json", "--scanners", "risk,virus"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        preexec_fn=limit,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report: dict[str, Any] = json.loads(proc.stdout)
    return report, proc.stderr


def components(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c["name"], c["version"]) for c in report["components"]}


def entries(cache: Path) -> dict[str, bytes]:
    """Every file in the cache directory (entries and temporary files alike)."""
    return {p.name: p.read_bytes() for p in cache.iterdir()} if cache.exists() else {}


def assert_only_whole_entries(cache: Path) -> None:
    for name, data in entries(cache).items():
        assert name.endswith(".json") and not name.startswith("."), f"left over: {name}"
        decode_facts(data)  # a whole, valid entry


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    size = 256 * 1024
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(mnt)],
            capture_output=True,
            check=False,
        )
    except FileNotFoundError:
        pytest.skip("no mount command")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace')}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True)


def fill(mnt: Path, leave: int) -> Path:
    """Fill the filesystem at ``mnt`` until about ``leave`` bytes are free."""
    filler = mnt / "filler"
    st = os.statvfs(mnt)
    free = st.f_bavail * st.f_frsize
    with filler.open("wb") as fh:
        fh.write(b"\0" * max(0, free - leave))
    return filler


def test_full_tmpfs_cache_scan_still_succeeds_and_leaves_no_partial_entry(
    image_dir: Path, small_tmpfs: Path, tmp_path: Path
) -> None:
    reference, _ = scan(image_dir, tmp_path / "roomy-cache")
    want = components(reference)
    assert len(want) == N_PACKAGES + 1
    big_entry = max(len(d) for d in entries(tmp_path / "roomy-cache").values())
    assert big_entry > 16 * 1024  # a write that cannot fit in what fill() leaves free

    cache = small_tmpfs / "cache"
    filler = fill(small_tmpfs, leave=8 * 1024)  # room for the small layer's entry, not the big
    report, log = scan(image_dir, cache)
    assert components(report) == want
    assert [layer["cached"] for layer in report["layers"]] == [False, False]
    assert "layer cache write" in log and "No space left on device" in log
    assert_only_whole_entries(cache)
    assert len(entries(cache)) <= 1  # the big layer's entry is not there, not even in part

    # a second scan on the still-full disk: same result, still nothing partial read or left
    again, _ = scan(image_dir, cache)
    assert components(again) == want
    assert_only_whole_entries(cache)

    # space comes back: the cache fills and is used
    filler.unlink()
    scan(image_dir, cache)
    assert len(entries(cache)) == 2
    assert_only_whole_entries(cache)
    warm, _ = scan(image_dir, cache)
    assert [layer["cached"] for layer in warm["layers"]] == [True, True]
    assert components(warm) == want


def test_file_size_limit_on_cache_writes_is_not_a_scan_error(
    image_dir: Path, tmp_path: Path
) -> None:
    reference, _ = scan(image_dir, tmp_path / "reference-cache")
    sizes = sorted(len(d) for d in entries(tmp_path / "reference-cache").values())
    limit = (sizes[0] + sizes[-1]) // 2  # the small entry fits, the big one is cut at `limit`
    assert sizes[0] < limit < sizes[-1]

    cache = tmp_path / "cache"
    report, log = scan(image_dir, cache, fsize_limit=limit)
    assert components(report) == components(reference)
    assert "layer cache write" in log and "File too large" in log
    assert_only_whole_entries(cache)
    assert len(entries(cache)) == 1

    warm, _ = scan(image_dir, cache)  # no limit: the base layer's entry is written now
    assert [layer["cached"] for layer in warm["layers"]] == [False, True]
    assert components(warm) == components(reference)
    assert len(entries(cache)) == 2


def test_truncated_entry_is_a_miss_and_is_replaced(image_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    reference, _ = scan(image_dir, cache)
    big = max(entries(cache).items(), key=lambda kv: len(kv[1]))
    path = cache / big[0]
    path.write_bytes(big[1][: len(big[1]) // 2])  # a torn copy, as a crashed `cp` leaves

    report, log = scan(image_dir, cache)
    assert components(report) == components(reference)
    assert sorted(layer["cached"] for layer in report["layers"]) == [False, True]
    assert "corrupt; removed" in log
    assert path.read_bytes() == big[1]  # walked again and written whole
    assert_only_whole_entries(cache)


def test_put_on_a_full_disk_logs_and_leaves_no_temporary_file(
    small_tmpfs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The same, in process: ``put`` never raises ``OSError`` and cleans up its temp file;
    a corrupt entry is removed by ``get``."""
    from imagewarden.scan.model import Component, ComponentType, LayerFacts

    facts = LayerFacts(
        components=tuple(
            Component(
                ComponentType.DEB, f"p{i}", "1", "var/lib/dpkg/status", f"pkg:deb/p{i}@1", "dpkg"
            )
            for i in range(500)
        )
    )
    assert 32 * 1024 < len(encode_facts(facts)) < 128 * 1024  # above what is left, below the fs
    cache = DirLayerCache(small_tmpfs / "c")
    fill(small_tmpfs, leave=16 * 1024)
    key = uuid.uuid4().hex * 2
    cache.put(key, facts)
    assert entries(small_tmpfs / "c") == {}
    assert cache.get(key) is None and cache.missing([key]) == {key}
    assert "No space left on device" in caplog.text

    (small_tmpfs / "filler").unlink()
    cache.put(key, facts)
    assert cache.get(key) == facts
    (small_tmpfs / "c" / f"{key}.json").write_bytes(b'{"components": [')
    assert cache.get(key) is None
    assert entries(small_tmpfs / "c") == {}
