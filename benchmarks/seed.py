"""A realistic, deterministic synthetic inventory, bulk-loaded into the server's own tables.

    python benchmarks/seed.py --db sqlite:///bench.db --images 100000 [--hosts N] [--seed 7]

What it builds (one account, ``bench``; one API key, written to ``<meta>.json``):

- ``--images`` distinct images, ``--hosts`` hosts (default images/100, clipped to 50..10,000);
- popularity is heavy-tailed: ~20 base images sit on 40-95 % of hosts, a few hundred
  "platform" images on 1-10 %, and the long tail on 1-3 hosts; ~2 % of images are held by
  no host any more (HostCnt 0, kept until prune);
- names: ~images/8 repositories across a few registries, 1-2 tags per image, ~3 % untagged;
- containers: ~20 per host, 80 % running, mostly of the host's popular images;
- scans: 60 % SCANNED, 30 % NOT_SCAN, 3 % SCANNING, 7 % SCAN_ERR; severity counts skewed
  (40 % of scanned images clean, critical rare, long tail of large counts), viruses 0.5 %,
  sensitive-info risks 5 %, 2 % trusted; ~1 % of images lack a CreateTime.

Rows go through the SQLAlchemy tables the server uses (``imagewarden.store.tables``) with
per-image aggregates (HostCnt, SuperNodeCnt, ContainerCnt, names) computed exactly as the
store maintains them, so the listing sees what ingestion would have produced.  SQLite
loads with ``executemany``; PostgreSQL with ``COPY``.  The schema is migrated first
(``imagewarden.store.migrate.upgrade``), so triggers and indexes of the migrations apply;
for speed the secondary indexes of the loaded tables are dropped and rebuilt after the
load (every index, as the migrations declare it), and on SQLite the derived-data triggers
(``image_counts``, ``images_fts``) are replaced by one set-wise recompute.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from imagewarden.inventory.keys import KeyCipher
from imagewarden.inventory.repository import repository_of
from imagewarden.inventory.service import InventoryService
from imagewarden.store.engine import make_engine, make_sessionmaker, normalise_url
from imagewarden.store.migrate import upgrade
from imagewarden.store.tables import Container, Host, HostImage, Image, ImageName

NO_NAME = "<none>:<none>"
EPOCH = datetime(2023, 1, 1)
NOW = datetime(2026, 11, 1)
REGISTRIES = (
    "docker.io/library",
    "registry.corp.example/platform",
    "registry.corp.example/apps",
    "ghcr.io/acme",
    "ccr.ccs.tencentyun.com/team",
)
WORDS = (
    "api billing cart search auth gateway nginx redis postgres kafka worker cron ingest "
    "report export notify mailer ledger pricing catalog inventory media thumb video "
    "analytics metrics logger agent proxy cache queue scheduler payments orders users "
    "profile session admin portal web mobile edge sync backup audit fraud risk ml"
).split()


@dataclass
class Seeded:
    images: int
    hosts: int
    links: int
    containers: int
    names: int
    seconds: float


def image_hex(seed: int, i: int) -> str:
    return hashlib.sha256(f"imagewarden-bench:{seed}:{i}".encode()).hexdigest()


def _host_counts(rng: random.Random, n_images: int, n_hosts: int) -> list[int]:
    """How many hosts hold each image: a few base images everywhere, a long tail."""
    counts: list[int] = []
    n_base = min(20, max(1, n_images // 500))
    n_platform = min(500, max(1, n_images // 100))
    for i in range(n_images):
        if i < n_base:
            c = int(n_hosts * rng.uniform(0.40, 0.95))
        elif i < n_base + n_platform:
            c = int(n_hosts * rng.uniform(0.01, 0.10))
        elif rng.random() < 0.02:
            c = 0
        else:
            c = min(n_hosts, int(rng.paretovariate(2.5)))
        counts.append(max(0, min(n_hosts, c)))
    return counts


def _scan(rng: random.Random) -> dict[str, Any]:
    r = rng.random()
    status = (
        "SCANNED"
        if r < 0.60
        else "NOT_SCAN"
        if r < 0.90
        else "SCANNING"
        if r < 0.93
        else "SCAN_ERR"
    )
    out: dict[str, Any] = {"scan_status": status}
    if status in ("NOT_SCAN", "SCANNING") and rng.random() < 0.9:
        return out  # never scanned yet (a SCANNING re-scan keeps the old counts below)
    out["scan_time"] = NOW - timedelta(seconds=rng.randrange(0, 90 * 86400))
    if status == "SCAN_ERR":
        out["scan_error"] = rng.choice(("pull failed: manifest unknown", "timeout", "disk full"))
        return out
    if rng.random() < 0.40:
        crit = high = med = low = 0
    else:
        scale = rng.paretovariate(1.2)
        crit = int(scale * rng.random() * 0.6) if rng.random() < 0.25 else 0
        high = int(scale * rng.uniform(0.5, 4))
        med = int(scale * rng.uniform(1, 10))
        low = int(scale * rng.uniform(0, 12))
    unknown = rng.randrange(0, 3) if rng.random() < 0.1 else 0
    out.update(
        critical_cnt=crit,
        high_cnt=high,
        medium_cnt=med,
        low_cnt=low,
        vul_cnt=crit + high + med + low + unknown,
        component_cnt=rng.randrange(20, 900),
        virus_cnt=rng.randrange(1, 4) if rng.random() < 0.005 else 0,
        risk_cnt=rng.randrange(1, 12) if rng.random() < 0.05 else 0,
        recommended_fix=(crit + high) > 0 and rng.random() < 0.7,
        os_name=rng.choice(("debian:12", "alpine:3.19", "ubuntu:22.04", "centos:7")),
    )
    return out


def generate(
    n_images: int, n_hosts: int, seed: int, account_id: int, image_pk0: int, host_pk0: int
) -> dict[str, list[dict[str, Any]]]:
    """All rows, with aggregates computed as the store would maintain them."""
    rng = random.Random(seed)
    repos = [
        f"{rng.choice(REGISTRIES)}/{rng.choice(WORDS)}-{rng.choice(WORDS)}-{k}"
        for k in range(max(4, n_images // 8))
    ]
    hosts = [
        {
            "id": host_pk0 + h,
            "account_id": account_id,
            "host_id": f"bench-host-{h:06d}",
            "host_name": f"node-{h:06d}.bench",
            "ips": [f"10.{h // 65536 % 256}.{h // 256 % 256}.{h % 256}"],
            "is_super_node": rng.random() < 0.05,
            "last_report_at": NOW - timedelta(seconds=rng.randrange(0, 3600)),
        }
        for h in range(n_hosts)
    ]
    holders = _host_counts(rng, n_images, n_hosts)
    images: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    names: list[dict[str, Any]] = []
    per_host: dict[int, list[int]] = {}
    image_tags: list[list[str]] = []
    for i in range(n_images):
        pk = image_pk0 + i
        repo = repos[int(len(repos) * (rng.random() ** 2))]  # some repos hold many versions
        tags: list[str] = []
        if rng.random() >= 0.03:
            tags.append(f"{repo}:v{i % 97}.{i % 13}.{i}")
            if rng.random() < 0.3:
                tags.append(f"{repo}:latest")
        image_tags.append(tags)
        hs = rng.sample(range(n_hosts), holders[i]) if holders[i] else []
        tag_counter: Counter[str] = Counter()
        supers = 0
        for h in hs:
            # most hosts carry every tag; some only the first (so the primary name is a vote)
            held = tags if (len(tags) < 2 or rng.random() < 0.8) else tags[:1]
            links.append({"host_pk": host_pk0 + h, "image_pk": pk, "repo_tags": held})
            tag_counter.update(held)
            supers += hosts[h]["is_super_node"]
            per_host.setdefault(h, []).append(pk)
        if tag_counter:
            primary = min(tag_counter, key=lambda t: (-tag_counter[t], t))
            current = sorted(tag_counter)
        else:
            primary = tags[0] if tags else NO_NAME  # an orphan keeps its last names
            current = sorted(tags)
        names.extend(
            {"image_pk": pk, "name": n, "account_id": account_id, "repository": repository_of(n)}
            for n in current
        )
        created = (
            None
            if rng.random() < 0.01
            else EPOCH + timedelta(seconds=rng.randrange(0, int((NOW - EPOCH).total_seconds())))
        )
        row: dict[str, Any] = {
            "id": pk,
            "account_id": account_id,
            "image_id": "sha256:" + image_hex(seed, i),
            "image_name": primary,
            "names_search": "\n".join(n.lower() for n in current),
            "repo_digests": [f"{repo}@sha256:{image_hex(seed + 1, i)}"],
            "size": int(rng.lognormvariate(18.5, 1.0)),
            "create_time": created,
            "os_name": "",
            "architecture": rng.choice(("amd64", "amd64", "amd64", "arm64")),
            "first_seen": NOW - timedelta(seconds=rng.randrange(0, 365 * 86400)),
            "host_cnt": len(hs),
            "super_node_cnt": supers,
            "container_cnt": 0,
            "is_trusted": rng.random() < 0.02,
            "is_authorized": 0,  # undecided, as the store inserts it
            "scan_status": "NOT_SCAN",
            "scan_time": None,
            "agent_error": "",
            "scan_error": "",
            "scan_vul_error": "",
            "scan_virus_error": "",
            "scan_risk_error": "",
            "vul_cnt": 0,
            "virus_cnt": 0,
            "risk_cnt": 0,
            "component_cnt": 0,
            "critical_cnt": 0,
            "high_cnt": 0,
            "medium_cnt": 0,
            "low_cnt": 0,
            "is_suggest": 0,
            "is_latest_image": False,
            "recommended_fix": False,
            "solution": "",
            "reason": "",
        }
        row.update(_scan(rng))
        images.append(row)
    # containers: ~20 per host, weighted towards the host's most popular images
    containers: list[dict[str, Any]] = []
    running_hosts: dict[int, set[int]] = {}
    for h, pks in per_host.items():
        pks.sort()  # lower pk = more popular
        for c in range(min(len(pks), rng.randrange(5, 36))):
            pk = pks[min(len(pks) - 1, int(len(pks) * rng.random() ** 3))]
            state = "running" if rng.random() < 0.8 else rng.choice(("exited", "paused"))
            containers.append(
                {
                    "account_id": account_id,
                    "host_pk": host_pk0 + h,
                    "image_pk": pk,
                    "container_id": hashlib.sha1(f"{seed}:{h}:{c}".encode()).hexdigest(),
                    "name": f"{rng.choice(WORDS)}-{c}",
                    "state": state,
                }
            )
            if state == "running":
                images[pk - image_pk0]["container_cnt"] += 1
                running_hosts.setdefault(pk, set()).add(h)
    # a running container always comes with a link in this generator, so HostCnt is exact
    return {
        "hosts": hosts,
        "images": images,
        "host_images": links,
        "image_names": names,
        "containers": containers,
    }


# --- loading ------------------------------------------------------------------------------------
_TABLES = {
    "hosts": Host.__table__,
    "images": Image.__table__,
    "image_names": ImageName.__table__,
    "host_images": HostImage.__table__,
    "containers": Container.__table__,
}
_ORDER = ("hosts", "images", "image_names", "host_images", "containers")


def _chunks(rows: list[dict[str, Any]], n: int = 20_000) -> Iterator[list[dict[str, Any]]]:
    for i in range(0, len(rows), n):
        yield rows[i : i + n]


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, list | dict):
        value = json.dumps(value)
    elif isinstance(value, datetime):
        value = value.isoformat(sep=" ")
    s = str(value)
    return s.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")


def _copy_pg(engine: Engine, name: str, rows: list[dict[str, Any]]) -> None:
    cols = list(rows[0])
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        with cur.copy(f"COPY {name} ({', '.join(cols)}) FROM STDIN") as cp:  # type: ignore[attr-defined]
            buf = io.StringIO()
            for n, r in enumerate(rows, 1):
                buf.write("\t".join(_copy_text(r[c]) for c in cols))
                buf.write("\n")
                if n % 20_000 == 0:
                    cp.write(buf.getvalue())
                    buf = io.StringIO()
            cp.write(buf.getvalue())
        raw.commit()
    finally:
        raw.close()


#: tables whose secondary indexes are built after the load (one sort per index instead of
#: a random B-tree insert per row per index)
_DEFERRED_INDEX_TABLES = ("images", "image_names", "host_images", "containers")
#: SQLite triggers on ``images`` that maintain derived data, dropped for the load and
#: replaced by one set-wise recompute (``_recompute_sqlite``); any other trigger makes the
#: load refuse to drop it (its effect could not be reproduced)
_SQLITE_DERIVED_TRIGGERS = {
    "iw_images_counts_ins",
    "iw_images_counts_del",
    "iw_images_counts_upd",
    "iw_images_fts_ins",
    "iw_images_fts_del",
    "iw_images_fts_upd",
}
#: the image_counts key as migration 0003 computes it from an images row
_COUNT_KEY = (
    "account_id, scan_status, is_trusted, has_virus, has_risk, has_critical, has_high, "
    "has_medium, has_low, has_vul"
)
_COUNT_VALUES = (
    "account_id, scan_status, is_trusted, virus_cnt > 0, risk_cnt > 0, critical_cnt > 0, "
    "high_cnt > 0, medium_cnt > 0, low_cnt > 0, vul_cnt > 0"
)


def _sqlite_schema_objects(cur: Any) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    tables = ", ".join(f"'{t}'" for t in _DEFERRED_INDEX_TABLES)
    rows = cur.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') "
        f"AND tbl_name IN ({tables}) AND sql IS NOT NULL ORDER BY rowid"
    ).fetchall()
    indexes = [(n, q) for t, n, q in rows if t == "index"]
    triggers = [(n, q) for t, n, q in rows if t == "trigger"]
    unknown = {n for n, _ in triggers} - _SQLITE_DERIVED_TRIGGERS
    if unknown:
        raise RuntimeError(f"seed: unknown triggers {sorted(unknown)}; teach _recompute_sqlite")
    return indexes, triggers


def _recompute_sqlite(cur: Any) -> None:
    """What the dropped triggers would have written, set-wise, for the whole table."""
    cur.execute("DELETE FROM image_counts")
    cur.execute(
        f"INSERT INTO image_counts ({_COUNT_KEY}, n) SELECT {_COUNT_VALUES}, count(*) "
        f"FROM images GROUP BY {_COUNT_VALUES}"
    )
    has_fts = cur.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'images_fts'"
    ).fetchone()
    if has_fts:
        cur.execute("INSERT INTO images_fts (images_fts) VALUES ('rebuild')")


def _sqlite_rows(table: Any, rows: list[dict[str, Any]], dialect: Any) -> list[tuple[Any, ...]]:
    """Rows as DBAPI tuples, converted by the columns' own SQLAlchemy bind processors (the
    values the ORM would store: same datetime text, same JSON), without the per-statement
    work of ``insert().execute(many)``."""
    cols = list(rows[0])
    procs = [table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in cols]
    return [
        tuple(
            v if p is None or v is None else p(v)
            for p, v in zip(procs, (r[c] for c in cols), strict=True)
        )
        for r in rows
    ]


def _load_sqlite(engine: Engine, data: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    timings: dict[str, float] = {}
    engine.dispose()  # no other connection may be open to leave WAL for the load
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        # a benchmark database, rebuilt if a crash interrupts the load: no rollback journal,
        # no fsync, ~1 GB of page cache for the index builds; WAL again at the end
        for pragma in ("journal_mode=DELETE", "journal_mode=OFF", "synchronous=OFF"):
            cur.execute(f"PRAGMA {pragma}")
        cur.execute("PRAGMA cache_size=-1000000")
        t = time.perf_counter()
        cur.execute("BEGIN")
        indexes, triggers = _sqlite_schema_objects(cur)
        for name, _ in triggers:
            cur.execute(f"DROP TRIGGER {name}")
        for name, _ in indexes:
            cur.execute(f"DROP INDEX {name}")
        for name in _ORDER:
            rows = data[name]
            if not rows:
                continue
            t0 = time.perf_counter()
            table = _TABLES[name]
            cols = list(rows[0])
            sql = f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            for part in _chunks(rows):
                cur.executemany(sql, _sqlite_rows(table, part, engine.dialect))
            timings[f"insert {name}"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _, sql in indexes:
            cur.execute(sql)
        timings[f"{len(indexes)} indexes"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        _recompute_sqlite(cur)
        for _, sql in triggers:
            cur.execute(sql)
        timings["recompute counts + fts"] = time.perf_counter() - t0
        cur.execute("COMMIT")
        t0 = time.perf_counter()
        cur.execute("ANALYZE")
        cur.execute("PRAGMA journal_mode=WAL")
        timings["analyze"] = time.perf_counter() - t0
        timings["load"] = time.perf_counter() - t
    finally:
        raw.close()
    return timings


def _load_pg(engine: Engine, data: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    # the counter triggers stay: they are statement-level, one grouped upsert per COPY
    timings: dict[str, float] = {}
    t = time.perf_counter()
    tables = ", ".join(f"'{t}'" for t in _DEFERRED_INDEX_TABLES)
    with engine.begin() as conn:
        indexes = conn.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
                f"AND tablename IN ({tables}) "
                "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
            )
        ).all()
        for name, _ in indexes:
            conn.execute(text(f'DROP INDEX "{name}"'))
    for name in _ORDER:
        if data[name]:
            t0 = time.perf_counter()
            _copy_pg(engine, name, data[name])
            timings[f"copy {name}"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
        for _, ddl in indexes:
            conn.execute(text(ddl))
        for name in ("hosts", "images", "containers"):
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f"(SELECT max(id) FROM {name}))"
                )
            )
    timings[f"{len(indexes)} indexes"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    timings["vacuum analyze"] = time.perf_counter() - t0
    timings["load"] = time.perf_counter() - t
    return timings


def load(engine: Engine, data: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    """Bulk-load with the secondary indexes built after the rows (and, on SQLite, the
    derived-data triggers replaced by one recompute), then ANALYZE."""
    if engine.dialect.name == "postgresql":
        return _load_pg(engine, data)
    return _load_sqlite(engine, data)


def _next_pk(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT coalesce(max(id), 0) + 1 FROM {table}")).scalar())


def seed(
    db_url: str,
    n_images: int,
    n_hosts: int | None = None,
    seed_value: int = 7,
    key_file: Path | None = None,
    meta: Path | None = None,
    account: str = "bench",
) -> dict[str, Any]:
    """Migrate, create the account and a key, load the inventory; return (and write) the meta."""
    started = time.perf_counter()
    url = normalise_url(db_url)
    hosts = n_hosts if n_hosts is not None else max(50, min(10_000, n_images // 100))
    engine = make_engine(url)
    upgrade(engine)
    if key_file is None:
        key_file = Path(f"bench-{n_images}.key").resolve()
    service = InventoryService(make_sessionmaker(engine), KeyCipher.from_file(key_file))
    secret_id, secret_key, account_id = service.create_key(account)
    t0 = time.perf_counter()
    data = generate(
        n_images,
        hosts,
        seed_value,
        account_id,
        _next_pk(engine, "images"),
        _next_pk(engine, "hosts"),
    )
    t1 = time.perf_counter()
    phases = load(engine, data)
    t2 = time.perf_counter()
    engine.dispose()
    info = {
        "db_url": url,
        "key_file": str(key_file),
        "secret_id": secret_id,
        "secret_key": secret_key,
        "account_id": account_id,
        "images": n_images,
        "hosts": hosts,
        "seed": seed_value,
        "rows": {k: len(v) for k, v in data.items()},
        "generate_s": round(t1 - t0, 1),
        "load_s": round(t2 - t1, 1),
        "load_phases_s": {k: round(v, 1) for k, v in phases.items()},
        "total_s": round(time.perf_counter() - started, 1),
    }
    if meta is not None:
        meta.write_text(json.dumps(info, indent=2))
    return info


def _summary(rows: Iterable[tuple[str, int]]) -> str:
    return ", ".join(f"{k}={v:,}" for k, v in rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--db", required=True, help="sqlite:///PATH or postgresql://...")
    p.add_argument("--images", type=int, default=10_000)
    p.add_argument("--hosts", type=int, default=None)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--key-file", type=Path, default=None)
    p.add_argument("--meta", type=Path, default=None, help="write account/key/counts JSON here")
    a = p.parse_args(argv)
    info = seed(a.db, a.images, a.hosts, a.seed, a.key_file, a.meta)
    print(
        f"seeded {_summary(info['rows'].items())} in {info['total_s']}s "
        f"(generate {info['generate_s']}s, load {info['load_s']}s); "
        f"account {info['account_id']} key {info['secret_id']}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
