"""DescribeAssetImageList through the real HTTP server, against the bare SQL floor.

    python benchmarks/list_api.py --stores sqlite,postgresql --sizes 10000,100000

Per (store, size): seed once (``benchmarks/seed.py``; reused when the meta file exists),
start ``python -m imagewarden serve --no-rate-limits`` as a subprocess, then for every case
(default; each ScanStatus; each SecurityRisk; ImageName substring, rare substring and exact;
ImageID prefix; every ``By`` field asc and desc), at Offset 0 and at a deep Offset
(min(--deep, TotalCount/2)), alternate:

- a TC3-signed POST over one keep-alive ``http.client`` connection (signing happens before
  the clock starts: the server verifies the signature inside the timed span; httpx was
  used before 2026-11-29 session 5: its client time counted as server time), and
  the server's own ``Server-Timing: app;dur=`` (headers parsed to response ready: body,
  TC3 check, action, envelope; uvicorn's HTTP parsing and writing are outside it);
- the floor: ``store.images.list_page`` (``list_images``, plus ``count_images`` when the
  page does not show the count), as the service runs it, in this process, on the same
  data, in one transaction.

Both are sampled in the same loop, so machine noise hits both; the report gives p50/p99 of
each, the round-trip/floor ratio of the p50s and the app/floor ratio.  Then throughput:
``--clients`` processes, each with its own keep-alive connection, hammer the default request for
``--throughput-seconds`` (127.0.0.1 only, bounded in count and time), for each
``--workers`` setting of the server.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from queue import Empty
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from seed import seed

from imagewarden.api.signing import tc3_sign_request
from imagewarden.inventory.filters import RISK_VALUES, build_image_query
from imagewarden.inventory.models import SortField
from imagewarden.store.engine import make_engine, make_sessionmaker
from imagewarden.store.images import list_page

ACTION = "DescribeAssetImageList"
VERSION = "2020-11-01"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


# --- the data -----------------------------------------------------------------------------------
def db_for(store: str, size: int, workdir: Path) -> str:
    if store == "sqlite":
        return f"sqlite:///{workdir / f'bench-{size}.db'}"
    return f"postgresql://postgres@127.0.0.1:5432/iw_bench_{size}"


def ensure_seeded(store: str, size: int, workdir: Path, reseed: bool, seed_value: int) -> dict:
    meta = workdir / f"bench-{store}-{size}.json"
    if meta.exists() and not reseed:
        return json.loads(meta.read_text())
    url = db_for(store, size, workdir)
    if store == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{workdir / f'bench-{size}.db'}{suffix}").unlink(missing_ok=True)
    else:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS iw_bench_{size} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE iw_bench_{size}")
    info = seed(url, size, None, seed_value, workdir / f"bench-{store}-{size}.key", meta=meta)
    print(f"  seeded {store} {size:,}: {info['rows']} in {info['total_s']}s", flush=True)
    return info


def cases(info: dict) -> list[tuple[str, dict[str, Any]]]:
    """(label, request body without Limit/Offset)."""
    out: list[tuple[str, dict[str, Any]]] = [("default", {})]
    out.extend(
        (f"ScanStatus={st}", {"Filters": [{"Name": "ScanStatus", "Values": [st]}]})
        for st in ("notScan", "scanning", "scanned", "scanErr")
    )
    out.extend(
        (f"SecurityRisk={r}", {"Filters": [{"Name": "SecurityRisk", "Values": [r]}]})
        for r in RISK_VALUES
    )
    f = {"Name": "ImageName", "Values": ["nginx"]}
    out.append(("ImageName~nginx", {"Filters": [f]}))
    f = {"Name": "ImageName", "Values": ["ledger-api"]}
    out.append(("ImageName~ledger-api", {"Filters": [f]}))
    out.append(
        (
            "ImageName=exact",
            {
                "Filters": [
                    {"Name": "ImageName", "Values": [info["exact_name"]], "ExactMatch": True}
                ]
            },
        )
    )
    out.append(("ImageID^ab", {"Filters": [{"Name": "ImageID", "Values": ["ab"]}]}))
    out.append(("ImageID^abc1", {"Filters": [{"Name": "ImageID", "Values": ["abc1"]}]}))
    out.extend(
        (f"By={s.value}:{order}", {"By": s.value, "Order": order})
        for s in SortField
        for order in ("asc", "desc")
    )
    return out


def exact_name(url: str, account_id: int) -> str:
    from sqlalchemy import text

    engine = make_engine(url)
    with engine.connect() as conn:
        name = conn.execute(
            text(
                "SELECT image_name FROM images WHERE account_id = :a AND host_cnt > 2 "
                "AND image_name <> '<none>:<none>' ORDER BY id LIMIT 1 OFFSET 50"
            ),
            {"a": account_id},
        ).scalar()
    engine.dispose()
    return str(name)


# --- the server ---------------------------------------------------------------------------------
@contextmanager
def server(
    url: str, key_file: str, workers: int, log: Path, pids: list[int] | None = None
) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEWARDEN_")}
    cmd = [
        sys.executable,
        "-m",
        "imagewarden",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--db",
        url,
        "--key-file",
        key_file,
        "--workers",
        str(workers),
        "--no-rate-limits",
        "--log-level",
        "warning",
    ]
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    if pids is not None:
        pids.append(proc.pid)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start, see {log}")
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def signed(info: dict, host: str, body: bytes) -> dict[str, str]:
    return tc3_sign_request(
        secret_id=info["secret_id"],
        secret_key=info["secret_key"],
        action=ACTION,
        version=VERSION,
        host=host,
        body=body,
    )


def call(
    conn: http.client.HTTPConnection, info: dict, host: str, req: dict
) -> tuple[float, float, dict]:
    """(round trip, the server's Server-Timing app time, the Response) of one request."""
    body = json.dumps(req, separators=(",", ":")).encode()
    headers = signed(info, host, body)
    t = time.perf_counter()
    conn.request("POST", "/", body, headers)
    r = conn.getresponse()
    data = r.read()
    dt = time.perf_counter() - t
    app = float((r.getheader("server-timing") or "app;dur=nan").partition(";dur=")[2]) / 1000
    resp = json.loads(data)["Response"]
    if "Error" in resp:
        raise RuntimeError(f"{req}: {resp['Error']}")
    return dt, app, resp


# --- latency ------------------------------------------------------------------------------------
def measure(
    info: dict, host: str, samples: int, case_seconds: float, deep: int, only: str | None
) -> list[dict[str, Any]]:
    engine = make_engine(info["db_url"])
    sessions = make_sessionmaker(engine)
    acct = int(info["account_id"])
    results = []

    def floor(req: dict) -> tuple[float, int, int]:
        q = build_image_query(
            [(f["Name"], f["Values"], bool(f.get("ExactMatch"))) for f in req.get("Filters", [])],
            by=req.get("By"),
            order=req.get("Order"),
            limit=req["Limit"],
            offset=req["Offset"],
        )
        t = time.perf_counter()
        with sessions.begin() as s:
            rows, total = list_page(s, acct, q)  # what the service runs
        return time.perf_counter() - t, total, len(rows)

    hostname, port = host.rsplit(":", 1)
    client = http.client.HTTPConnection(hostname, int(port), timeout=120)
    try:
        for label, base in cases(info):
            if only and only not in label:
                continue
            first = {**base, "Limit": 10, "Offset": 0}
            _, total, _ = floor(first)
            offsets = [0, min(deep, total // 2)] if total > 20 else [0]
            for off in offsets:
                req = {**base, "Limit": 10, "Offset": off}
                call(client, info, host, req)  # warm
                floor(req)
                srv: list[float] = []
                app: list[float] = []
                flo: list[float] = []
                started = time.perf_counter()
                while len(srv) < samples and (
                    len(srv) < 5 or time.perf_counter() - started < case_seconds
                ):
                    dt, adt, resp = call(client, info, host, req)
                    srv.append(dt)
                    app.append(adt)
                    ft, ftotal, nrows = floor(req)
                    flo.append(ft)
                    if resp["TotalCount"] != ftotal or len(resp["List"]) != nrows:
                        raise RuntimeError(f"{label}@{off}: server and floor disagree")
                row = {
                    "case": label,
                    "offset": off,
                    "total": ftotal,
                    "n": len(srv),
                    "p50_ms": pct(srv, 50) * 1000,
                    "p99_ms": pct(srv, 99) * 1000,
                    "app_p50_ms": pct(app, 50) * 1000,
                    "floor_p50_ms": pct(flo, 50) * 1000,
                    "floor_p99_ms": pct(flo, 99) * 1000,
                }
                row["ratio_p50"] = row["p50_ms"] / max(row["floor_p50_ms"], 1e-6)
                row["app_ratio_p50"] = row["app_p50_ms"] / max(row["floor_p50_ms"], 1e-6)
                results.append(row)
                print(
                    f"    {label:34s} off={off:<6d} total={ftotal:<8d} n={len(srv):<4d} "
                    f"p50={row['p50_ms']:7.2f} p99={row['p99_ms']:7.2f} ms  "
                    f"floor p50={row['floor_p50_ms']:7.2f} p99={row['floor_p99_ms']:7.2f}  "
                    f"x{row['ratio_p50']:.2f}  app p50={row['app_p50_ms']:7.2f} "
                    f"x{row['app_ratio_p50']:.2f}",
                    flush=True,
                )
    finally:
        client.close()
    engine.dispose()
    return results


# --- throughput ---------------------------------------------------------------------------------
def _client_loop(info: dict, host: str, until: float, q: Any) -> None:
    """One load-generator process: a keep-alive ``http.client`` connection (far less client
    CPU per request than httpx, so the 2 shared cores go to the server), every request
    freshly TC3-signed (signatures carry a timestamp: nothing is pre-signed)."""
    body = json.dumps({"Limit": 10}).encode()
    hostname, port = host.rsplit(":", 1)
    ok = err = 0
    lat: list[float] = []
    failure = ""
    conn = http.client.HTTPConnection(hostname, int(port), timeout=30)
    cpu0 = time.process_time()
    try:
        while time.time() < until:
            headers = signed(info, host, body)
            t = time.perf_counter()
            try:
                conn.request("POST", "/", body, headers)
                data = conn.getresponse().read()
            except (OSError, http.client.HTTPException) as exc:
                err += 1
                failure = repr(exc)
                conn.close()
                conn = http.client.HTTPConnection(hostname, int(port), timeout=30)
                continue
            lat.append(time.perf_counter() - t)
            if b'"Error"' in data or b'"TotalCount"' not in data:
                err += 1
                failure = data[:300].decode("utf-8", "replace")
            else:
                ok += 1
    finally:
        conn.close()
        q.put((ok, err, lat, failure, time.process_time() - cpu0))


def _tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its live descendants (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d))
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
        todo.extend(children.get(p, ()))
    return total


def _db_cpu(url: str) -> dict[int, float] | None:
    """CPU seconds of each PostgreSQL backend connected to the database of ``url`` (None on
    SQLite, whose work is inside the server process)."""
    if not url.startswith("postgresql"):
        return None
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        pids = [
            int(r[0])
            for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
        ]
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, float] = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[pid] = (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            continue
    return out


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return float(sum(v) - idle), float(sum(v))


def throughput(
    info: dict, host: str, clients: int, seconds: float, server_pid: int | None = None
) -> dict[str, Any]:
    """``clients`` processes, released together once all have imported (a barrier), each
    for ``seconds``; the server's CPU is read at the release and at the end of the window."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    ready = ctx.Barrier(clients + 1)
    procs = [
        ctx.Process(target=_barrier_loop, args=(info, host, ready, seconds, q))
        for _ in range(clients)
    ]
    for p in procs:
        p.start()
    ready.wait(timeout=120)
    cpu0 = _tree_cpu(server_pid) if server_pid else 0.0
    db0 = _db_cpu(info["db_url"])
    busy0 = _machine_busy()
    time.sleep(seconds)
    cpu1 = _tree_cpu(server_pid) if server_pid else 0.0
    db1 = _db_cpu(info["db_url"])
    busy1 = _machine_busy()
    got = []
    deadline = time.monotonic() + 60
    for _ in procs:
        try:
            got.append(q.get(timeout=max(0.1, deadline - time.monotonic())))
        except Empty:
            break
    for p in procs:
        p.join(10)
        if p.is_alive():
            p.terminate()
    if len(got) < len(procs):
        print(f"  warning: {len(procs) - len(got)} client(s) reported nothing", flush=True)
    ok = sum(g[0] for g in got)
    err = sum(g[1] for g in got)
    lat = [x for g in got for x in g[2]]
    failures = sorted({g[3] for g in got if g[3]})
    client_cpu = sum(g[4] for g in got)
    out: dict[str, Any] = {
        "clients": clients,
        "seconds": seconds,
        "ok": ok,
        "errors": err,
        "rps": ok / seconds,
        "p50_ms": pct(lat, 50) * 1000,
        "p99_ms": pct(lat, 99) * 1000,
        # share of both cores busy during the window (server, clients, database, others)
        "machine_busy": round((busy1[0] - busy0[0]) / max(1.0, busy1[1] - busy0[1]), 3),
        "load_avg": os.getloadavg()[0],
    }
    if failures:
        out["failures"] = failures[:3]
    if server_pid and ok:
        # the server processes' own CPU per request: what a core of its own would need
        out["server_cpu_s"] = round(cpu1 - cpu0, 2)
        out["server_cpu_ms_per_req"] = round((cpu1 - cpu0) * 1000 / ok, 3)
    if ok and db0 is not None and db1 is not None:
        # PostgreSQL backends serving this database (the server's pooled connections)
        used = sum(v - db0.get(pid, 0.0) for pid, v in db1.items())
        out["db_cpu_ms_per_req"] = round(used * 1000 / ok, 3)
    if ok:
        # the load generator's own CPU per request (signing, HTTP), on the same 2 cores
        out["client_cpu_ms_per_req"] = round(client_cpu * 1000 / (ok + err), 3)
    return out


def _barrier_loop(info: dict, host: str, ready: Any, seconds: float, q: Any) -> None:
    ready.wait(timeout=120)
    _client_loop(info, host, time.time() + seconds, q)


# --- main ---------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--stores", default="sqlite,postgresql")
    p.add_argument("--sizes", default="10000,100000")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/iw-bench"))
    p.add_argument("--reseed", action="store_true")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--samples", type=int, default=100, help="max samples per case")
    p.add_argument("--case-seconds", type=float, default=2.0, help="time cap per case (min 5)")
    p.add_argument("--deep", type=int, default=10_000, help="deep Offset (capped at total/2)")
    p.add_argument("--only", default=None, help="only cases whose label contains this")
    p.add_argument("--clients", type=int, default=4, help="load-generator processes (max 16)")
    p.add_argument("--throughput-seconds", type=float, default=10.0, help="max 60")
    p.add_argument("--workers", default="1,2", help="server workers for the throughput runs")
    p.add_argument("--skip-latency", action="store_true")
    p.add_argument("--out", type=Path, default=None, help="write all results as JSON")
    a = p.parse_args(argv)
    a.workdir.mkdir(parents=True, exist_ok=True)
    clients = max(1, min(16, a.clients))
    seconds = max(1.0, min(60.0, a.throughput_seconds))
    report: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} CPUs "
        f"{platform.python_implementation()} {platform.python_version()}",
        "argv": sys.argv,
        "runs": [],
    }
    for store in a.stores.split(","):
        for size in (int(s) for s in a.sizes.split(",")):
            print(f"== {store} {size:,} images", flush=True)
            info = ensure_seeded(store, size, a.workdir, a.reseed, a.seed)
            info["exact_name"] = exact_name(info["db_url"], int(info["account_id"]))
            run: dict[str, Any] = {"store": store, "size": size, "rows": info["rows"]}
            log = a.workdir / f"server-{store}-{size}.log"
            if not a.skip_latency:
                with server(info["db_url"], info["key_file"], 1, log) as host:
                    run["latency"] = measure(info, host, a.samples, a.case_seconds, a.deep, a.only)
                lat = run["latency"]
                if lat:  # --only may match no case
                    run["summary"] = {
                        "worst_p50_ms": max(r["p50_ms"] for r in lat),
                        "worst_p99_ms": max(r["p99_ms"] for r in lat),
                        "median_ratio": statistics.median(r["ratio_p50"] for r in lat),
                        "worst_ratio": max(r["ratio_p50"] for r in lat),
                        "median_app_ratio": statistics.median(r["app_ratio_p50"] for r in lat),
                        "worst_app_ratio": max(r["app_ratio_p50"] for r in lat),
                    }
                    print(f"  summary {run['summary']}", flush=True)
            run["throughput"] = []
            for w in (int(x) for x in a.workers.split(",") if x):
                pids: list[int] = []
                with server(info["db_url"], info["key_file"], w, log, pids) as host:
                    t = throughput(info, host, clients, seconds, pids[0])
                t["workers"] = w
                run["throughput"].append(t)
                print(f"  throughput workers={w}: {t}", flush=True)
            report["runs"].append(run)
    if a.out:
        a.out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
