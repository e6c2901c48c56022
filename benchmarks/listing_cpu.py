"""CPU per DescribeAssetImageList store path, in-process: robust to a shared machine.

    PYTHONPATH=/copy/of/src python benchmarks/listing_cpu.py --meta /tmp/iw-rt/bench-postgresql-100000.json -n 3000

Runs ``InventoryService.list_images`` with the licence guard (what the API's handler runs,
default request) ``-n`` times on one pooled connection and prints, per listing: the
statements sent, the checkout pings, this process's CPU, the PostgreSQL backend's CPU (from
``/proc``; 0 on SQLite) and the wall time.  Import different code with ``PYTHONPATH`` and
alternate the runs to compare.  ``--no-pre-ping`` passes ``pool_pre_ping=False`` to
``make_engine`` (for code that still pinged with it).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event

from imagewarden.inventory.filters import build_image_query
from imagewarden.inventory.keys import KeyCipher
from imagewarden.inventory.licences import LicenceService
from imagewarden.inventory.service import InventoryService, utcnow
from imagewarden.store.engine import make_engine, make_sessionmaker


def _cpu(pid: int | None) -> float:
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--meta", type=Path, required=True, help="seed.py's --meta JSON")
    p.add_argument("-n", type=int, default=3000)
    p.add_argument("--label", default="")
    p.add_argument("--no-pre-ping", action="store_true")
    a = p.parse_args()
    meta = json.loads(a.meta.read_text())
    kw: dict[str, Any] = {"pool_pre_ping": False} if a.no_pre_ping else {}
    engine = make_engine(meta["db_url"], pool_size=1, max_overflow=0, **kw)
    statements: list[int] = []
    event.listen(engine, "before_cursor_execute", lambda *_: statements.append(1))
    pings: list[int] = []
    ping = engine.dialect.do_ping
    engine.dialect.do_ping = lambda c: (pings.append(1), ping(c))[1]  # type: ignore[method-assign]
    sessions = make_sessionmaker(engine)
    service = InventoryService(sessions, KeyCipher.from_file(Path(meta["key_file"])))
    guard = LicenceService(sessions, utcnow)
    acct = int(meta["account_id"])
    query = build_image_query([], by=None, order=None, limit=10, offset=0)
    for _ in range(50):  # warm: statement caches, psycopg's prepared statements
        service.list_images(acct, query, guard)
    pid = None
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    statements.clear()
    pings.clear()
    b0, c0, w0 = _cpu(pid), time.process_time(), time.perf_counter()
    for _ in range(a.n):
        service.list_images(acct, query, guard)
    b1, c1, w1 = _cpu(pid), time.process_time(), time.perf_counter()
    out = {
        "label": a.label,
        "n": a.n,
        "statements_per_listing": len(statements) / a.n,
        "pings_per_listing": len(pings) / a.n,
        "client_cpu_ms": round((c1 - c0) * 1000 / a.n, 3),
        "backend_cpu_ms": round((b1 - b0) * 1000 / a.n, 3),
        "wall_ms": round((w1 - w0) * 1000 / a.n, 3),
        "load": os.getloadavg()[0],
    }
    print(json.dumps(out))
    engine.dispose()


if __name__ == "__main__":
    main()
