"""Applying a host's full snapshot (ReportHostAssets) and keeping per-image aggregates true.

One transaction per snapshot: the host row, its image links (with the tags it has for each
image) and its containers are replaced by what it reports; HostCnt, SuperNodeCnt,
ContainerCnt and the names of every image the host held before or holds now follow.
Affected image rows are locked in primary-key order first, so concurrent reports of hosts
sharing images serialise on those rows instead of overwriting each other's counts.

Only differences are written (a replayed snapshot writes the host's ``last_report_at`` and
nothing else), and the aggregates move by this host's contribution, which is exact under
the lock: HostCnt/SuperNodeCnt by whether the host held the image before and holds it now,
ContainerCnt by its running containers of the image.  Names are recomputed from every
holder's tags (``recompute_images``) unless this report provably leaves them unchanged:
the host's counted tags for the image are the same as before, or it newly holds an image
that other hosts hold, with tags that are all known names of it and include its primary
name (the primary only gains votes, nothing overtakes it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Integer,
    Table,
    bindparam,
    column,
    delete,
    func,
    insert,
    select,
    text,
    union,
    update,
    values,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from imagewarden.inventory.models import HostSnapshot, ImageReport, ReportOutcome
from imagewarden.inventory.repository import repository_of
from imagewarden.store import latest
from imagewarden.store.tables import Container, Host, HostImage, Image, ImageName

__all__ = ["apply_snapshot", "prune_orphan_images", "recompute_images"]

RUNNING = "running"
NO_NAME = "<none>:<none>"
_CHUNK = 500

_IMAGES = cast(Table, Image.__table__)
_HOSTS = cast(Table, Host.__table__)
_HOST_IMAGES = cast(Table, HostImage.__table__)
_CONTAINERS = cast(Table, Container.__table__)
_NAMES = cast(Table, ImageName.__table__)
_I = _IMAGES.c
_N = _NAMES.c
_H = _HOSTS.c
_HI = _HOST_IMAGES.c
_C = _CONTAINERS.c

_FACTS = ("size", "create_time", "repo_digests", "os_name", "architecture")


def _chunks(seq: Sequence[Any], n: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


def _dialect_insert(session: Session, table: Table) -> Any:
    """The dialect's INSERT (for ON CONFLICT ... DO NOTHING)."""
    mod = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return mod.insert(table)


def _counted(tags: Iterable[str] | None) -> frozenset[str]:
    """The tags that vote for an image's names (``<none>:<none>`` and empties do not)."""
    return frozenset(t for t in (tags or ()) if t and t != NO_NAME)


def _upsert_host(
    session: Session, account_id: int, snap: HostSnapshot, now: datetime
) -> tuple[int, bool, bool]:
    """The host's primary key, whether it was a super node before this report, and whether
    this report created it (two statements: the read, then the update or an insert that
    returns its key)."""
    h = snap.host
    values = {
        "host_name": h.host_name,
        "ips": list(h.ips),
        "is_super_node": h.is_super_node,
        "last_report_at": now,
    }
    for _ in range(2):
        found = session.execute(
            select(_H.id, _H.is_super_node).where(
                _H.account_id == account_id, _H.host_id == h.host_id
            )
        ).first()
        if found is not None:
            host_pk, was_super = int(found[0]), bool(found[1])
            session.execute(update(_HOSTS).where(_H.id == host_pk).values(values))
            return host_pk, was_super, False
        created = session.execute(
            _dialect_insert(session, _HOSTS)
            .values(account_id=account_id, host_id=h.host_id, **values)
            .on_conflict_do_nothing()
            .returning(_H.id)
        ).scalar()
        if created is not None:
            return int(created), False, True
        # a concurrent first report of the same host won the insert: read it again
    raise RuntimeError(f"host {h.host_id} could neither be read nor inserted")


def _facts(rep: ImageReport) -> dict[str, object]:
    """The image facts a report sets (absent or empty values leave the stored ones)."""
    values: dict[str, object] = {}
    if rep.size:
        values["size"] = rep.size
    if rep.create_time is not None:
        values["create_time"] = rep.create_time
    if rep.repo_digests:
        values["repo_digests"] = sorted(set(rep.repo_digests))
    if rep.os_name:
        values["os_name"] = rep.os_name
    if rep.architecture:
        values["architecture"] = rep.architecture
    return values


def _ensure_images(
    session: Session, account_id: int, reports: dict[str, ImageReport], now: datetime
) -> tuple[dict[str, int], set[int]]:
    """Image primary keys by ID, and which of them existed before this report: one read,
    then one multi-row INSERT ... RETURNING for the new ones."""
    ids = sorted(reports)

    def load(part: Sequence[str]) -> list[Any]:
        return list(
            session.execute(
                select(_I.image_id, _I.id).where(_I.account_id == account_id, _I.image_id.in_(part))
            )
        )

    pks: dict[str, int] = {}
    for part in _chunks(ids):
        for iid, pk in load(part):
            pks[iid] = int(pk)
    existed = set(pks.values())
    missing = [iid for iid in ids if iid not in pks]
    if missing:
        rows = []
        for iid in missing:
            rep = reports[iid]
            rows.append(
                {
                    "account_id": account_id,
                    "image_id": iid,
                    "first_seen": now,
                    "size": rep.size or 0,
                    "create_time": rep.create_time,
                    "repo_digests": sorted(set(rep.repo_digests)),
                    "os_name": rep.os_name or "",
                    "architecture": rep.architecture or "",
                }
            )
        stmt = (
            _dialect_insert(session, _IMAGES).on_conflict_do_nothing().returning(_I.image_id, _I.id)
        )
        for iid, pk in session.execute(stmt, rows):
            pks[iid] = int(pk)
        raced = [iid for iid in missing if iid not in pks]  # inserted concurrently
        for part in _chunks(raced):
            for iid, pk in load(part):
                pks[iid] = int(pk)
    return pks, existed


def _lock_and_read(
    session: Session, affected: Sequence[int], existed: set[int]
) -> tuple[dict[int, Any], dict[int, int]]:
    """Lock the affected image rows in a fixed order (PostgreSQL; SQLite serialises writers)
    and read under that lock: the rows of the reported images that existed before, and the
    HostCnt of every affected image.  ``FOR NO KEY UPDATE``: this transaction changes no
    key, so other transactions' foreign-key checks against these rows (KEY SHARE) go on."""
    pg = session.get_bind().dialect.name == "postgresql"
    cols = (_I.id, _I.image_name, _I.host_cnt, *(_I[f] for f in _FACTS))
    rows: dict[int, Any] = {}
    held: dict[int, int] = {}
    for part in _chunks(affected):
        stmt = select(*cols).where(_I.id.in_(part)).order_by(_I.id)
        for row in session.execute(stmt.with_for_update(key_share=True) if pg else stmt):
            pk = int(row.id)
            held[pk] = int(row.host_cnt)
            if pk in existed:
                rows[pk] = row
    return rows, held


def _update_facts(
    session: Session,
    reports: dict[str, ImageReport],
    pks: dict[str, int],
    existing: dict[int, Any],
) -> set[int]:
    """Write changed facts; returns the images whose CreateTime changed (IsLatestImage)."""
    groups: dict[tuple[str, ...], list[dict[str, object]]] = {}
    dated: set[int] = set()
    for iid, rep in reports.items():
        pk = pks[iid]
        values = _facts(rep)
        row = existing.get(pk)
        if row is not None:
            values = {k: v for k, v in values.items() if getattr(row, k) != v}
        elif values:
            continue  # inserted by this report with these facts
        if values:
            groups.setdefault(tuple(sorted(values)), []).append({"b_pk": pk, **values})
            if "create_time" in values:
                dated.add(pk)
    for keys, params in groups.items():
        stmt = (
            update(_IMAGES)
            .where(_I.id == bindparam("b_pk"))
            .values({k: bindparam(k) for k in keys})
        )
        session.execute(stmt, params)
    return dated


def apply_snapshot(
    session: Session, account_id: int, snap: HostSnapshot, now: datetime
) -> ReportOutcome:
    host_pk, was_super, created = _upsert_host(session, account_id, snap, now)
    is_super = snap.host.is_super_node

    reports: dict[str, ImageReport] = {i.image_id: i for i in snap.images}
    for c in snap.containers:  # a running container implies its image is on the host
        reports.setdefault(c.image_id, ImageReport(image_id=c.image_id))
    pks, existed = _ensure_images(session, account_id, reports, now)

    # a host this report created has no links or containers yet: nothing to read
    old_links: dict[int, list[str]] = (
        {}
        if created
        else {
            int(pk): list(tags or [])
            for pk, tags in session.execute(
                select(_HI.image_pk, _HI.repo_tags).where(_HI.host_pk == host_pk)
            )
        }
    )
    old_containers: dict[str, Any] = (
        {}
        if created
        else {
            row.container_id: row
            for row in session.execute(
                select(_C.id, _C.container_id, _C.image_pk, _C.name, _C.state).where(
                    _C.host_pk == host_pk
                )
            )
        }
    )
    new_links: dict[int, list[str]] = {
        pks[iid]: sorted(set(rep.repo_tags)) for iid, rep in reports.items()
    }
    affected = sorted(
        set(old_links) | {int(r.image_pk) for r in old_containers.values()} | set(new_links)
    )

    existing, held_by = _lock_and_read(session, affected, existed)
    # IsLatestImage follows names, CreateTime and "held by a host" (store.latest)
    latest_touched = _update_facts(session, reports, pks, existing)

    # links: delete what the host no longer has, insert what is new, retag what changed
    removed = [pk for pk in old_links if pk not in new_links]
    for part in _chunks(removed):
        session.execute(delete(_HOST_IMAGES).where(_HI.host_pk == host_pk, _HI.image_pk.in_(part)))
    added = [
        {"host_pk": host_pk, "image_pk": pk, "repo_tags": tags}
        for pk, tags in new_links.items()
        if pk not in old_links
    ]
    if added:
        session.execute(insert(_HOST_IMAGES), added)
    retagged = [
        {"b_host": host_pk, "b_image": pk, "repo_tags": tags}
        for pk, tags in new_links.items()
        if pk in old_links and old_links[pk] != tags
    ]
    if retagged:
        session.execute(
            update(_HOST_IMAGES)
            .where(_HI.host_pk == bindparam("b_host"), _HI.image_pk == bindparam("b_image"))
            .values(repo_tags=bindparam("repo_tags")),
            retagged,
        )

    # containers: the first report of a container ID wins, as before
    crow: dict[str, dict[str, object]] = {}
    for c in snap.containers:
        if c.container_id not in crow:
            crow[c.container_id] = {
                "account_id": account_id,
                "host_pk": host_pk,
                "image_pk": pks[c.image_id],
                "container_id": c.container_id,
                "name": c.name,
                "state": c.state.lower(),
            }
    gone = [r.id for cid, r in old_containers.items() if cid not in crow]
    for part in _chunks(gone):
        session.execute(delete(_CONTAINERS).where(_C.id.in_(part)))
    fresh = [r for cid, r in crow.items() if cid not in old_containers]
    if fresh:
        session.execute(insert(_CONTAINERS), fresh)
    changed = [
        {"b_id": old.id, "image_pk": r["image_pk"], "name": r["name"], "state": r["state"]}
        for cid, r in crow.items()
        if (old := old_containers.get(cid)) is not None
        and (old.image_pk, old.name, old.state) != (r["image_pk"], r["name"], r["state"])
    ]
    if changed:
        session.execute(
            update(_CONTAINERS)
            .where(_C.id == bindparam("b_id"))
            .values(
                image_pk=bindparam("image_pk"), name=bindparam("name"), state=bindparam("state")
            ),
            changed,
        )

    # aggregates: this host's contribution moves; names are recomputed only when needed
    old_running = Counter(int(r.image_pk) for r in old_containers.values() if r.state == RUNNING)
    new_running = Counter(int(r["image_pk"]) for r in crow.values() if r["state"] == RUNNING)  # type: ignore[call-overload]
    full: list[int] = []
    deltas: list[dict[str, int]] = []
    names = _names(session, [pk for pk in new_links if pk not in old_links and pk in existing])
    for pk in affected:
        held_before = pk in old_links or old_running[pk] > 0
        held_now = pk in new_links or new_running[pk] > 0
        if held_before != held_now:
            # IsLatestImage ranks on "held by some host" (HostCnt > 0), not on how many:
            # only a HostCnt that leaves or reaches 0 can move it (exact under the lock)
            stored = held_by.get(pk, 0)
            if (stored > 0) != (stored + int(held_now) - int(held_before) > 0):
                latest_touched.add(pk)
        before, now_tags = old_links.get(pk), new_links.get(pk)
        same_names = (before is None) == (now_tags is None) and _counted(before) == _counted(
            now_tags
        )
        if not same_names and before is None and now_tags is not None and pk in existing:
            row = existing[pk]
            counted = _counted(now_tags)
            same_names = (
                row.host_cnt > 0 and row.image_name in counted and counted <= names.get(pk, set())
            )
        if not same_names:
            full.append(pk)
            continue
        d = {
            "b_pk": pk,
            "dh": int(held_now) - int(held_before),
            "ds": int(held_now and is_super) - int(held_before and bool(was_super)),
            "dc": new_running[pk] - old_running[pk],
        }
        if d["dh"] or d["ds"] or d["dc"]:
            deltas.append(d)
    if deltas and session.get_bind().dialect.name == "postgresql":
        # one UPDATE ... FROM (VALUES ...) instead of a statement per image
        moves = values(
            column("b_pk", BigInteger),
            column("dh", Integer),
            column("ds", Integer),
            column("dc", Integer),
            name="d",
        ).data([(x["b_pk"], x["dh"], x["ds"], x["dc"]) for x in deltas])
        session.execute(
            update(_IMAGES)
            .where(_I.id == moves.c.b_pk)
            .values(
                host_cnt=_I.host_cnt + moves.c.dh,
                super_node_cnt=_I.super_node_cnt + moves.c.ds,
                container_cnt=_I.container_cnt + moves.c.dc,
            )
        )
    elif deltas:
        session.execute(
            update(_IMAGES)
            .where(_I.id == bindparam("b_pk"))
            .values(
                host_cnt=_I.host_cnt + bindparam("dh"),
                super_node_cnt=_I.super_node_cnt + bindparam("ds"),
                container_cnt=_I.container_cnt + bindparam("dc"),
            ),
            deltas,
        )
    renamed = _recompute(session, full)
    old_repos: set[str] = set()
    for _acct, repos in renamed.values():
        old_repos |= repos
    latest.refresh(session, account_id, latest_touched | set(renamed), old_repos)
    return ReportOutcome(
        host_id=snap.host.host_id,
        image_count=len(reports),
        container_count=len(crow),
        removed_images=len(removed),
        removed_containers=max(0, len(old_containers) - len(crow)),
    )


def _names(session: Session, image_pks: Sequence[int]) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for part in _chunks(list(image_pks)):
        for pk, name in session.execute(select(_N.image_pk, _N.name).where(_N.image_pk.in_(part))):
            out.setdefault(int(pk), set()).add(name)
    return out


_TAG_VOTES = {
    # how many of an image's holders report each tag, counted in the database (the JSON
    # lists of a popular image's thousands of links never reach Python)
    "sqlite": "SELECT hi.image_pk, je.value, count(*) FROM host_images AS hi, "
    "json_each(hi.repo_tags) AS je WHERE hi.image_pk IN :pks GROUP BY hi.image_pk, je.value",
    "postgresql": "SELECT hi.image_pk, t.value, count(*) FROM host_images AS hi "
    "CROSS JOIN LATERAL json_array_elements_text(hi.repo_tags) AS t(value) "
    "WHERE hi.image_pk IN :pks GROUP BY hi.image_pk, t.value",
}


def _tag_votes(session: Session, part: Sequence[int]) -> dict[int, Counter[str]]:
    votes: dict[int, Counter[str]] = {pk: Counter() for pk in part}
    stmt = text(_TAG_VOTES[session.get_bind().dialect.name]).bindparams(
        bindparam("pks", expanding=True)
    )
    for image_pk, tag, n in session.execute(stmt, {"pks": list(part)}):
        if tag and tag != NO_NAME:  # (a host's list holds each tag once)
            votes[int(image_pk)][tag] += int(n)
    return votes


def recompute_images(session: Session, image_pks: Sequence[int]) -> None:
    """Recompute HostCnt, SuperNodeCnt, ContainerCnt, names and IsLatestImage of the images."""
    renamed = _recompute(session, image_pks)
    held = latest.accounts_of(session, image_pks)
    by_account: dict[int, tuple[set[int], set[str]]] = {}
    for pk, acct in held.items():
        by_account.setdefault(acct, (set(), set()))[0].add(pk)
    for pk, (acct, repos) in renamed.items():
        touched, old = by_account.setdefault(acct, (set(), set()))
        touched.add(pk)
        old |= repos
    latest.refresh_many(session, by_account)


def _recompute(session: Session, image_pks: Sequence[int]) -> dict[int, tuple[int, set[str]]]:
    """``recompute_images`` without IsLatestImage; returns the images whose names changed:
    pk → (account, the repositories of their previous names)."""
    out: dict[int, tuple[int, set[str]]] = {}
    for part in _chunks(sorted(set(image_pks))):
        holders = union(
            select(_HI.image_pk.label("image_pk"), _HI.host_pk.label("host_pk")).where(
                _HI.image_pk.in_(part)
            ),
            select(_C.image_pk.label("image_pk"), _C.host_pk.label("host_pk")).where(
                _C.image_pk.in_(part), _C.state == RUNNING
            ),
        ).subquery()
        host_counts: dict[int, tuple[int, int]] = {}
        for image_pk, hosts, supers in session.execute(
            select(
                holders.c.image_pk,
                func.count(holders.c.host_pk),
                func.count(_H.id).filter(_H.is_super_node.is_(True)),
            )
            .join(_HOSTS, _H.id == holders.c.host_pk)
            .group_by(holders.c.image_pk)
        ):
            host_counts[int(image_pk)] = (int(hosts), int(supers))
        running: dict[int, int] = {
            int(pk): int(n)
            for pk, n in session.execute(
                select(_C.image_pk, func.count())
                .where(_C.image_pk.in_(part), _C.state == RUNNING)
                .group_by(_C.image_pk)
            )
        }
        tags = _tag_votes(session, part)
        current = {
            int(r.id): r
            for r in session.execute(
                select(
                    _I.id,
                    _I.account_id,
                    _I.image_name,
                    _I.names_search,
                    _I.host_cnt,
                    _I.super_node_cnt,
                    _I.container_cnt,
                ).where(_I.id.in_(part))
            )
        }
        stored_names = _names(session, part)
        groups: dict[tuple[str, ...], list[dict[str, object]]] = {}
        renamed: list[int] = []
        new_names: list[dict[str, object]] = []
        for pk in part:
            cur = current.get(pk)
            if cur is None:
                continue
            hosts, supers = host_counts.get(pk, (0, 0))
            values: dict[str, object] = {
                "host_cnt": hosts,
                "super_node_cnt": supers,
                "container_cnt": running.get(pk, 0),
            }
            counter = tags[pk]
            if counter or hosts:
                # names follow what hosts report now; an image no host holds keeps its last names
                names = sorted(counter)
                primary = min(counter, key=lambda t: (-counter[t], t)) if counter else NO_NAME
                values["image_name"] = primary
                values["names_search"] = "\n".join(n.lower() for n in names)
                if set(names) != stored_names.get(pk, set()):
                    renamed.append(pk)
                    out[pk] = (
                        int(cur.account_id),
                        {repository_of(n) for n in stored_names.get(pk, ())} - {""},
                    )
                    new_names.extend(
                        {"image_pk": pk, "name": n, "account_id": cur.account_id} for n in names
                    )
            elif not cur.image_name:
                values["image_name"] = NO_NAME
            values = {k: v for k, v in values.items() if getattr(cur, k) != v}
            if values:
                groups.setdefault(tuple(sorted(values)), []).append({"b_pk": pk, **values})
        if renamed:
            session.execute(delete(_NAMES).where(_N.image_pk.in_(renamed)))
        if new_names:
            session.execute(insert(_NAMES), new_names)
        for keys, params in groups.items():
            session.execute(
                update(_IMAGES)
                .where(_I.id == bindparam("b_pk"))
                .values({k: bindparam(k) for k in keys}),
                params,
            )
    return out


def prune_orphan_images(session: Session, account_id: int | None = None) -> int:
    """Delete images no host holds or runs any more (HostCnt 0).  Returns how many."""
    stmt = select(Image.id).where(Image.host_cnt == 0)
    if account_id is not None:
        stmt = stmt.where(Image.account_id == account_id)
    pks = [int(p) for p in session.scalars(stmt)]
    # the repositories of the deleted images pick their latest again afterwards
    accounts = latest.accounts_of(session, pks)
    by_account: dict[int, tuple[set[int], set[str]]] = {}
    for pk, repos in latest.repositories_of(session, pks).items():
        by_account.setdefault(accounts[pk], (set(), set()))[1].update(repos)
    for part in _chunks(pks):
        session.execute(delete(Image).where(Image.id.in_(part)))
    latest.refresh_many(session, by_account)
    return len(pks)
