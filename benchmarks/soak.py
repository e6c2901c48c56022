"""Soak: mixed reads and ReportHostAssets against a real server for N minutes.

    python benchmarks/soak.py --minutes 10 [--db postgresql://...] [--read-rate 100]

Starts ``python -m imagewarden serve`` (rate limits on, no scan workers) on a fresh store,
creates ``--accounts`` accounts, reports their hosts once, then keeps up, for ``--minutes``:

- reads at ``--read-rate`` req/s in total, round-robin over the accounts: DescribeAssetImageList
  (default, filtered, sorted, deep page), DescribeAssetImageHostList,
  DescribeAssetImageScanTask, DescribeImageComponentList / DescribeAssetImageVulList of a
  reported image;
- host snapshots at ``--report-rate`` req/s (each a host of ``--images-per-host`` images,
  10 % of them swapped every time: the agent's churn).  By default every swap brings new
  images, and the store grows (orphaned images are kept); ``--churn-pool N`` draws them
  from a fixed pool of N images per account instead: with N <= hosts x swapped (200 with
  the defaults) the whole pool is reported at seeding and the store keeps its size, so
  memory growth cannot come from a growing store; a larger N makes the store grow (by the
  swapped images of each report) until the pool is used up, then stop.

Row counts of the store (images, image_names, host_images, containers, hosts) are printed
after seeding and at the end, and the number of images with every sample.

``--tracemalloc FILE`` (diagnostic, off by default) starts ``tracemalloc`` (10 frames) in
the server at the end of warm-up and has it snapshot its heap every ``--tracemalloc-every``
seconds after (on SIGUSR1 from this script) and once more after the load stopped; each
snapshot appends to FILE what is still alive of what was allocated since tracing started
(top by line and by traceback) and what grew since the previous snapshot.  Tracing slows
the server: use it to find growth, not for rates.

Every ``--sample-seconds`` it prints one line: requests, errors by code, latency p50/p99,
the server's resident memory (VmRSS), the 1-minute load average and the images stored.
At the end: totals by code, RSS at the end of warm-up vs at the end, and the exit status
is 1 if any error other than RequestLimitExceeded occurred (the rate limit is part of the
contract; everything else is a failure).  ``--json-out`` writes the samples.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from imagewarden.api.signing import tc3_sign_request
from imagewarden.inventory.keys import KeyCipher
from imagewarden.inventory.service import InventoryService
from imagewarden.store.engine import make_engine, make_sessionmaker
from imagewarden.store.migrate import upgrade

VERSION = "2020-11-01"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def iid(label: str) -> str:
    return "sha256:" + hashlib.sha256(label.encode()).hexdigest()


@dataclass
class Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    codes: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    def add(self, code: str, seconds: float) -> None:
        with self.lock:
            self.codes[code] += 1
            self.latencies.append(seconds)

    def take(self) -> tuple[Counter[str], list[float]]:
        with self.lock:
            out = (self.codes, self.latencies)
            self.codes, self.latencies = Counter(), []
            return out


def call(
    client: httpx.Client,
    endpoint: str,
    key: tuple[str, str],
    action: str,
    params: dict[str, Any],
    stats: Stats,
) -> dict[str, Any] | None:
    body = json.dumps(params).encode()
    headers = tc3_sign_request(
        secret_id=key[0],
        secret_key=key[1],
        action=action,
        version=VERSION,
        host=endpoint,
        body=body,
        region="ap-guangzhou",
    )
    started = time.perf_counter()
    try:
        resp = client.post(f"http://{endpoint}/", headers=headers, content=body)
    except httpx.HTTPError as exc:
        stats.add(f"transport:{type(exc).__name__}", time.perf_counter() - started)
        return None
    elapsed = time.perf_counter() - started
    if resp.status_code != 200 or resp.headers.get("content-type") != "application/json":
        stats.add(f"http:{resp.status_code}", elapsed)
        return None
    env: dict[str, Any] = resp.json()["Response"]
    stats.add(env["Error"]["Code"] if "Error" in env else "OK", elapsed)
    return env


def snapshot(
    account: int, host: int, n_images: int, generation: int, pool: int = 0, pool_slice: int = 0
) -> dict[str, Any]:
    """A host's snapshot; each generation swaps 10 % of its images for others: new ones,
    or with ``pool`` > 0 slice ``pool_slice`` of the account's fixed pool of ``pool``
    images (slice k: images k x swapped ... + swapped - 1, modulo ``pool``).  Seeding
    reports slice h on host h and every later report of the account the next slice, so the
    store grows by ``swapped`` images a report until the whole pool has been reported once
    and keeps its size after; with ``pool`` <= hosts x swapped, seeding reports it all."""
    keep = n_images - n_images // 10
    swapped = n_images - keep
    if pool > 0:
        start = pool_slice * swapped
        churn = [iid(f"{account}/pool/{(start + i) % pool}") for i in range(swapped)]
    else:
        churn = [iid(f"{account}/{host}/gen{generation}/{i}") for i in range(swapped)]
    ids = [iid(f"{account}/base/{i}") for i in range(keep)] + churn
    return {
        "Host": {"HostID": f"soak-{host}", "HostName": f"soak-{host}", "IPs": ["10.0.0.1"]},
        "Images": [
            {"ImageID": x, "RepoTags": [f"reg.example/app{n % 50}:v{n}"], "Size": n}
            for n, x in enumerate(ids)
        ],
        "Containers": [
            {"ContainerID": f"{host}-{generation}-{c}", "ImageID": ids[c * 7], "State": "running"}
            for c in range(min(20, n_images // 7))
        ],
    }


READS: list[tuple[str, dict[str, Any]]] = [
    ("DescribeAssetImageList", {}),
    ("DescribeAssetImageList", {"Limit": 100, "By": "HostCnt", "Order": "desc"}),
    ("DescribeAssetImageList", {"Filters": [{"Name": "ImageName", "Values": ["app1"]}]}),
    ("DescribeAssetImageList", {"Filters": [{"Name": "ScanStatus", "Values": ["notScan"]}]}),
    ("DescribeAssetImageList", {"Offset": 150, "Limit": 20, "By": "ImageName"}),
    ("DescribeAssetImageHostList", {"Filters": [{"Name": "HostID", "Values": ["soak-0"]}]}),
    ("DescribeAssetImageScanTask", {}),
]


def paced(rate: float, stop: threading.Event, work: Any) -> None:
    """Call ``work(n)`` ``rate`` times per second until ``stop``; never bursts to catch up."""
    gap = 1.0 / rate
    nxt = time.monotonic()
    n = 0
    while not stop.is_set():
        work(n)
        n += 1
        nxt = max(nxt + gap, time.monotonic() - gap)
        delay = nxt - time.monotonic()
        if delay > 0:
            stop.wait(delay)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


COUNTED = ("images", "image_names", "host_images", "containers", "hosts")


def row_counts(engine: Any, tables: tuple[str, ...] = COUNTED) -> dict[str, int]:
    from sqlalchemy import text

    with engine.connect() as conn:
        return {
            t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in tables
        }


# Runs ``python -m imagewarden ...`` (argv[3:]) with a thread that, on each SIGUSR1: the first
# time starts tracemalloc (argv[2] frames; so seeding and imports run at full speed), every
# later time takes a heap snapshot and appends to argv[1] what is still alive of what was
# allocated since tracing started, and what grew since the previous snapshot.
TRACED_SERVER = r"""
import gc, linecache, os, runpy, signal, sys, threading, time, tracemalloc
out, frames = sys.argv[1], int(sys.argv[2])
sys.argv = ["imagewarden", *sys.argv[3:]]
wake = threading.Event()
signal.signal(signal.SIGUSR1, lambda *_: wake.set())
skip = [tracemalloc.Filter(False, tracemalloc.__file__),
        tracemalloc.Filter(False, linecache.__file__),  # source lines read for this report
        tracemalloc.Filter(False, "<frozen importlib._bootstrap*>"),
        tracemalloc.Filter(False, "<unknown>")]

def rss():
    for line in open(f"/proc/{os.getpid()}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0

def write(lines):
    with open(out, "a") as fh:
        fh.write("\n".join(lines) + "\n\n")

def top(stats, n):
    return [f"   {d}" for d in stats[:n]]

def dumper():
    wake.wait()
    wake.clear()
    gc.collect()
    tracemalloc.start(frames)
    started, prev, n = time.monotonic(), None, 1
    write([f"== tracing started ({frames} frames): RSS {rss():.1f} MiB, "
           f"{len(gc.get_objects())} gc objects, {threading.active_count()} threads"])
    while True:
        wake.wait()
        wake.clear()
        gc.collect()
        snap = tracemalloc.take_snapshot().filter_traces(skip)
        by_line = snap.statistics("lineno")
        alive = sum(st.size for st in by_line)
        lines = [f"== snapshot {n} at +{time.monotonic() - started:.0f} s of tracing: alive "
                 f"{alive / 2**20:.2f} MiB of what was allocated since, in "
                 f"{sum(st.count for st in by_line)} blocks; "
                 f"RSS {rss():.1f} MiB (tracemalloc's own "
                 f"{tracemalloc.get_tracemalloc_memory() / 2**20:.1f}), "
                 f"{len(gc.get_objects())} gc objects, {threading.active_count()} threads",
                 "-- alive since tracing started, top 15 by line:"]
        lines += top(by_line, 15)
        lines.append("-- top 4 by traceback:")
        for st in snap.statistics("traceback")[:4]:
            lines.append(f"   {st.size / 1024:.1f} KiB in {st.count} blocks")
            lines += [f"      {f}" for f in st.traceback.format()]
        if prev is not None:
            diff = snap.compare_to(prev, "lineno")
            lines.append(f"-- since snapshot {n - 1}: "
                         f"{sum(d.size_diff for d in diff) / 1024:+.1f} KiB; top 10 by line:")
            lines += top(diff, 10)
        write(lines)
        prev, n = snap, n + 1

threading.Thread(target=dumper, daemon=True, name="tracemalloc-dump").start()
runpy.run_module("imagewarden", run_name="__main__", alter_sys=True)
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--db", help="store URL (default: a fresh SQLite file in a temp dir)")
    ap.add_argument("--accounts", type=int, default=5)
    ap.add_argument("--hosts", type=int, default=20, help="hosts per account")
    ap.add_argument("--images-per-host", type=int, default=200)
    ap.add_argument("--read-rate", type=float, default=100.0, help="reads per second, total")
    ap.add_argument("--report-rate", type=float, default=5.0, help="reports per second, total")
    ap.add_argument("--readers", type=int, default=4, help="reader threads")
    ap.add_argument("--sample-seconds", type=float, default=10.0)
    ap.add_argument("--warmup-seconds", type=float, default=30.0)
    ap.add_argument(
        "--churn-pool",
        type=int,
        default=0,
        help="swap images from a fixed pool of N per account (0: new images, the store grows)",
    )
    ap.add_argument("--json-out", type=Path)
    ap.add_argument("--tracemalloc", type=Path, help="diagnostic: server heap growth to FILE")
    ap.add_argument(
        "--tracemalloc-every", type=float, default=60.0, help="seconds between heap snapshots"
    )
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="iw-soak-"))
    db_url = args.db or f"sqlite:///{tmp / 'soak.db'}"
    engine = make_engine(db_url)
    upgrade(engine)
    service = InventoryService(make_sessionmaker(engine), KeyCipher.from_file(tmp / "server.key"))
    run_id = f"{int(time.time())}"
    keys = [service.create_key(f"soak-{run_id}-{a}")[:2] for a in range(args.accounts)]
    port = free_port()
    endpoint = f"127.0.0.1:{port}"
    log = (tmp / "server.log").open("wb")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEWARDEN_")}
    serve = ["serve", "--port", str(port), "--db", db_url, "--key-file", str(tmp / "server.key"),
             "--scan-workers", "0", "--log-level", "warning"]  # fmt: skip
    if args.tracemalloc:
        args.tracemalloc.write_text(f"soak.py {' '.join(sys.argv[1:])}\n\n")
        cmd = [sys.executable, "-c", TRACED_SERVER, str(args.tracemalloc.resolve()), "10", *serve]
    else:
        cmd = [sys.executable, "-m", "imagewarden", *serve]
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://{endpoint}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                print((tmp / "server.log").read_text(), file=sys.stderr)
                return 2
            time.sleep(0.1)

        seed_stats = Stats()
        with httpx.Client(timeout=120) as c:
            for a, key in enumerate(keys):
                for h in range(args.hosts):
                    call(
                        c,
                        endpoint,
                        key,
                        "ReportHostAssets",
                        snapshot(a, h, args.images_per_host, 0, args.churn_pool, h),
                        seed_stats,
                    )
        seeded = seed_stats.take()[0]
        print(f"seeded {args.accounts} accounts x {args.hosts} hosts: {dict(seeded)}", flush=True)
        rows_start = row_counts(engine)
        print(f"store after seeding: {rows_start}", flush=True)

        stats = Stats()
        stop = threading.Event()
        generation = [0]
        gen_lock = threading.Lock()

        def reader(offset: int) -> None:
            rng = random.Random(offset)
            with httpx.Client(timeout=60) as c:

                def work(n: int) -> None:
                    a = (n * args.readers + offset) % len(keys)
                    if rng.random() < 0.15:
                        action = rng.choice(
                            ["DescribeImageComponentList", "DescribeAssetImageVulList"]
                        )
                        params: dict[str, Any] = {"ImageID": iid(f"{a}/base/{rng.randrange(20)}")}
                    else:
                        action, params = rng.choice(READS)
                    call(c, endpoint, keys[a], action, params, stats)

                paced(args.read_rate / args.readers, stop, work)

        def reporter() -> None:
            with httpx.Client(timeout=120) as c:

                def work(n: int) -> None:
                    a = n % len(keys)
                    h = (n // len(keys)) % args.hosts
                    with gen_lock:
                        generation[0] += 1
                        g = generation[0]
                    pool_slice = args.hosts + n // len(keys)  # the account's next slice
                    body = snapshot(a, h, args.images_per_host, g, args.churn_pool, pool_slice)
                    call(c, endpoint, keys[a], "ReportHostAssets", body, stats)

                paced(args.report_rate, stop, work)

        threads = [threading.Thread(target=reader, args=(i,)) for i in range(args.readers)]
        threads.append(threading.Thread(target=reporter))
        for th in threads:
            th.start()
        started = time.monotonic()
        end = started + args.minutes * 60
        totals: Counter[str] = Counter()
        samples: list[dict[str, Any]] = []
        last_t = 0.0
        next_trace = args.warmup_seconds if args.tracemalloc else None
        header = (
            f"{'t (s)':>6} {'req':>6} {'req/s':>6} {'p50 ms':>7} {'p99 ms':>7} {'RSS MiB':>8} "
            f"{'load1':>5} {'images':>7}  codes"
        )
        print(header, flush=True)
        while time.monotonic() < end:
            time.sleep(min(args.sample_seconds, max(0.0, end - time.monotonic())))
            codes, lat = stats.take()
            totals.update(codes)
            t = time.monotonic() - started
            n = sum(codes.values())
            p50 = statistics.median(lat) * 1000 if lat else 0.0
            p99 = sorted(lat)[int(0.99 * (len(lat) - 1))] * 1000 if lat else 0.0
            rss = rss_kib(server.pid) / 1024
            load1 = os.getloadavg()[0]
            images = row_counts(engine, ("images",))["images"]
            samples.append({"t": round(t, 1), "requests": n, "p50_ms": round(p50, 1),
                            "p99_ms": round(p99, 1), "rss_mib": round(rss, 1),
                            "load1": round(load1, 2), "images": images,
                            "codes": dict(codes)})  # fmt: skip
            print(
                f"{t:6.0f} {n:6d} {n / max(t - last_t, 1e-9):6.1f} {p50:7.1f} {p99:7.1f} "
                f"{rss:8.1f} {load1:5.2f} {images:7d}  {dict(codes)}",
                flush=True,
            )
            last_t = t
            if next_trace is not None and t >= next_trace - 0.5:
                server.send_signal(signal.SIGUSR1)
                next_trace += args.tracemalloc_every
        stop.set()
        for th in threads:
            th.join(120)
        codes, _ = stats.take()
        totals.update(codes)
        alive = server.poll() is None
        if args.tracemalloc and alive:
            size = args.tracemalloc.stat().st_size
            server.send_signal(signal.SIGUSR1)  # a last snapshot, after the load stopped
            waited = time.monotonic() + 120
            while args.tracemalloc.stat().st_size == size and time.monotonic() < waited:
                time.sleep(0.5)
            time.sleep(1)
        rows_end = row_counts(engine)
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        engine.dispose()

    warm = [s for s in samples if s["t"] >= args.warmup_seconds] or samples
    unexpected = {c: n for c, n in totals.items() if c not in ("OK", "RequestLimitExceeded")}
    print("\ntotals by code:", dict(totals))
    if warm:
        print(
            f"RSS after warm-up {warm[0]['rss_mib']} MiB, at the end {samples[-1]['rss_mib']} MiB, "
            f"max {max(s['rss_mib'] for s in samples)} MiB"
        )
    print(f"store at the start: {rows_start}")
    print(f"store at the end:   {rows_end}")
    print(f"server alive at the end: {alive}; unexpected errors: {unexpected or 'none'}")
    print(f"server log: {tmp / 'server.log'}")
    if args.json_out:
        args.json_out.write_text(
            json.dumps(
                {
                    "args": {k: str(v) for k, v in vars(args).items()},
                    "db": db_url,
                    "totals": dict(totals),
                    "rows_start": rows_start,
                    "rows_end": rows_end,
                    "samples": samples,
                },
                indent=1,
            )
        )
    return 0 if alive and not unexpected else 1


if __name__ == "__main__":
    sys.exit(main())
