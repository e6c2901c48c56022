"""SQL of image licences: the quota row and the ``images.is_authorized`` flag it governs.

A licence *is* ``images.is_authorized = 1`` on an image whose decision is made
(``images.id <= licence_quotas.decided_upto``).  New images arrive with the column's default
(0) but undecided; ``reconcile`` decides them oldest first: authorised while the account
has free licences, unauthorised after.  Deleting an image frees its licence by itself,
because ``used`` is always counted, never stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, bindparam, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from imagewarden.inventory.models import ImageQuery
from imagewarden.store.feature_tables import LicenceQuotaRow
from imagewarden.store.images import _where
from imagewarden.store.tables import Image

__all__ = [
    "SETTLED_EXISTS",
    "LicenceCounts",
    "authorise",
    "counts",
    "grant",
    "reconcile",
    "revoke",
    "set_total",
    "settled",
]


@dataclass(frozen=True)
class LicenceCounts:
    total: int
    used: int  # authorised images
    unauthorised: int
    updated_at: datetime | None


def _ensure_row(session: Session, account_id: int, default_total: int, now: datetime) -> None:
    values = {
        "account_id": account_id,
        "total": default_total,
        "decided_upto": 0,
        "updated_at": now,
    }
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(LicenceQuotaRow).values(**values).on_conflict_do_nothing())


def _is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def _nth_id(session: Session, conds: Sequence[ColumnElement[bool]], n: int) -> int | None:
    """The ``images.id`` of the n-th (1-based) image matching ``conds``, oldest first."""
    if n <= 0:
        return None
    return session.scalar(select(Image.id).where(*conds).order_by(Image.id).offset(n - 1).limit(1))


_QUOTAS = cast(Table, LicenceQuotaRow.__table__).c
_IMAGES = cast(Table, Image.__table__).c
#: one read, built once (Core columns: no ORM compile step per call): the account has its
#: quota row and no image newer than its mark
_SETTLED = select(_QUOTAS.account_id).where(
    _QUOTAS.account_id == bindparam("acct"),
    ~exists().where(_IMAGES.account_id == bindparam("acct"), _IMAGES.id > _QUOTAS.decided_upto),
)


#: ``settled`` as a condition (parameter ``acct``) for another statement to carry: one
#: object, since the listing caches its page statement per condition
SETTLED_EXISTS = _SETTLED.exists()


def settled(session: Session, account_id: int) -> bool:
    """Whether ``reconcile`` has nothing to do for the account: one read-only statement (no
    write, so no SQLite write lock), run before every listing that shows IsAuthorized."""
    return session.connection().execute(_SETTLED, {"acct": account_id}).first() is not None


def reconcile(
    session: Session,
    account_id: int,
    default_total: int,
    now: datetime,
    max_images: int | None = None,
) -> bool:
    """Decide the licences of images that arrived since the last call (cheap when none did);
    with ``max_images``, of at most that many, oldest first.  Returns whether every image is
    decided now.

    A backlog is best decided in steps of ``max_images``, one transaction each
    (``inventory.licences.LicenceService.reconcile``): a single one deciding a million
    images would hold the database's write lock (SQLite) for the whole of it.

    Two processes reconciling at once: the ``UPDATE ... WHERE decided_upto = :seen`` claim
    lets exactly one of them decide a range; the other sees no row updated and leaves it
    (and answers False: not known to be settled).
    """
    if settled(session, account_id):
        return True
    _ensure_row(session, account_id, default_total, now)
    row = session.execute(
        select(LicenceQuotaRow.total, LicenceQuotaRow.decided_upto).where(
            LicenceQuotaRow.account_id == account_id
        )
    ).one()
    total, mark = int(row.total), int(row.decided_upto)
    newer = session.scalar(
        select(Image.id)
        .where(Image.id > mark, Image.account_id == account_id)
        .order_by(Image.id)
        .limit(1)
    )
    if newer is None:
        return True
    mine = Image.account_id == account_id
    top = int(session.scalar(select(func.max(Image.id)).where(mine)) or 0)
    step_top = _nth_id(session, [mine, Image.id > mark], max_images) if max_images else None
    last = step_top is None or step_top >= top
    if not last:
        top = int(step_top)  # type: ignore[arg-type]
    claimed = session.execute(
        update(LicenceQuotaRow)
        .where(LicenceQuotaRow.account_id == account_id, LicenceQuotaRow.decided_upto == mark)
        .values(decided_upto=top, updated_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return False
    # SQLite's planner walks the primary key up to the mark (a million rows at a million
    # images) rather than the authorised entries of the IsAuthorized index unless ``id``
    # is hidden from it (``id + 0``: the usual way to say "not this index" there)
    upto_mark = (Image.id + 0 if _is_sqlite(session) else Image.id) <= mark
    used = int(
        session.scalar(select(func.count()).where(mine, upto_mark, Image.is_authorized == 1)) or 0
    )
    fresh = [mine, Image.id > mark, Image.id <= top]
    free = total - used
    cutoff = _nth_id(session, fresh, free)  # None: no free licence, or more than new images
    if free <= 0:
        _decide(session, fresh, 0)
        return last
    _decide(session, fresh if cutoff is None else [*fresh, Image.id <= cutoff], 1)
    if cutoff is not None:
        _decide(session, [*fresh, Image.id > cutoff], 0)
    return last


#: rows a reconcile changes per statement: bounds each statement's locks and undo, not the
#: transaction (the claim on ``decided_upto`` makes the whole decision one transaction)
_DECIDE_CHUNK = 10_000


def _decide(session: Session, conds: Sequence[ColumnElement[bool]], flag: int) -> None:
    """Set ``is_authorized = flag`` on the images matching ``conds``, writing only the rows
    whose flag differs.

    New images arrive with flag 0, so deciding a backlog far larger than the quota (a fleet
    of a million images on the default 1,000 licences) writes about as many rows as there
    are licences, not one per image: every written row is a new version of an ``images`` row
    through all its indexes, which on PostgreSQL took over 14 minutes for a million.

    PostgreSQL: the rows are locked in id order before they are written, as a host report
    locks its images (store/hosts.py); an UPDATE locks in scan order, and the two deadlocked.
    """
    differ = [*conds, Image.is_authorized != flag]
    pg = session.get_bind().dialect.name == "postgresql"
    after = 0
    while True:
        pick = select(Image.id).where(*differ, Image.id > after).order_by(Image.id)
        pick = pick.limit(_DECIDE_CHUNK)
        if pg:
            pick = pick.with_for_update(key_share=True)
        ids = [int(i) for i in session.scalars(pick)]
        if not ids:
            return
        session.execute(
            update(Image)
            .where(Image.id >= ids[0], Image.id <= ids[-1], *differ)
            .values(is_authorized=flag)
        )
        if len(ids) < _DECIDE_CHUNK:
            return
        after = ids[-1]


def counts(session: Session, account_id: int) -> LicenceCounts:
    row = session.get(LicenceQuotaRow, account_id)
    by_flag = dict(
        session.execute(
            select(Image.is_authorized, func.count())
            .where(Image.account_id == account_id)
            .group_by(Image.is_authorized)
        ).all()
    )
    used = int(sum(n for flag, n in by_flag.items() if flag))
    return LicenceCounts(
        int(row.total) if row else 0,
        used,
        int(by_flag.get(0, 0)),
        row.updated_at if row else None,
    )


def set_total(session: Session, account_id: int, total: int, now: datetime) -> int:
    """Set the quota; when it shrinks below the licences in use, the newest authorised
    images lose theirs.  Returns how many were revoked."""
    _ensure_row(session, account_id, total, now)
    session.execute(
        update(LicenceQuotaRow)
        .where(LicenceQuotaRow.account_id == account_id)
        .values(total=total, updated_at=now)
    )
    held = [Image.account_id == account_id, Image.is_authorized == 1]
    cutoff = _nth_id(session, held, total)
    extra: list[Any] = [*held, Image.id > cutoff] if cutoff is not None else held
    if cutoff is None and total > 0:
        return 0  # fewer licences in use than the new total
    res = session.execute(update(Image).where(*extra).values(is_authorized=0))
    return int(res.rowcount)  # type: ignore[attr-defined]


def authorise(
    session: Session,
    account_id: int,
    *,
    image_ids: Sequence[str],
    query: ImageQuery | None,
    exclude: Sequence[str],
    limit: int,
) -> list[int]:
    """The ``images.id`` of up to ``limit`` unauthorised images chosen by IDs, or by the
    list filters (``query``), or all of them (neither given), minus ``exclude``; oldest
    first.  The caller checks the quota and then calls ``grant``."""
    conds: list[Any] = [Image.account_id == account_id, Image.is_authorized == 0]
    if image_ids:
        conds.append(Image.image_id.in_(list(image_ids)))
    elif query is not None:
        conds.extend(_where(account_id, query))
    if exclude:
        conds.append(Image.image_id.not_in(list(exclude)))
    stmt = select(Image.id).where(*conds).order_by(Image.id).limit(limit)
    return [int(i) for i in session.scalars(stmt)]


def grant(session: Session, account_id: int, pks: Sequence[int]) -> None:
    for start in range(0, len(pks), 1000):
        chunk = list(pks[start : start + 1000])
        session.execute(
            update(Image)
            .where(Image.account_id == account_id, Image.id.in_(chunk))
            .values(is_authorized=1)
        )


def revoke(session: Session, account_id: int, image_ids: Sequence[str]) -> int:
    res = session.execute(
        update(Image)
        .where(
            and_(Image.account_id == account_id, Image.image_id.in_(list(image_ids))),
            Image.is_authorized == 1,
        )
        .values(is_authorized=0)
    )
    return int(res.rowcount)  # type: ignore[attr-defined]
