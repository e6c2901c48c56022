"""Hostile images (issue 8 §3), built by the tests as real OCI layouts.

Each image is scanned twice:

- by ``imagewarden scan`` in a fresh Python process that first scans a good image (imports,
  rule compilation) and then reports how much its peak RSS (``ru_maxrss``) grew during the
  hostile scan; that process runs in an empty working directory with an empty ``TMPDIR``
  and ``HOME``, and afterwards only the layer cache directory may hold anything;
- by a real server, in one scan task with all of them and a good image queued last: every
  hostile image ends ``SCAN_ERR`` with a reason (or ``SCANNED``, for the ones that are safe
  to scan: device nodes, absolute names, link loops, nested archives) and the good image
  scans as it would alone.

The walker-level unit tests (tests/scan/test_walker.py, tests/scan/source/test_oci.py,
tests/scan/malware/test_scanner.py) test the same rules with small, tightened limits; these
run at the default limits, at the sizes the issue names.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.hardening import hostile
from tests.hardening.proc import ServerProcess, post

MiB_KIB = 1024  # ru_maxrss is in KiB


@dataclass(frozen=True)
class Case:
    build: Callable[[Path, Path], tuple[Path, str]]  # (root, marker) → (layout, image ID)
    #: a regex the scan error must match; None: the image is safe to scan and must succeed
    error: str | None
    #: peak RSS growth allowed for the hostile scan
    max_growth_mib: int = 64
    #: applied after registration (the image changes on disk after it was added)
    tamper: Callable[[Path, str], None] | None = None


def _m(fn: Callable[[Path], tuple[Path, str]]) -> Callable[[Path, Path], tuple[Path, str]]:
    return lambda root, marker: fn(root)


CASES: dict[str, Case] = {
    "traversal": Case(hostile.traversal, r"escapes the image root"),
    "absolute-path": Case(hostile.absolute, None),  # /tmp/x is <root>/tmp/x, as tar has it
    "symlink-then-write": Case(hostile.symlink_write, r"written through symlink"),
    "hardlink-outside": Case(_m(hostile.hardlink_out), r"escapes the image root"),
    "device-nodes": Case(_m(hostile.device_nodes), None),
    "symlink-loops": Case(_m(hostile.symlink_loops), None),
    "gzip-bomb": Case(_m(hostile.gzip_bomb), r"compression ratio above 250"),
    # one record per file (its path -> size and which scanners read it; ~105 bytes, measured
    # 102 MiB for the million): bounded by max_entries (1,000,000), not by the buffer budget
    "million-entries": Case(
        _m(hostile.million_entries), r"more than 1000000 entries", max_growth_mib=160
    ),
    "sparse-100GB": Case(_m(hostile.sparse_entry), r"100000000000 bytes \(limit"),
    "huge-blob": Case(_m(hostile.huge_blob), r"blob is 100000000000 bytes, above the"),
    "understated-blob": Case(
        _m(hostile.understated_blob), r"the blob is 100000000000 bytes, its manifest declares 10240"
    ),
    "config-mismatch": Case(
        _m(hostile.config_mismatch), r"digest mismatch", tamper=hostile.tamper_config
    ),
    "layer-mismatch": Case(_m(hostile.layer_mismatch), r"digest mismatch"),
    "nested-archives": Case(_m(hostile.nested_archives), None),
}

SCAN_AND_MEASURE = """
import json, resource, sys
from imagewarden.cli.main import app

def scan(source, out):
    try:
        return app(
            ["scan", source, "--cache-dir", sys.argv[3], "--format", "json", "--output", out],
            standalone_mode=False,
        ) or 0
    except SystemExit as exc:
        return exc.code

assert scan(sys.argv[1], sys.argv[4] + "/good.json") == 0
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
rc = scan(sys.argv[2], sys.argv[4] + "/hostile.json")
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rc": rc, "growth_kib": after - before}))
"""


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Path, str]]]:
    """Every case's image, plus ``good``, built once; the 100 GB sparse blob is removed
    at the end (it takes no space, but tools that add up sizes would not know)."""
    root = tmp_path_factory.mktemp("hostile")
    marker = root / "outside" / f"iw-escape-{uuid.uuid4().hex}"
    marker.parent.mkdir()
    out = {"good": hostile.good(root / "good")}
    for name, case in CASES.items():
        layout, image_id = case.build(root / name, marker)
        if case.tamper is not None:
            case.tamper(layout, image_id)
        out[name] = (layout, image_id)
    out["marker"] = (marker, "")
    yield out
    for name in ("huge-blob", "understated-blob"):
        for blob in (root / name / "blobs" / "sha256").iterdir():
            if blob.stat().st_size > 10**9:
                blob.unlink()


def _assert_no_escape(marker: Path) -> None:
    assert not marker.exists()
    assert list(marker.parent.iterdir()) == []
    assert not Path("/dev/iw-hostile-node").exists()
    assert not Path("/tmp", marker.name).exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_hostile_image_scan_is_bounded_and_writes_only_its_cache(
    name: str, built: dict[str, tuple[Path, str]], tmp_path: Path
) -> None:
    case = CASES[name]
    layout, _ = built[name]
    marker = built["marker"][0]
    work, tmp, home, out, cache = (tmp_path / d for d in ("cwd", "tmp", "home", "out", "cache"))
    for d in (work, tmp, home, out):
        d.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEWARDEN_")}
    env.update(TMPDIR=str(tmp), HOME=str(home))
    proc = subprocess.run(
        [
            *(sys.executable, "-c", SCAN_AND_MEASURE),
            *(f"oci:{built['good'][0]}", f"oci:{layout}", str(cache), str(out)),
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    stderr = " ".join(proc.stderr.split())  # rich wraps long lines

    if case.error is None:
        assert result["rc"] == 0, stderr[-2000:]
        report: dict[str, Any] = json.loads((out / "hostile.json").read_text())
        assert report["image_id"] == built[name][1]
        _check_safe_report(name, report)
    else:
        assert result["rc"] == 1, stderr[-2000:]
        assert "scan failed" in stderr and re.search(case.error, stderr), stderr[-2000:]
        assert "Traceback" not in stderr
    assert result["growth_kib"] < case.max_growth_mib * MiB_KIB, result

    # nothing written anywhere but the cache (whole entries only) and the report
    assert _tree(work) == [] and _tree(tmp) == [] and _tree(home) == []
    assert all(p.suffix == ".json" and not p.name.startswith(".") for p in cache.iterdir()), _tree(
        cache
    )
    assert {p.name for p in out.iterdir()} <= {"good.json", "hostile.json"}
    _assert_no_escape(marker)


def _check_safe_report(name: str, report: dict[str, Any]) -> None:
    names = {c["name"] for c in report["components"]}
    if name in ("absolute-path", "device-nodes"):
        assert report["os"]["name"] == "debian:12" and names == {"libc6"}
    elif name == "symlink-loops":
        assert report["os"] is None  # os-release is a loop: no OS, no hang
        assert names == {"libc6"}
    elif name == "nested-archives":
        malware = next(o for o in report["outcomes"] if o["category"] == "malware")
        assert malware["error"] is None and malware["findings"] == []
        reasons = [u["reason"] for u in malware["unknowns"]]
        assert any(r.startswith("archive-depth:") for r in reasons), reasons
        assert any(r.startswith("archive-bytes:") for r in reasons), reasons
        assert all(len(u["path"]) < 4096 for u in malware["unknowns"])
    else:  # pragma: no cover - every safe case is named above
        raise AssertionError(name)


# --- through the server ---------------------------------------------------------------------


@pytest.mark.slow
def test_one_task_with_every_hostile_image_and_a_good_one(
    built: dict[str, tuple[Path, str]], tmp_path: Path
) -> None:
    srv = ServerProcess(
        f"sqlite:///{tmp_path / 'iw.db'}",
        tmp_path,
        extra=("--scan-workers", "1", "--no-rate-limits", "--cache-dir", str(tmp_path / "cache")),
    )
    account = f"hostile-{uuid.uuid4().hex[:8]}"
    sid, skey, _ = srv.service.create_key(account)
    names = [*CASES, "good"]  # the good image is queued last: it runs after all the others
    for name in names:
        layout, _ = built[name]
        case = CASES.get(name)
        if case is not None and case.tamper is not None:
            continue  # a tampered image is refused at registration; added below, untampered
        _add(srv, account, layout)
    # registered while intact, then changed on disk: the scan must notice
    fresh, image_id = hostile.config_mismatch(tmp_path / "cfg-late")
    _add(srv, account, fresh)
    hostile.tamper_config(fresh, image_id)
    expected = {built[n][1]: n for n in names if n != "config-mismatch"} | {
        image_id: "config-mismatch"
    }

    srv.start()
    try:
        with httpx.Client(timeout=120) as c:
            task = post(c, srv.endpoint, sid, skey, "CreateAssetImageScanTask", {"All": True})
            deadline = time.monotonic() + 900
            while True:
                st = post(
                    c,
                    srv.endpoint,
                    sid,
                    skey,
                    "DescribeAssetImageScanStatus",
                    {"TaskID": task["TaskID"]},
                )
                if st["Status"] == "END":
                    break
                assert time.monotonic() < deadline, st
                time.sleep(1)
            assert st["ImageTotal"] == st["ImageScanCnt"] == len(expected)
            listing = post(c, srv.endpoint, sid, skey, "DescribeAssetImageList", {"Limit": 100})
            summary = post(c, srv.endpoint, sid, skey, "DescribeAssetImageScanTask", {})
    finally:
        srv.close()

    rows = {r["ImageID"]: r for r in listing["List"]}
    assert set(rows) == set(expected)
    for image_id, name in expected.items():
        row = rows[image_id]
        case = CASES.get(name)
        if case is None or case.error is None:
            assert row["ScanStatus"] == "SCANNED", (name, row)
        else:
            assert row["ScanStatus"] == "SCAN_ERR", (name, row)
            assert re.search(case.error, row["ScanError"] or ""), (name, row["ScanError"])
    good = rows[built["good"][1]]
    assert (good["ComponentCnt"], good["VirusCnt"]) == (1, 0), good
    assert summary["Status"] == "END" and summary["SubStatus"] == "Error"  # the failures
    logs = srv.logs()
    assert "Traceback" not in logs, logs[-3000:]
    cache = tmp_path / "cache"
    assert all(p.suffix == ".json" and not p.name.startswith(".") for p in cache.iterdir())
    _assert_no_escape(built["marker"][0])


def _add(srv: ServerProcess, account: str, layout: Path) -> None:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "imagewarden", "images", "add", f"oci:{layout}"),
            *("--account", account, "--db", srv.db_url, "--key-file", str(srv.key_file)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
