"""ReportHostAssets keeps the per-image aggregates incrementally (store.hosts): after any
sequence of reports they must equal what a from-scratch recount gives (SQLite and
PostgreSQL).

Two oracles: a Python model of the fleet (HostCnt, SuperNodeCnt, ContainerCnt, names and
the primary name from the hosts' latest reports) and ``recompute_images``, the store's own
full recomputation, which must find nothing to change (IsLatestImage included)."""

from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import Engine, text

from imagewarden.inventory.models import HostSnapshot
from imagewarden.inventory.repository import repository_of
from imagewarden.inventory.service import InventoryService
from imagewarden.store.engine import make_engine, make_sessionmaker
from imagewarden.store.hosts import NO_NAME, recompute_images
from tests.factories import container, host, image, image_id

LABELS = [f"i{n}" for n in range(10)]
TAGS = {
    label: [f"app{n % 4}:{n}", f"app{n % 4}:latest", "shared:1", "App0:0", NO_NAME, ""]
    for n, label in enumerate(LABELS)
}
DATES = ["2024-01-01T00:00:00", "2024-03-01T00:00:00", None]
HOSTS = [f"h{n}" for n in range(6)]


def _snapshot(rng: random.Random, host_id: str) -> HostSnapshot:
    chosen = rng.sample(LABELS, rng.randrange(0, 7))
    images = [
        image(
            label,
            *rng.sample(TAGS[label], rng.choice([0, 1, 1, 1, 2, 3])),
            size=1000 + rng.randrange(2),
            created=rng.choice(DATES),
        )
        for label in chosen
    ]
    containers = [
        container(
            f"c{rng.randrange(4)}",  # repeated IDs: the first report of one wins
            rng.choice(LABELS),  # not always among the host's images
            rng.choice(["running", "exited", "Running"]),
        )
        for _ in range(rng.randrange(0, 5))
    ]
    return host(host_id, images, containers, super_node=rng.random() < 0.3)


def _expected(latest: dict[str, HostSnapshot]) -> dict[str, tuple[int, int, int, set[str]]]:
    """image ID → (HostCnt, SuperNodeCnt, ContainerCnt, names) from the hosts' last reports."""
    holders: dict[str, set[str]] = {}
    supers: dict[str, set[str]] = {}
    running: Counter[str] = Counter()
    names: dict[str, set[str]] = {}
    for hid, snap in latest.items():
        # a container's image is on the host, whatever its state (and even when another
        # container of the same ID wins)
        held = {i.image_id for i in snap.images} | {c.image_id for c in snap.containers}
        seen: set[str] = set()
        for c in snap.containers:
            if c.container_id not in seen and c.state.lower() == "running":
                running[c.image_id] += 1
            seen.add(c.container_id)
        for iid in held:
            holders.setdefault(iid, set()).add(hid)
            if snap.host.is_super_node:
                supers.setdefault(iid, set()).add(hid)
        for i in snap.images:
            names.setdefault(i.image_id, set()).update(t for t in i.repo_tags if t and t != NO_NAME)
    return {
        iid: (len(hs), len(supers.get(iid, ())), running[iid], names.get(iid, set()))
        for iid, hs in holders.items()
    }


def _store_state(engine: Engine) -> dict[str, tuple[Any, ...]]:
    with engine.connect() as conn:
        names: dict[int, set[str]] = {}
        for pk, name, repo in conn.execute(
            text("SELECT image_pk, name, repository FROM image_names")
        ):
            names.setdefault(pk, set()).add(f"{name}|{repo}")
        return {
            iid: (hosts, supers, cnt, name, search, bool(latest), names.get(pk, set()))
            for pk, iid, hosts, supers, cnt, name, search, latest in conn.execute(
                text(
                    "SELECT id, image_id, host_cnt, super_node_cnt, container_cnt, image_name, "
                    "names_search, is_latest_image FROM images"
                )
            )
        }


def _check(engine: Engine, latest: dict[str, HostSnapshot], recount: bool, label: object) -> None:
    got = _store_state(engine)
    want = _expected(latest)
    # an image no host holds any more stays listed, with nothing counted
    assert all(row[:3] == (0, 0, 0) for iid, row in got.items() if iid not in want), label
    for iid, (hosts, supers, running, names) in want.items():
        row = got[iid]
        assert row[:3] == (hosts, supers, running), (label, iid)
        assert row[6] == {f"{n}|{repository_of(n)}" for n in names}, (label, iid)
        if names:
            votes = Counter(
                t
                for s in latest.values()
                for i in s.images
                if i.image_id == iid
                for t in set(i.repo_tags)
                if t and t != NO_NAME
            )
            assert row[3] == min(votes, key=lambda t: (-votes[t], t)), (label, iid)
            assert row[4] == "\n".join(n.lower() for n in sorted(names)), (label, iid)
        else:
            assert row[3] == NO_NAME and row[4] == "", (label, iid)
    if recount:
        # the store's full recount (IsLatestImage too) finds nothing to change
        with make_sessionmaker(engine).begin() as s:
            recompute_images(s, [int(p) for p in s.scalars(text("SELECT id FROM images"))])
        assert _store_state(engine) == got, label


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_aggregates_equal_a_full_recount(
    service: InventoryService, db_url: str, seed: int
) -> None:
    rng = random.Random(seed)
    acct = service.account_id("a")
    engine = make_engine(db_url)
    latest: dict[str, HostSnapshot] = {}
    try:
        for step in range(40):
            hid = rng.choice(HOSTS)
            snap = latest[hid] if hid in latest and rng.random() < 0.2 else _snapshot(rng, hid)
            service.report_host(acct, snap)
            latest[hid] = snap
            _check(engine, latest, step % 8 == 7, step)
    finally:
        engine.dispose()


def test_concurrent_reports_of_hosts_sharing_images(service: InventoryService, db_url: str) -> None:
    """Hosts sharing images report at the same time (PostgreSQL: concurrent transactions
    serialised on the image rows they share, locked in key order): no count is lost, no
    report deadlocks."""
    acct = service.account_id("a")
    service.report_host(acct, host("seed", [image("i0", "app0:0")]))
    sent: dict[str, list[HostSnapshot]] = {}
    errors: list[BaseException] = []

    def run(hid: str) -> None:
        rng = random.Random(hid)
        try:
            for _ in range(12):
                snap = _snapshot(rng, hid)
                service.report_host(acct, snap)
                sent.setdefault(hid, []).append(snap)
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(hid,)) for hid in HOSTS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    latest = {hid: snaps[-1] for hid, snaps in sent.items()}
    latest["seed"] = host("seed", [image("i0", "app0:0")])
    engine = make_engine(db_url)
    try:
        _check(engine, latest, True, "concurrent")
    finally:
        engine.dispose()


def test_a_new_image_is_written_whole(service: InventoryService, db_url: str) -> None:
    """An image a report creates carries its counts, names and search text at once."""
    acct = service.account_id("a")
    service.report_host(
        acct,
        host(
            "h",
            [image("n", "b:1", "a:1", NO_NAME, created="2024-02-02T00:00:00")],
            [container("c1", "n"), container("c2", "n"), container("c3", "ghost", "exited")],
            super_node=True,
        ),
    )
    engine = make_engine(db_url)
    try:
        got = _store_state(engine)
    finally:
        engine.dispose()
    assert got[image_id("n")] == (1, 1, 2, "a:1", "a:1\nb:1", True, {"a:1|a", "b:1|b"})
    # an exited container's image is on the host too, without a name
    assert got[image_id("ghost")][:5] == (1, 1, 0, NO_NAME, "")
