"""Re-matching speed: stored component lists against the advisory database, no layer reads.

    .venv/bin/python benchmarks/rematch.py [--images 2000] [--components 120] [--db URL]

Seeds N scanned images (Debian 12 base packages shared by all, a long tail of per-image
Python packages; a few vulnerable versions from tests/testdata/osv) through the inventory
service, imports the OSV test records, then times `rematch` against a baseline measured in
the same run: iterating the same stored component lists without matching (the floor).
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from datetime import datetime
from pathlib import Path

from imagewarden.inventory.models import ComponentRecord, ImageReport, ScanOutcome, ScanStatus
from imagewarden.jobs.rematch import rematch
from imagewarden.scan.detect.vulns import VulnerabilityDetector
from imagewarden.server import open_runtime
from imagewarden.vulndb import import_paths, open_store
from imagewarden.vulndb.cache import MemoIndex

OSV = Path(__file__).parents[1] / "tests" / "testdata" / "osv"
BASE = [
    ("libc6", "2.36-9+deb12u4", "glibc"),
    ("libssl3", "3.0.11-1~deb12u1", "openssl"),
    ("zlib1g", "1:1.2.13.dfsg-1", "zlib"),
]


def seed(rt, n: int, per_image: int) -> None:  # type: ignore[no-untyped-def]
    acct = rt.service.account_id("bench")
    base = [
        ComponentRecord(
            name, ver, "deb", "var/lib/dpkg/status", f"pkg:deb/debian/{name}@{ver}", src, ver
        )
        for name, ver, src in BASE
    ]
    base += [
        ComponentRecord(
            f"deb-pkg-{i}", f"1.{i}-1", "deb", "var/lib/dpkg/status", "", f"deb-src-{i}", f"1.{i}-1"
        )
        for i in range(per_image // 2)
    ]
    for k in range(n):
        image_id = "sha256:" + hashlib.sha256(f"bench-{k}".encode()).hexdigest()
        rt.service.register_image(
            acct, ImageReport(image_id=image_id, repo_tags=(f"bench/app{k}:1",)), ""
        )
        tail = [
            ComponentRecord(f"py-lib-{(k * 7 + j) % 5000}", f"0.{j}", "pypi", "site-packages")
            for j in range(per_image - len(base) - 1)
        ]
        urllib3 = ComponentRecord(
            "urllib3", "1.26.16" if k % 3 else "2.0.7", "pypi", "site-packages"
        )
        rt.service.record_scan(
            acct,
            ScanOutcome(
                image_id,
                ScanStatus.SCANNED,
                datetime(2026, 1, 1),
                os_name="debian:12",
                components=(*base, *tail, urllib3),
            ),
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--components", type=int, default=120)
    ap.add_argument("--db", default="")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="iw-rematch-"))
    url = args.db or f"sqlite:///{tmp / 'bench.db'}"
    rt = open_runtime(url, tmp / "bench.key")
    t = time.perf_counter()
    seed(rt, args.images, args.components)
    print(
        f"seeded {args.images} images x {args.components} components in {time.perf_counter() - t:.1f} s"
    )
    _, writer = open_store(url)
    import_paths([OSV], writer)

    t = time.perf_counter()
    loaded = sum(len(c) for rows in rt.service.scanned_batches() for _, _, _, c in rows)
    floor = time.perf_counter() - t
    index, _ = open_store(url)
    memo = MemoIndex(index, known=index.keys())
    report = rematch(rt.service, VulnerabilityDetector(memo), lambda: datetime(2026, 2, 1))
    print(f"components loaded (floor): {loaded} in {floor:.2f} s")
    print(
        f"rematch: {report.images} images in {report.seconds:.2f} s = {report.images / report.seconds:.0f} images/s; "
        f"{report.seconds / floor:.1f}x the load-only floor; {memo.lookups} distinct index lookups; "
        f"{report.matched_sets} distinct matchable sets; findings changed on {report.changed}"
    )
    report = rematch(rt.service, VulnerabilityDetector(memo), lambda: datetime(2026, 2, 2))
    print(
        f"rematch again (nothing changed): {report.images} images in {report.seconds:.2f} s = "
        f"{report.images / report.seconds:.0f} images/s; findings changed on {report.changed}"
    )


if __name__ == "__main__":
    main()
