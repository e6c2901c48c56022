"""SIGKILL the server while its scan worker is inside a scan; restart; the task completes.

A real ``imagewarden serve --scan-workers 1`` scans a task of images large enough (many
files each) that the kill lands while one of them is SCANNING (read from the database).
After the restart on the same store, the queued jobs run, the killed job is claimed again
once its lease runs out (nobody heartbeats it any more), and at the end every image is
SCANNED with exactly the results a clean scan gives (no duplicate rows from the killed
attempt), nothing is left in SCANNING and the task is END.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from imagewarden.store.engine import make_engine
from tests.hardening.proc import ServerProcess, post
from tests.scan.malware.conftest import EICAR
from tests.testdata.images.build import make_image, write_oci_layout

N_IMAGES = 3
N_FILES = 12_000  # per image: seconds of scanning on a shared 2-core machine
OS_RELEASE = 'NAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n'
LEASE_SECONDS = 60  # the embedded scan pool's lease (jobs/worker.py)


def _status(n: int) -> str:
    return "\n".join(
        f"Package: p{n}x{i}\nStatus: install ok installed\nVersion: 1.{i}\n" for i in range(n)
    )


def build_images(root: Path) -> dict[str, tuple[Path, int]]:
    """``N_IMAGES`` distinct images (nothing shared, so no layer comes from the cache); image
    ``k`` has ``k + 2`` packages and one EICAR file.  → {image ID: (layout, packages)}."""
    out: dict[str, tuple[Path, int]] = {}
    for k in range(N_IMAGES):
        tree: dict[str, bytes | str] = {
            "etc/os-release": OS_RELEASE,
            "var/lib/dpkg/status": _status(k + 2),
            f"srv/drop{k}/eicar.com": EICAR,
        }
        for i in range(N_FILES):
            tree[f"usr/share/img{k}/d{i // 400}/f{i}.txt"] = f"image {k} file {i} " * 20
        image = make_image([tree])
        out[image.config_digest] = (
            write_oci_layout(root / f"img{k}", [(f"kill{k}:1", image)]),
            k + 2,
        )
    return out


def db_rows(url: str, account_id: int) -> dict[str, Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            status = dict(
                conn.execute(
                    text("SELECT image_id, scan_status FROM images WHERE account_id = :a"),
                    {"a": account_id},
                ).all()
            )
            jobs = [
                tuple(r)
                for r in conn.execute(
                    text(
                        "SELECT image_id, state, attempt FROM scan_jobs WHERE account_id = :a"
                        " ORDER BY id"
                    ),
                    {"a": account_id},
                )
            ]
            components = dict(
                conn.execute(
                    text(
                        "SELECT i.image_id, count(c.id) FROM images i"
                        " LEFT JOIN image_components c ON c.image_pk = i.id"
                        " WHERE i.account_id = :a GROUP BY i.image_id"
                    ),
                    {"a": account_id},
                ).all()
            )
            viruses = dict(
                conn.execute(
                    text(
                        "SELECT i.image_id, count(v.id) FROM images i"
                        " LEFT JOIN image_viruses v ON v.image_pk = i.id"
                        " WHERE i.account_id = :a GROUP BY i.image_id"
                    ),
                    {"a": account_id},
                ).all()
            )
    finally:
        engine.dispose()
    return {"status": status, "jobs": jobs, "components": components, "viruses": viruses}


@pytest.fixture
def srv(db_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    s = ServerProcess(
        db_url,
        tmp_path,
        extra=(
            "--scan-workers",
            "1",
            "--no-rate-limits",
            "--cache-dir",
            str(tmp_path / "cache"),
        ),
    )
    s.start()
    try:
        yield s
    finally:
        s.close()


@pytest.mark.slow
def test_sigkill_during_a_scan_the_job_is_retried_after_its_lease(
    srv: ServerProcess, tmp_path: Path
) -> None:
    images = build_images(tmp_path / "images")
    account = f"kill-{uuid.uuid4().hex[:8]}"
    sid, skey, acct = srv.service.create_key(account)
    added = subprocess.run(
        [sys.executable, "-m", "imagewarden", "images", "add"]
        + [f"oci:{path}" for path, _ in images.values()]
        + ["--account", account, "--db", srv.db_url, "--key-file", str(srv.key_file)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert added.returncode == 0, added.stdout + added.stderr

    with httpx.Client(timeout=60) as c:
        task_id = post(c, srv.endpoint, sid, skey, "CreateAssetImageScanTask", {"All": True})[
            "TaskID"
        ]
        assert task_id

        # kill while an image is SCANNING, a moment after it started (mid-walk)
        deadline = time.monotonic() + 300
        while not _scanning(srv.db_url, acct):
            assert time.monotonic() < deadline, "no image ever reached SCANNING"
            time.sleep(0.05)
        time.sleep(0.5)
        srv.sigkill()

        after_kill = db_rows(srv.db_url, acct)
        in_flight = [i for i, s in after_kill["status"].items() if s == "SCANNING"]
        assert len(in_flight) == 1, after_kill  # the kill landed inside a scan
        victim = in_flight[0]
        assert (victim, "running", 1) in after_kill["jobs"], after_kill
        assert after_kill["components"][victim] == 0  # the killed attempt wrote no results

        srv.start()  # same store, same port, same cache directory
        deadline = time.monotonic() + LEASE_SECONDS + 400
        while True:
            st = post(
                c, srv.endpoint, sid, skey, "DescribeAssetImageScanStatus", {"TaskID": task_id}
            )
            assert "Error" not in st, st
            if st["Status"] == "END":
                break
            assert time.monotonic() < deadline, f"the task did not finish: {st}"
            time.sleep(1)
        assert (st["ImageTotal"], st["ImageScanCnt"], st["Schedule"]) == (N_IMAGES,) * 2 + (100,)
        summary = post(c, srv.endpoint, sid, skey, "DescribeAssetImageScanTask", {})
        assert (summary["TaskID"], summary["Status"]) == (task_id, "END")
        assert summary["SubStatus"] == "Success", summary
        listing = post(c, srv.endpoint, sid, skey, "DescribeAssetImageList", {"Limit": 100})

    rows = {r["ImageID"]: r for r in listing["List"]}
    assert set(rows) == set(images)
    for image_id, (_, packages) in images.items():
        assert rows[image_id]["ScanStatus"] == "SCANNED", rows[image_id]
        assert rows[image_id]["ComponentCnt"] == packages, rows[image_id]
        assert rows[image_id]["VirusCnt"] == 1, rows[image_id]

    final = db_rows(srv.db_url, acct)
    assert "SCANNING" not in final["status"].values()
    assert final["components"] == {i: p for i, (_, p) in images.items()}  # no duplicates
    assert final["viruses"] == dict.fromkeys(images, 1)
    jobs = {image_id: (state, attempt) for image_id, state, attempt in final["jobs"]}
    assert jobs.pop(victim) == ("done", 2)  # retried once, after the lease
    assert set(jobs.values()) == {("done", 1)}
    assert "Traceback" not in srv.logs()


def _scanning(url: str, account_id: int) -> list[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [
                r[0]
                for r in conn.execute(
                    text(
                        "SELECT image_id FROM images WHERE account_id = :a"
                        " AND scan_status = 'SCANNING'"
                    ),
                    {"a": account_id},
                )
            ]
    finally:
        engine.dispose()
