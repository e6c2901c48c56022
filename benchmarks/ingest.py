"""ReportHostAssets ingestion throughput: image-host rows per second.

    python benchmarks/ingest.py --db sqlite:////tmp/ingest.db --hosts 500 [--images-per-host 200]
    python benchmarks/ingest.py ... --http          # through the real server, TC3-signed
    python benchmarks/ingest.py ... --profile out.html   # pyinstrument (dev-only) over pass 1

Snapshots look like a fleet: ~20 base images on most hosts, a platform tier on some, and a
long tail of application images; 200 images and ~20 containers per host.  Three passes,
each over every host, in one process (the store serialises writers on SQLite; on
PostgreSQL concurrent reports of hosts sharing base images serialise on those image rows
by design):

1. first report of each host (new host, mostly known images);
2. replay of the same snapshots (the agent's steady state: nothing changed);
3. churn: each host swaps 10 % of its images and restarts some containers.

Rows/s = hosts x images-per-host / seconds of the pass.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
from datetime import datetime
from pathlib import Path

from imagewarden.inventory.keys import KeyCipher
from imagewarden.inventory.models import ContainerReport, HostReport, HostSnapshot, ImageReport
from imagewarden.inventory.service import InventoryService
from imagewarden.store.engine import make_engine, make_sessionmaker
from imagewarden.store.migrate import upgrade


def _iid(i: int) -> str:
    return "sha256:" + hashlib.sha256(f"ingest:{i}".encode()).hexdigest()


def _image(i: int) -> ImageReport:
    return ImageReport(
        image_id=_iid(i),
        repo_tags=(f"registry.corp.example/app-{i % 997}:v{i}",) + (("x:latest",) if i < 5 else ()),
        repo_digests=(f"registry.corp.example/app-{i % 997}@sha256:{i:064x}",),
        size=50_000_000 + i,
        create_time=datetime(2024, 1, 1 + i % 28),
        os_name="debian:12",
        architecture="amd64",
    )


def snapshots(n_hosts: int, per_host: int, seed: int, churn: bool = False) -> list[HostSnapshot]:
    out = []
    n_pool = max(per_host * 4, n_hosts * per_host // 20)
    for h in range(n_hosts):
        rng = random.Random(seed * 1_000_003 + h)  # per host: churn changes only that host
        ids = set(range(20))  # base images: on every host
        while len(ids) < per_host:
            r = rng.random()
            ids.add(20 + int(r * r * r * n_pool))  # skewed towards the platform tier
        chosen = sorted(ids)
        if churn:
            drop = set(rng.sample(chosen[20:], per_host // 10))
            chosen = [i for i in chosen if i not in drop]
            while len(chosen) < per_host:
                extra = n_pool + rng.randrange(n_pool)
                if extra not in chosen:
                    chosen.append(extra)
        images = tuple(_image(i) for i in chosen)
        containers = tuple(
            ContainerReport(
                container_id=f"{h}-{c}-{'b' if churn and c % 3 == 0 else 'a'}",
                image_id=_iid(chosen[(c * 7) % len(chosen)]),
                name=f"c{c}",
                state="running" if c % 5 else "exited",
            )
            for c in range(20)
        )
        out.append(
            HostSnapshot(
                HostReport(
                    f"ingest-{h:05d}", f"n{h}", (f"10.1.{h // 256}.{h % 256}",), h % 20 == 0
                ),
                images,
                containers,
            )
        )
    return out


def _to_wire(s: HostSnapshot) -> dict:
    return {
        "Host": {
            "HostID": s.host.host_id,
            "HostName": s.host.host_name,
            "IPs": list(s.host.ips),
            "IsSuperNode": s.host.is_super_node,
        },
        "Images": [
            {
                "ImageID": i.image_id,
                "RepoTags": list(i.repo_tags),
                "RepoDigests": list(i.repo_digests),
                "Size": i.size,
                "CreateTime": i.create_time.strftime("%Y-%m-%dT%H:%M:%SZ") if i.create_time else "",
                "OsName": i.os_name,
                "Architecture": i.architecture,
            }
            for i in s.images
        ],
        "Containers": [
            {"ContainerID": c.container_id, "Name": c.name, "ImageID": c.image_id, "State": c.state}
            for c in s.containers
        ],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--db", required=True)
    p.add_argument("--hosts", type=int, default=500)
    p.add_argument("--images-per-host", type=int, default=200)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--http", action="store_true", help="send through a real server subprocess")
    p.add_argument("--profile", type=Path, default=None, help="pyinstrument HTML of one pass")
    p.add_argument("--profile-pass", default="first", choices=("first", "replay", "churn"))
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args(argv)

    engine = make_engine(a.db)
    upgrade(engine)
    key_file = Path(f"/tmp/ingest-{abs(hash(a.db)) % 10**8}.key")
    service = InventoryService(make_sessionmaker(engine), KeyCipher.from_file(key_file))
    secret_id, secret_key, acct = service.create_key(f"ingest-{time.time_ns()}")
    first = snapshots(a.hosts, a.images_per_host, a.seed)
    churned = snapshots(a.hosts, a.images_per_host, a.seed, churn=True)
    rows = a.hosts * a.images_per_host

    send = None
    ctx = None
    if a.http:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import httpx
        from list_api import server

        from imagewarden.api.signing import tc3_sign_request

        ctx = server(a.db, str(key_file), 1, Path("/tmp/ingest-server.log"))
        host = ctx.__enter__()
        client = httpx.Client(timeout=120)

        def send(snap: HostSnapshot) -> None:
            body = json.dumps(_to_wire(snap)).encode()
            headers = tc3_sign_request(
                secret_id=secret_id,
                secret_key=secret_key,
                action="ReportHostAssets",
                version="2020-11-01",
                host=host,
                body=body,
            )
            r = client.post(f"http://{host}/", content=body, headers=headers).json()
            if "Error" in r["Response"]:
                raise RuntimeError(r["Response"]["Error"])

    else:

        def send(snap: HostSnapshot) -> None:
            service.report_host(acct, snap)

    pg = engine.dialect.name == "postgresql"

    def written() -> int:
        """Bytes written so far: PostgreSQL's WAL position (every change it makes durable,
        index entries included); SQLite in-process: this process's write() bytes (WAL
        frames and checkpoints; in-process that is all of the store's writing)."""
        if pg:
            with engine.connect() as conn:
                lsn = conn.exec_driver_sql("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
                return int(lsn.scalar_one())
        with open("/proc/self/io") as io:
            return next(int(line.split()[1]) for line in io if line.startswith("wchar:"))

    results = {}
    try:
        for label, snaps in (("first", first), ("replay", first), ("churn", churned)):
            prof = None
            if a.profile is not None and label == a.profile_pass:
                from pyinstrument import Profiler

                prof = Profiler(interval=0.001)
                prof.start()
            w = written()
            t = time.perf_counter()
            c = time.process_time()
            for s in snaps:
                send(s)
            dt = time.perf_counter() - t
            cpu = time.process_time() - c
            per_row = (written() - w) / rows
            if prof is not None:
                prof.stop()
                a.profile.write_text(prof.output_html())
                print(prof.output_text(unicode=False, color=False, show_all=False)[:6000])
            # this process's CPU: in-process on SQLite that is all of the work, so rows per
            # CPU-second is what a core of its own would do (the wall clock shares 2 busy cores)
            results[label] = {
                "seconds": round(dt, 2),
                "rows_per_s": round(rows / dt),
                "cpu_s": round(cpu, 2),
                "rows_per_cpu_s": round(rows / max(cpu, 1e-9)),
                "load_avg": round(os.getloadavg()[0], 2),
                "bytes_written_per_row": round(per_row),
            }
            print(
                f"{label:7s} {a.hosts} hosts x {a.images_per_host} images: {dt:6.2f}s "
                f"{rows / dt:9,.0f} image-host rows/s ({a.hosts / dt:,.1f} reports/s); "
                f"CPU {cpu:6.2f}s = {rows / max(cpu, 1e-9):9,.0f} rows per CPU-second; "
                f"{per_row:,.0f} bytes written per row; "
                f"load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    finally:
        if ctx is not None:
            ctx.__exit__(None, None, None)
    if a.out:
        a.out.write_text(json.dumps({"db": engine.dialect.name, "http": a.http, **results}))
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
