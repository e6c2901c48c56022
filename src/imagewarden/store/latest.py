"""Keeping ``images.is_latest_image`` (ImagesInfo.IsLatestImage) true at write time.

The rule is ``inventory.repository``'s: an image is latest when it ranks first
(``latest_rank``) in at least one repository it carries a name of; an image without names
is never latest.  Listing reads the column like any other, so a page costs nothing more.

A flag depends on the names, CreateTime and "held by a host" of every image of the image's
repositories, so the writers that change any of those call ``refresh`` with the images
they touched and the repositories those images had before the change:

- ``store.hosts.apply_snapshot`` (names re-voted, CreateTime reported, an image added to or
  removed from a host), ``store.hosts.recompute_images``;
- ``InventoryService.register_image`` (an image known from its bytes);
- ``store.hosts.prune_orphan_images`` (deleted images hand "latest" on).

``refresh`` reads the images of the touched repositories (index ``(account_id,
repository)``), then the other repositories of those images (one hop: an image that loses
one repository may still win another), and rewrites only the flags that changed.  Its cost
is the size of the repositories touched, never the account's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from imagewarden.inventory.repository import is_latest_tag, latest_rank
from imagewarden.store.tables import Image, ImageName

__all__ = ["accounts_of", "refresh", "refresh_many", "repositories_of"]

_CHUNK = 500
_IMAGES = cast(Table, Image.__table__)
_I = _IMAGES.c


def _chunks(items: Iterable[Any]) -> Iterable[list[Any]]:
    seq = sorted(items)
    for i in range(0, len(seq), _CHUNK):
        yield seq[i : i + _CHUNK]


def repositories_of(session: Session, image_pks: Iterable[int]) -> dict[int, set[str]]:
    """The repositories each image carries a name of now (images without names: absent)."""
    out: dict[int, set[str]] = {}
    for part in _chunks(set(image_pks)):
        for pk, repo in session.execute(
            select(ImageName.image_pk, ImageName.repository).where(
                ImageName.image_pk.in_(part), ImageName.repository != ""
            )
        ):
            out.setdefault(int(pk), set()).add(str(repo))
    return out


def _members(session: Session, account_id: int, repos: Iterable[str]) -> dict[str, list[Any]]:
    """repository → rows (image pk, rank key) of every image carrying a name of it."""
    best: dict[tuple[str, int], Any] = {}
    for part in _chunks(set(repos)):
        stmt = (
            select(
                ImageName.repository,
                ImageName.name,
                Image.id,
                Image.image_id,
                Image.create_time,
                Image.host_cnt,
            )
            .join(Image, Image.id == ImageName.image_pk)
            .where(ImageName.account_id == account_id, ImageName.repository.in_(part))
        )
        for repo, name, pk, image_id, created, hosts in session.execute(stmt):
            key = latest_rank(hosts > 0, created, is_latest_tag(name), image_id)
            slot = (str(repo), int(pk))
            if slot not in best or key < best[slot]:
                best[slot] = key
    out: dict[str, list[Any]] = {}
    for (repo, pk), key in best.items():
        out.setdefault(repo, []).append((key, pk))
    return out


def refresh(
    session: Session,
    account_id: int,
    touched: Iterable[int] = (),
    old_repositories: Iterable[str] = (),
) -> None:
    """Recompute IsLatestImage around a change (see the module docstring).

    ``touched``: images whose names, CreateTime or HostCnt changed (or that were deleted);
    ``old_repositories``: the repositories they carried before the change.
    """
    touched = set(touched)
    repos = {r for r in old_repositories if r}
    now_of = repositories_of(session, touched)
    for rs in now_of.values():
        repos |= rs
    if not repos and not touched:
        return
    members = _members(session, account_id, repos)
    candidates = {pk for rows in members.values() for _, pk in rows}
    repos_of = repositories_of(session, candidates)
    more = set().union(*repos_of.values()) - repos if repos_of else set()
    if more:
        members.update(_members(session, account_id, more))
    winners = {min(rows)[1] for rows in members.values() if rows}
    decide = candidates | touched
    want = {pk: pk in winners and bool(repos_of.get(pk)) for pk in decide}
    current: dict[int, bool] = {}
    for part in _chunks(decide):
        for pk, flag in session.execute(select(_I.id, _I.is_latest_image).where(_I.id.in_(part))):
            current[int(pk)] = bool(flag)
    changes = [
        {"b_pk": pk, "is_latest_image": flag}
        for pk, flag in sorted(want.items())
        if pk in current and current[pk] != flag
    ]
    if changes:
        session.execute(
            update(_IMAGES)
            .where(_I.id == bindparam("b_pk"))
            .values(is_latest_image=bindparam("is_latest_image")),
            changes,
        )


def refresh_many(session: Session, by_account: dict[int, tuple[set[int], set[str]]]) -> None:
    """``refresh`` per account: account → (touched images, their old repositories)."""
    for account_id, (touched, old) in sorted(by_account.items()):
        refresh(session, account_id, touched, old)


def accounts_of(session: Session, image_pks: Sequence[int]) -> dict[int, int]:
    """image pk → account id."""
    out: dict[int, int] = {}
    for part in _chunks(set(image_pks)):
        for pk, acct in session.execute(select(_I.id, _I.account_id).where(_I.id.in_(part))):
            out[int(pk)] = int(acct)
    return out
