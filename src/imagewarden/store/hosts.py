"""Applying a host's full snapshot (ReportHostAssets) and keeping per-image aggregates true.

One transaction per snapshot: the host row, its image links (with the tags it has for each
image) and its containers are replaced by what it reports; then HostCnt, SuperNodeCnt,
ContainerCnt and the names of every image the host held before or holds now are recomputed.
Affected image rows are locked in primary-key order first, so concurrent reports of hosts
sharing images serialise on those rows instead of overwriting each other's counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import delete, func, insert, select, union, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from imagewarden.inventory.models import HostSnapshot, ImageReport, ReportOutcome
from imagewarden.store.tables import Container, Host, HostImage, Image, ImageName

__all__ = ["apply_snapshot", "prune_orphan_images", "recompute_images"]

RUNNING = "running"
NO_NAME = "<none>:<none>"
_CHUNK = 500


def _chunks(seq: Sequence[int], n: int = _CHUNK) -> Iterable[Sequence[int]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


def _insert_ignore(session: Session, table: type, rows: list[dict[str, object]]) -> None:
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    mod = postgresql if dialect == "postgresql" else sqlite
    stmt = mod.insert(table).on_conflict_do_nothing()
    session.execute(stmt, rows)


def _upsert_host(session: Session, account_id: int, snap: HostSnapshot, now: datetime) -> int:
    h = snap.host
    _insert_ignore(
        session,
        Host,
        [
            {
                "account_id": account_id,
                "host_id": h.host_id,
                "host_name": h.host_name,
                "ips": list(h.ips),
                "is_super_node": h.is_super_node,
                "last_report_at": now,
            }
        ],
    )
    host_pk = session.scalar(
        select(Host.id).where(Host.account_id == account_id, Host.host_id == h.host_id)
    )
    assert host_pk is not None
    session.execute(
        update(Host)
        .where(Host.id == host_pk)
        .values(
            host_name=h.host_name,
            ips=list(h.ips),
            is_super_node=h.is_super_node,
            last_report_at=now,
        )
    )
    return int(host_pk)


def _ensure_images(
    session: Session, account_id: int, reports: dict[str, ImageReport], now: datetime
) -> dict[str, int]:
    ids = sorted(reports)
    _insert_ignore(
        session,
        Image,
        [
            {
                "account_id": account_id,
                "image_id": iid,
                "first_seen": now,
                "size": reports[iid].size,
                "create_time": reports[iid].create_time,
            }
            for iid in ids
        ],
    )
    pks: dict[str, int] = {}
    for part in (ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)):
        for iid, pk in session.execute(
            select(Image.image_id, Image.id).where(
                Image.account_id == account_id, Image.image_id.in_(part)
            )
        ):
            pks[iid] = int(pk)
    return pks


def apply_snapshot(
    session: Session, account_id: int, snap: HostSnapshot, now: datetime
) -> ReportOutcome:
    host_pk = _upsert_host(session, account_id, snap, now)

    reports: dict[str, ImageReport] = {i.image_id: i for i in snap.images}
    for c in snap.containers:  # a running container implies its image is on the host
        reports.setdefault(c.image_id, ImageReport(image_id=c.image_id))
    pks = _ensure_images(session, account_id, reports, now)

    old_links = {
        int(pk)
        for pk in session.scalars(select(HostImage.image_pk).where(HostImage.host_pk == host_pk))
    }
    old_container_images = {
        int(pk)
        for pk in session.scalars(select(Container.image_pk).where(Container.host_pk == host_pk))
    }
    new_links = set(pks.values())
    affected = sorted(old_links | old_container_images | new_links)

    # lock the affected image rows in a fixed order (PostgreSQL; SQLite serialises writers)
    if session.get_bind().dialect.name == "postgresql":
        for part in _chunks(affected):
            session.execute(
                select(Image.id).where(Image.id.in_(part)).order_by(Image.id).with_for_update()
            )

    # image facts the host reports
    for iid, rep in reports.items():
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
        if values:
            session.execute(update(Image).where(Image.id == pks[iid]).values(**values))

    # links: replace this host's set (tags may have changed for images it keeps)
    removed = old_links - new_links
    session.execute(delete(HostImage).where(HostImage.host_pk == host_pk))
    link_rows: list[dict[str, object]] = [
        {"host_pk": host_pk, "image_pk": pks[iid], "repo_tags": sorted(set(rep.repo_tags))}
        for iid, rep in reports.items()
    ]
    if link_rows:
        session.execute(insert(HostImage), link_rows)

    # containers: replace this host's set
    old_containers = (
        session.scalar(
            select(func.count()).select_from(Container).where(Container.host_pk == host_pk)
        )
        or 0
    )
    session.execute(delete(Container).where(Container.host_pk == host_pk))
    seen: set[str] = set()
    crow: list[dict[str, object]] = []
    for c in snap.containers:
        if c.container_id in seen:
            continue
        seen.add(c.container_id)
        crow.append(
            {
                "account_id": account_id,
                "host_pk": host_pk,
                "image_pk": pks[c.image_id],
                "container_id": c.container_id,
                "name": c.name,
                "state": c.state.lower(),
            }
        )
    if crow:
        session.execute(insert(Container), crow)

    recompute_images(session, affected)
    return ReportOutcome(
        host_id=snap.host.host_id,
        image_count=len(reports),
        container_count=len(crow),
        removed_images=len(removed),
        removed_containers=max(0, int(old_containers) - len(crow)),
    )


def recompute_images(session: Session, image_pks: Sequence[int]) -> None:
    """Recompute HostCnt, SuperNodeCnt, ContainerCnt and names of the given images."""
    for part in _chunks(list(image_pks)):
        holders = union(
            select(HostImage.image_pk.label("image_pk"), HostImage.host_pk.label("host_pk")).where(
                HostImage.image_pk.in_(part)
            ),
            select(Container.image_pk.label("image_pk"), Container.host_pk.label("host_pk")).where(
                Container.image_pk.in_(part), Container.state == RUNNING
            ),
        ).subquery()
        host_counts: dict[int, tuple[int, int]] = {}
        for image_pk, hosts, supers in session.execute(
            select(
                holders.c.image_pk,
                func.count(holders.c.host_pk),
                func.count(Host.id).filter(Host.is_super_node.is_(True)),
            )
            .join(Host, Host.id == holders.c.host_pk)
            .group_by(holders.c.image_pk)
        ):
            host_counts[int(image_pk)] = (int(hosts), int(supers))
        running: dict[int, int] = {
            int(pk): int(n)
            for pk, n in session.execute(
                select(Container.image_pk, func.count())
                .where(Container.image_pk.in_(part), Container.state == RUNNING)
                .group_by(Container.image_pk)
            )
        }
        tags: dict[int, Counter[str]] = {pk: Counter() for pk in part}
        for image_pk, repo_tags in session.execute(
            select(HostImage.image_pk, HostImage.repo_tags).where(HostImage.image_pk.in_(part))
        ):
            tags[int(image_pk)].update(t for t in (repo_tags or []) if t and t != NO_NAME)
        current_names = {
            int(pk): name
            for pk, name in session.execute(
                select(Image.id, Image.image_name).where(Image.id.in_(part))
            )
        }
        for pk in part:
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
                session.execute(delete(ImageName).where(ImageName.image_pk == pk))
                if names:
                    acct = session.scalar(select(Image.account_id).where(Image.id == pk))
                    session.execute(
                        insert(ImageName),
                        [{"image_pk": pk, "name": n, "account_id": acct} for n in names],
                    )
            elif not current_names.get(pk):
                values["image_name"] = NO_NAME
            session.execute(update(Image).where(Image.id == pk).values(**values))


def prune_orphan_images(session: Session, account_id: int | None = None) -> int:
    """Delete images no host holds or runs any more (HostCnt 0).  Returns how many."""
    stmt = select(Image.id).where(Image.host_cnt == 0)
    if account_id is not None:
        stmt = stmt.where(Image.account_id == account_id)
    pks = [int(p) for p in session.scalars(stmt)]
    for part in _chunks(pks):
        session.execute(delete(Image).where(Image.id.in_(part)))
    return len(pks)
