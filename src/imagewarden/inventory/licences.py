"""Image licences: how many images of an account may be scanned, and which ones.

Rules (README "Image licences"):
- every account has a quota, ``DEFAULT_LICENCES`` until the operator sets one with
  ``imagewarden licences set --account A --count N``;
- a licence is ``IsAuthorized = 1`` on an image.  Images get one automatically when they
  first appear, oldest first, while the account has free licences; later ones are left
  unauthorised (``IsAuthorized = 0``) and are never scanned;
- ``ModifyImageAuthorized`` authorises chosen unauthorised images (All > IDs > filters,
  minus the exclusions), at most ``UpdatedLocalImageCnt`` of them, oldest first; asking for
  more licences than are free changes nothing and fails (``FailedOperation.AuthorizedNotEnough``);
- a licence is freed when its image leaves the inventory (``images prune``) or by
  ``imagewarden licences revoke``; lowering the quota revokes the newest licences first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from imagewarden.inventory.errors import InvalidFilterError, InventoryError, NotFoundError
from imagewarden.inventory.filters import build_image_query
from imagewarden.inventory.models import normalise_image_id
from imagewarden.store import licences as licence_store
from imagewarden.store.images import Check
from imagewarden.store.tables import Image

__all__ = [
    "DEFAULT_LICENCES",
    "LicenceInfo",
    "LicenceService",
    "NotEnoughLicencesError",
    "Selection",
    "reconcile",
]

#: the quota of an account the operator never configured
DEFAULT_LICENCES = 1000
#: images decided per transaction by ``LicenceService.reconcile``
RECONCILE_STEP = 10_000


class NotEnoughLicencesError(InventoryError):
    """More images to authorise than free licences (FailedOperation.AuthorizedNotEnough)."""


@dataclass(frozen=True)
class LicenceInfo:
    total: int
    used: int
    unauthorised: int
    updated_at: datetime | None


@dataclass(frozen=True)
class Selection:
    """Which images ModifyImageAuthorized is about (local half of the request)."""

    select_all: bool
    image_ids: tuple[str, ...]
    filters: tuple[tuple[str, tuple[str, ...], bool], ...]
    exclude: tuple[str, ...]
    count: int


def reconcile(session: Session, account_id: int, now: datetime) -> None:
    """Decide the licences of newly arrived images (see ``store.licences.reconcile``)."""
    licence_store.reconcile(session, account_id, DEFAULT_LICENCES, now)


class LicenceService:
    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        self._sessions = sessions
        self._clock = clock

    def reconcile(self, account_id: int) -> None:
        """Decide every new image's licence, ``RECONCILE_STEP`` images per transaction: a
        backlog of a million (a bulk load) never holds the write lock for long."""
        done = False
        while not done:
            with self._sessions.begin() as s:
                done = licence_store.reconcile(
                    s, account_id, DEFAULT_LICENCES, self._clock(), RECONCILE_STEP
                )

    def settled(self, session: Session, account_id: int) -> bool:
        """Whether ``reconcile`` would change nothing (read-only; in the caller's transaction,
        so a listing checks and reads in one transaction)."""
        return licence_store.settled(session, account_id)

    def settled_check(self, account_id: int) -> Check:
        """``settled`` as a condition for a listing's page statement to carry."""
        return licence_store.SETTLED_EXISTS, {"acct": account_id}

    def info(self, account_id: int) -> LicenceInfo:
        self.reconcile(account_id)  # a backlog in steps; what arrives meanwhile, below
        with self._sessions.begin() as s:
            reconcile(s, account_id, self._clock())
            c = licence_store.counts(s, account_id)
        return LicenceInfo(c.total, c.used, c.unauthorised, c.updated_at)

    def set_total(self, account_id: int, total: int) -> int:
        if total < 0:
            raise InvalidFilterError("count", "the licence count must be 0 or more")
        self.reconcile(account_id)  # a backlog in steps; what arrives meanwhile, below
        with self._sessions.begin() as s:
            reconcile(s, account_id, self._clock())
            return licence_store.set_total(s, account_id, total, self._clock())

    def revoke(self, account_id: int, image_ids: Sequence[str]) -> int:
        ids = [normalise_image_id(v, f"IMAGE.{i}") for i, v in enumerate(image_ids)]
        self.reconcile(account_id)  # a backlog in steps; what arrives meanwhile, below
        with self._sessions.begin() as s:
            reconcile(s, account_id, self._clock())
            return licence_store.revoke(s, account_id, ids)

    def authorise(self, account_id: int, sel: Selection) -> int:
        """Authorise the selected images; returns how many got a licence."""
        if sel.count <= 0:
            return 0
        query = None
        if not sel.select_all and not sel.image_ids:
            if not sel.filters:
                raise InvalidFilterError(
                    "LocalImageIds",
                    "name the images: AllLocalImages, LocalImageIds or LocalImageFilter",
                )
            query = build_image_query(list(sel.filters), by=None, order=None, limit=1, offset=0)
        ids = () if sel.select_all else sel.image_ids
        self.reconcile(account_id)
        with self._sessions.begin() as s:
            if ids:  # an ID this account does not hold is an error, never a silent no-op
                held = set(
                    s.scalars(
                        select(Image.image_id).where(
                            Image.account_id == account_id, Image.image_id.in_(list(ids))
                        )
                    )
                )
                if missing := [i for i in ids if i not in held]:
                    raise NotFoundError(f"no image {missing[0]} in this account")
            reconcile(s, account_id, self._clock())
            pks = licence_store.authorise(
                s, account_id, image_ids=ids, query=query, exclude=sel.exclude, limit=sel.count
            )
            c = licence_store.counts(s, account_id)
            free = c.total - c.used
            if len(pks) > free:
                raise NotEnoughLicencesError(
                    f"{len(pks)} image(s) to authorise but only {max(free, 0)} free licence(s) "
                    f"of {c.total}"
                )
            licence_store.grant(s, account_id, pks)
        return len(pks)
