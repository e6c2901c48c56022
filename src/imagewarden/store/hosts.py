"""Applying a host's full snapshot (ReportHostAssets) and keeping per-image aggregates true.

One transaction per snapshot: the host row, its image links (with the tags it has for each
image) and its containers are replaced by what it reports; HostCnt, SuperNodeCnt,
ContainerCnt and the names of every image the host held before or holds now follow.
Affected image rows are locked in primary-key order first, so concurrent reports of hosts
sharing images serialise on those rows instead of overwriting each other's counts.

Only differences are written (a replayed snapshot writes the host's ``last_report_at`` and
nothing else), and the aggregates move by this host's contribution, which is exact under
the lock: HostCnt/SuperNodeCnt by whether the host held the image before and holds it now,
ContainerCnt by its running containers of the image.  An image this report creates is
written whole at once: its counts are this host's, its names this host's tags.  Names of
other images are re-voted from every holder's tags unless this report provably leaves
them unchanged: the host's counted tags for the image are the same as before, or it newly
holds an image that other hosts hold, with tags that are all known names of it and
include its primary name (the primary only gains votes, nothing overtakes it).

The report path speaks driver SQL (``?`` marks, rewritten for psycopg) on the session's
connection, values converted by the columns' own SQLAlchemy types: a report is a handful
of statements over hundreds of rows, and building, compiling and converting them through
the ORM per row cost more CPU than SQLite spends executing them.  ``recompute_images``
and ``prune_orphan_images`` (repairs, rare) keep the ORM's statements.
"""

from __future__ import annotations

import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    Column,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    union,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.schema import ColumnDefault

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


def _chunks(seq: Sequence[Any], n: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


def _counted(tags: Iterable[str] | None) -> frozenset[str]:
    """The tags that vote for an image's names (``<none>:<none>`` and empties do not)."""
    return frozenset(t for t in (tags or ()) if t and t != NO_NAME)


def _elect(votes: Counter[str]) -> tuple[list[str], str, str]:
    """An image's names, primary name and search text from its holders' tag votes: the
    most reported tag is the primary (ties: alphabetically first)."""
    names = sorted(votes)
    primary = min(votes, key=lambda t: (-votes[t], t)) if votes else NO_NAME
    return names, primary, "\n".join(n.lower() for n in names)


def _marks(n: int) -> str:
    return ",".join("?" * n)


def _same(value: Any) -> Any:
    return value


class _Codecs(NamedTuple):
    """Python value ↔ driver value for the column types the report path writes and reads
    (the conversions SQLAlchemy would apply; identity where the driver does it).  The
    JSON ones take and give lists of strings."""

    json_in: Callable[[Any], Any]
    json_out: Callable[[Any], Any]
    time_in: Callable[[Any], Any]
    time_out: Callable[[Any], Any]
    bool_in: Callable[[Any], Any]


_CODECS: weakref.WeakKeyDictionary[Dialect, _Codecs] = weakref.WeakKeyDictionary()
_JSON_CACHE = 16384


def _codecs(dialect: Dialect) -> _Codecs:
    found = _CODECS.get(dialect)
    if found is None:

        def conv(col: Column[Any], bind: bool) -> Callable[[Any], Any]:
            impl = col.type.dialect_impl(dialect)
            proc = impl.bind_processor(dialect) if bind else impl.result_processor(dialect, None)
            return proc or _same

        json_in, json_out = conv(_HI.repo_tags, True), conv(_HI.repo_tags, False)
        if json_out is not _same:
            # a fleet's hosts report the same few tag and digest lists over and over: decode
            # each text once (the lists returned are shared: callers never change them)
            json_out = lru_cache(maxsize=_JSON_CACHE)(json_out)
        cached_in = lru_cache(maxsize=_JSON_CACHE)(lambda values: json_in(list(values)))
        found = _Codecs(
            lambda values: cached_in(tuple(values)),
            json_out,
            conv(_I.create_time, True),
            conv(_I.create_time, False),
            conv(_H.is_super_node, True),
        )
        _CODECS[dialect] = found
    return found


class _Db:
    """The session's connection, spoken to in driver SQL written with ``?`` marks."""

    def __init__(self, session: Session) -> None:
        self.conn = session.connection()
        self.pg = self.conn.dialect.name == "postgresql"
        self.codecs = _codecs(self.conn.dialect)

    def _sql(self, stmt: str) -> str:
        return stmt.replace("?", "%s") if self.pg else stmt

    def rows(self, stmt: str, params: Sequence[Any] = ()) -> Sequence[Any]:
        return self.conn.exec_driver_sql(self._sql(stmt), tuple(params)).fetchall()

    def run(self, stmt: str, params: Sequence[Any] = ()) -> None:
        self.conn.exec_driver_sql(self._sql(stmt), tuple(params))

    def many(self, stmt: str, params: list[tuple[Any, ...]]) -> None:
        """One statement, executed for each parameter tuple (the driver's executemany)."""
        if params:
            self.conn.exec_driver_sql(self._sql(stmt), params)


class _Img(NamedTuple):
    """An ``images`` row as the report path reads it (facts as the driver returns them)."""

    id: int
    image_id: str
    image_name: str
    names_search: str
    host_cnt: int
    size: int
    create_time: Any
    repo_digests: Any
    os_name: str
    architecture: str


_IMG_COLUMNS = ", ".join(_Img._fields)


class _OldContainer(NamedTuple):
    id: int
    image_pk: int
    name: str
    state: str


def _upsert_host(
    db: _Db, account_id: int, snap: HostSnapshot, now: datetime
) -> tuple[int, bool, bool]:
    """The host's primary key, whether it was a super node before this report, and whether
    this report created it (two statements: the read, then the update or an insert that
    returns its key)."""
    h = snap.host
    c = db.codecs
    values = (h.host_name, c.json_in(list(h.ips)), c.bool_in(h.is_super_node), c.time_in(now))
    for _ in range(2):
        found = db.rows(
            "SELECT id, is_super_node FROM hosts WHERE account_id = ? AND host_id = ?",
            (account_id, h.host_id),
        )
        if found:
            host_pk, was_super = int(found[0][0]), bool(found[0][1])
            db.run(
                "UPDATE hosts SET host_name = ?, ips = ?, is_super_node = ?, last_report_at = ? "
                "WHERE id = ?",
                (*values, host_pk),
            )
            return host_pk, was_super, False
        created = db.rows(
            "INSERT INTO hosts (account_id, host_id, host_name, ips, is_super_node, "
            "last_report_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
            (account_id, h.host_id, *values),
        )
        if created:
            return int(created[0][0]), False, True
        # a concurrent first report of the same host won the insert: read it again
    raise RuntimeError(f"host {h.host_id} could neither be read nor inserted")


def _find_images(
    db: _Db,
    account_id: int,
    ids: Sequence[str],
    pks: dict[str, int],
    rows: dict[int, _Img] | None,
) -> None:
    """Fill ``pks`` (image ID → primary key) for the images of ``ids`` that exist, and
    ``rows`` with them when given (where nothing needs locking: SQLite, whose writer holds
    the database since the host's row was written)."""
    cols = _IMG_COLUMNS if rows is not None else "id, image_id"
    for part in _chunks(ids):
        for r in db.rows(
            f"SELECT {cols} FROM images WHERE account_id = ? AND image_id IN ({_marks(len(part))})",
            (account_id, *part),
        ):
            pks[r[1]] = int(r[0])
            if rows is not None:
                rows[int(r[0])] = _Img._make(r)


def _read_rows(db: _Db, pks: Sequence[int], rows: dict[int, _Img]) -> None:
    """Read (PostgreSQL: and lock, in primary-key order) the image rows of ``pks``
    (ascending).  ``FOR NO KEY UPDATE``: this transaction changes no key, so other
    transactions' foreign-key checks against these rows (KEY SHARE) go on."""
    lock = " ORDER BY id FOR NO KEY UPDATE" if db.pg else ""
    for part in _chunks(pks):
        for r in db.rows(
            f"SELECT {_IMG_COLUMNS} FROM images WHERE id IN ({_marks(len(part))}){lock}", part
        ):
            rows[int(r[0])] = _Img._make(r)


#: the columns of a new image that a report sets (``_insert_images``), in this order
_REPORTED = (
    "account_id",
    "image_id",
    "first_seen",
    "size",
    "create_time",
    "repo_digests",
    "os_name",
    "architecture",
    "image_name",
    "names_search",
    "host_cnt",
    "super_node_cnt",
    "container_cnt",
)
_IMAGE_ROWS = 200  # per multi-row INSERT (~40 values a row: well under either bind limit)
_INSERT_IMAGES: weakref.WeakKeyDictionary[Dialect, tuple[str, tuple[Any, ...]]] = (
    weakref.WeakKeyDictionary()
)


def _image_insert(dialect: Dialect) -> tuple[str, tuple[Any, ...]]:
    """The INSERT of new images in driver SQL (one ``{rows}`` placeholder for the row
    marks), and the driver values that follow the reported ones in each row: every other
    column with a model default gets it, as the ORM's INSERT would give it."""
    found = _INSERT_IMAGES.get(dialect)
    if found is None:
        cols, defaults = list(_REPORTED), []
        for col in _IMAGES.columns:
            default = col.default
            if col.name in _REPORTED or not isinstance(default, ColumnDefault):
                continue  # the key, or left to the database (its server default, NULL)
            value = default.arg if default.is_scalar else default.arg(None)
            bind = col.type.dialect_impl(dialect).bind_processor(dialect)
            cols.append(col.name)
            defaults.append(bind(value) if bind else value)
        sql = (
            f"INSERT INTO images ({', '.join(cols)}) VALUES {{rows}} "
            "ON CONFLICT DO NOTHING RETURNING image_id, id"
        )
        found = _INSERT_IMAGES[dialect] = (sql, tuple(defaults))
    return found


def _insert_images(
    db: _Db,
    account_id: int,
    missing: Sequence[str],
    reports: dict[str, ImageReport],
    counts: dict[str, tuple[int, int, int]],
    now: datetime,
) -> tuple[dict[str, int], list[tuple[Any, ...]]]:
    """Insert the images this report is the first to hold, whole: facts, counts (this
    host's) and names (its tags).  Returns image ID → primary key of the rows inserted
    (one inserted concurrently is absent) and their ``image_names`` rows."""
    sql, defaults = _image_insert(db.conn.dialect)
    c = db.codecs
    first_seen = c.time_in(now)
    mark = "(" + _marks(len(_REPORTED) + len(defaults)) + ")"
    rows = []
    names: dict[str, list[str]] = {}
    for iid in missing:
        rep = reports[iid]
        names[iid], primary, search = _elect(Counter(_counted(rep.repo_tags)))
        created = None if rep.create_time is None else c.time_in(rep.create_time)
        rows.append(
            (
                account_id,
                iid,
                first_seen,
                rep.size or 0,
                created,
                c.json_in(sorted(set(rep.repo_digests))),
                rep.os_name or "",
                rep.architecture or "",
                primary,
                search,
                *counts[iid],
                *defaults,
            )
        )
    pks: dict[str, int] = {}
    for part in _chunks(rows, _IMAGE_ROWS):
        stmt = sql.format(rows=",".join([mark] * len(part)))
        for iid, pk in db.rows(stmt, [v for row in part for v in row]):
            pks[iid] = int(pk)
    name_rows = [
        (pk, n, account_id, repository_of(n)) for iid, pk in pks.items() for n in names[iid]
    ]
    return pks, name_rows


def _update_facts(
    db: _Db, reports: dict[str, ImageReport], pks: dict[str, int], rows: dict[int, _Img]
) -> set[int]:
    """Write the facts that changed on images that existed (absent or empty reported values
    leave the stored ones); returns the images whose CreateTime changed (IsLatestImage)."""
    c = db.codecs
    groups: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    dated: set[int] = set()
    for iid, rep in reports.items():
        row = rows.get(pks[iid])
        if row is None:
            continue  # inserted by this report with these facts
        changed: dict[str, Any] = {}
        if rep.size and rep.size != row.size:
            changed["size"] = rep.size
        if rep.create_time is not None and rep.create_time != c.time_out(row.create_time):
            changed["create_time"] = c.time_in(rep.create_time)
            dated.add(row.id)
        if rep.repo_digests:
            digests = sorted(set(rep.repo_digests))
            if digests != c.json_out(row.repo_digests):
                changed["repo_digests"] = c.json_in(digests)
        if rep.os_name and rep.os_name != row.os_name:
            changed["os_name"] = rep.os_name
        if rep.architecture and rep.architecture != row.architecture:
            changed["architecture"] = rep.architecture
        if changed:
            groups.setdefault(tuple(changed), []).append((*changed.values(), row.id))
    for keys, params in groups.items():
        sets = ", ".join(f"{k} = ?" for k in keys)
        db.many(f"UPDATE images SET {sets} WHERE id = ?", params)
    return dated


def _write_links(
    db: _Db, host_pk: int, old: dict[int, list[str]], new: dict[int, list[str]]
) -> list[int]:
    """Delete what the host no longer has, insert what is new, retag what changed; returns
    the images removed."""
    json_in = db.codecs.json_in
    removed = [pk for pk in old if pk not in new]
    for part in _chunks(removed):
        db.run(
            f"DELETE FROM host_images WHERE host_pk = ? AND image_pk IN ({_marks(len(part))})",
            (host_pk, *part),
        )
    db.many(
        "INSERT INTO host_images (host_pk, image_pk, repo_tags) VALUES (?, ?, ?)",
        [(host_pk, pk, json_in(new[pk])) for pk in sorted(new) if pk not in old],
    )
    db.many(
        "UPDATE host_images SET repo_tags = ? WHERE host_pk = ? AND image_pk = ?",
        [(json_in(tags), host_pk, pk) for pk, tags in new.items() if pk in old and old[pk] != tags],
    )
    return removed


def _write_containers(
    db: _Db,
    account_id: int,
    host_pk: int,
    old: dict[str, _OldContainer],
    new: dict[str, tuple[int, str, str]],
) -> None:
    """Replace the host's containers by the reported ones (container ID → image pk, name,
    state)."""
    gone = [r.id for cid, r in old.items() if cid not in new]
    for part in _chunks(gone):
        db.run(f"DELETE FROM containers WHERE id IN ({_marks(len(part))})", part)
    db.many(
        "INSERT INTO containers (account_id, host_pk, image_pk, container_id, name, state) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [
            (account_id, host_pk, image_pk, cid, name, state)
            for cid, (image_pk, name, state) in new.items()
            if cid not in old
        ],
    )
    db.many(
        "UPDATE containers SET image_pk = ?, name = ?, state = ? WHERE id = ?",
        [
            (*r, o.id)
            for cid, r in new.items()
            if (o := old.get(cid)) is not None and (o.image_pk, o.name, o.state) != r
        ],
    )


def _names(db: _Db, image_pks: Sequence[int]) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for part in _chunks(sorted(image_pks)):
        for pk, name in db.rows(
            f"SELECT image_pk, name FROM image_names WHERE image_pk IN ({_marks(len(part))})",
            part,
        ):
            out.setdefault(int(pk), set()).add(name)
    return out


_TAG_VOTES = {
    # how many of an image's holders report each tag, counted in the database (the JSON
    # lists of a popular image's thousands of links never reach Python)
    "sqlite": "SELECT hi.image_pk, je.value, count(*) FROM host_images AS hi, "
    "json_each(hi.repo_tags) AS je WHERE hi.image_pk IN ({pks}) GROUP BY hi.image_pk, je.value",
    "postgresql": "SELECT hi.image_pk, t.value, count(*) FROM host_images AS hi "
    "CROSS JOIN LATERAL json_array_elements_text(hi.repo_tags) AS t(value) "
    "WHERE hi.image_pk IN ({pks}) GROUP BY hi.image_pk, t.value",
}


def _votes(
    dialect: str, run: Callable[[str, Sequence[int]], Iterable[Any]], part: Sequence[int]
) -> dict[int, Counter[str]]:
    """Tag votes of the images of ``part`` (``run`` executes driver SQL with ``?`` marks)."""
    votes: dict[int, Counter[str]] = {pk: Counter() for pk in part}
    for image_pk, tag, n in run(_TAG_VOTES[dialect].format(pks=_marks(len(part))), part):
        if tag and tag != NO_NAME:  # (a host's list holds each tag once)
            votes[int(image_pk)][tag] += int(n)
    return votes


def _revote(
    db: _Db,
    account_id: int,
    image_pks: Sequence[int],
    rows: dict[int, _Img],
    held: dict[int, int],
    stored: dict[int, set[str]],
    name_rows: list[tuple[Any, ...]],
) -> dict[int, set[str]]:
    """Re-vote the names of ``image_pks`` (rows read under the lock; ``held``: their
    HostCnt after this report; ``stored``: their names before it).  Appends the new
    ``image_names`` rows to ``name_rows`` and returns the renamed images → the
    repositories of their previous names."""
    renamed: dict[int, set[str]] = {}
    groups: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    dialect = db.conn.dialect.name
    for part in _chunks(image_pks):
        votes = _votes(dialect, db.rows, part)
        for pk in part:
            row = rows[pk]
            changed: dict[str, str] = {}
            if votes[pk] or held[pk]:
                # names follow what hosts report now; an image no host holds keeps its last
                names, primary, search = _elect(votes[pk])
                if primary != row.image_name:
                    changed["image_name"] = primary
                if search != row.names_search:
                    changed["names_search"] = search
                before = stored.get(pk, set())
                if set(names) != before:
                    renamed[pk] = {repository_of(n) for n in before} - {""}
                    name_rows.extend((pk, n, account_id, repository_of(n)) for n in names)
            elif not row.image_name:
                changed["image_name"] = NO_NAME
            if changed:
                groups.setdefault(tuple(changed), []).append((*changed.values(), pk))
    for keys, params in groups.items():
        sets = ", ".join(f"{k} = ?" for k in keys)
        db.many(f"UPDATE images SET {sets} WHERE id = ?", params)
    for part in _chunks(sorted(renamed)):
        db.run(f"DELETE FROM image_names WHERE image_pk IN ({_marks(len(part))})", part)
    return renamed


def apply_snapshot(
    session: Session, account_id: int, snap: HostSnapshot, now: datetime
) -> ReportOutcome:
    db = _Db(session)
    host_pk, was_super, created = _upsert_host(db, account_id, snap, now)
    is_super = snap.host.is_super_node

    reports: dict[str, ImageReport] = {i.image_id: i for i in snap.images}
    for c in snap.containers:  # a running container implies its image is on the host
        reports.setdefault(c.image_id, ImageReport(image_id=c.image_id))
    # containers: the first report of a container ID wins, as before
    crow: dict[str, tuple[str, str, str]] = {}
    for c in snap.containers:
        if c.container_id not in crow:
            crow[c.container_id] = (c.image_id, c.name, c.state.lower())
    running_of = Counter(iid for iid, _, state in crow.values() if state == RUNNING)

    # a host this report created has no links or containers yet: nothing to read
    old_links: dict[int, list[str]] = {}
    old_containers: dict[str, _OldContainer] = {}
    if not created:
        json_out = db.codecs.json_out
        for pk, tags in db.rows(
            "SELECT image_pk, repo_tags FROM host_images WHERE host_pk = ?", (host_pk,)
        ):
            old_links[int(pk)] = list(json_out(tags) or [])
        for cid, *rest in db.rows(
            "SELECT container_id, id, image_pk, name, state FROM containers WHERE host_pk = ?",
            (host_pk,),
        ):
            old_containers[cid] = _OldContainer._make(rest)

    ids = sorted(reports)
    pks: dict[str, int] = {}
    rows: dict[int, _Img] = {}  # every affected image that existed, read under the lock
    _find_images(db, account_id, ids, pks, None if db.pg else rows)
    missing = [iid for iid in ids if iid not in pks]
    name_rows: list[tuple[Any, ...]] = []
    inserted: dict[str, int] = {}
    if missing:
        counts = {iid: (1, int(is_super), running_of[iid]) for iid in missing}
        inserted, name_rows = _insert_images(db, account_id, missing, reports, counts, now)
        pks.update(inserted)
        raced = [iid for iid in missing if iid not in inserted]  # inserted concurrently
        _find_images(db, account_id, raced, pks, None if db.pg else rows)
    new_pks = set(inserted.values())

    new_links = {pks[iid]: sorted(set(rep.repo_tags)) for iid, rep in reports.items()}
    affected = sorted(
        set(old_links) | {r.image_pk for r in old_containers.values()} | set(new_links)
    )
    _read_rows(db, [pk for pk in affected if pk not in rows and pk not in new_pks], rows)
    # IsLatestImage follows names, CreateTime and "held by a host" (store.latest)
    latest_touched = _update_facts(db, reports, pks, rows) | new_pks

    removed = _write_links(db, host_pk, old_links, new_links)
    _write_containers(
        db,
        account_id,
        host_pk,
        old_containers,
        {cid: (pks[iid], name, state) for cid, (iid, name, state) in crow.items()},
    )

    # aggregates: this host's contribution moves; names are re-voted only when needed
    old_running = Counter(r.image_pk for r in old_containers.values() if r.state == RUNNING)
    new_running = Counter({pks[iid]: n for iid, n in running_of.items()})
    moves: dict[tuple[int, int, int], list[int]] = {}
    held: dict[int, int] = {}
    unsure: list[int] = []  # names may move
    for pk in affected:
        row = rows.get(pk)
        if row is None:
            continue  # written whole by this report
        before, now_tags = old_links.get(pk), new_links.get(pk)
        held_before = before is not None or old_running[pk] > 0
        held_now = now_tags is not None or new_running[pk] > 0
        held[pk] = row.host_cnt + held_now - held_before
        # IsLatestImage ranks on "held by some host" (HostCnt > 0), not on how many: only a
        # HostCnt that leaves or reaches 0 can move it (exact under the lock)
        if (row.host_cnt > 0) != (held[pk] > 0):
            latest_touched.add(pk)
        move = (
            int(held_now) - int(held_before),
            int(held_now and is_super) - int(held_before and was_super),
            new_running[pk] - old_running[pk],
        )
        if move != (0, 0, 0):
            moves.setdefault(move, []).append(pk)
        if before != now_tags and (
            (before is None) != (now_tags is None) or _counted(before) != _counted(now_tags)
        ):
            unsure.append(pk)
    _move_counts(db, moves)

    full, check = _unsure_names(unsure, old_links, new_links, rows)
    stored = _names(db, full + [pk for pk, _ in check])
    full += [pk for pk, counted in check if not counted <= stored.get(pk, set())]
    renamed = _revote(db, account_id, sorted(full), rows, held, stored, name_rows)
    db.many(
        "INSERT INTO image_names (image_pk, name, account_id, repository) VALUES (?, ?, ?, ?)",
        name_rows,
    )
    old_repos: set[str] = set()
    for repos in renamed.values():
        old_repos |= repos
    latest.refresh(session, account_id, latest_touched | set(renamed), old_repos)
    return ReportOutcome(
        host_id=snap.host.host_id,
        image_count=len(reports),
        container_count=len(crow),
        removed_images=len(removed),
        removed_containers=max(0, len(old_containers) - len(crow)),
    )


_COUNTS = ("host_cnt", "super_node_cnt", "container_cnt")


def _move_counts(db: _Db, moves: dict[tuple[int, int, int], list[int]]) -> None:
    """Add (HostCnt, SuperNodeCnt, ContainerCnt) deltas to images: one statement per set of
    columns that move, naming only those (an index over a column the UPDATE names is
    rewritten even when its value stays)."""
    shapes: dict[tuple[str, ...], list[tuple[int, ...]]] = {}
    for move, group in moves.items():
        cols = tuple(c for c, d in zip(_COUNTS, move, strict=True) if d)
        deltas = tuple(d for d in move if d)
        shapes.setdefault(cols, []).extend((*deltas, pk) for pk in group)
    for cols, params in shapes.items():
        sets = ", ".join(f"{c} = {c} + ?" for c in cols)
        db.many(f"UPDATE images SET {sets} WHERE id = ?", params)


def _unsure_names(
    unsure: Sequence[int],
    old_links: dict[int, list[str]],
    new_links: dict[int, list[str]],
    rows: dict[int, _Img],
) -> tuple[list[int], list[tuple[int, frozenset[str]]]]:
    """Of the images whose tags from this host changed: those whose names must be re-voted,
    and those that keep them if their stored names include the host's counted tags (a new
    link to an image other hosts hold, whose primary name is among the tags).  Tags that
    are only the primary name need no read: the primary is always one of the names."""
    full: list[int] = []
    check: list[tuple[int, frozenset[str]]] = []
    for pk in unsure:
        row = rows[pk]
        if pk not in old_links and pk in new_links and row.host_cnt > 0:
            counted = _counted(new_links[pk])
            if row.image_name in counted:
                if len(counted) > 1:
                    check.append((pk, counted))
                continue
        full.append(pk)
    return full, check


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
    db = _Db(session)
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
        tags = _votes(db.conn.dialect.name, db.rows, part)
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
        stored_names = _names(db, part)
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
                names, values["image_name"], values["names_search"] = _elect(counter)
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
