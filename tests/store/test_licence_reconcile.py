"""Licence reconcile on a backlog larger than the quota: the right images are decided, and
only the rows whose flag changes are written (a million-image backlog once wrote them all)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.engine import Engine

from imagewarden.inventory.service import InventoryService
from imagewarden.store import licences
from imagewarden.store.tables import Image
from tests.factories import host, image

NOW = datetime(2026, 11, 29, tzinfo=UTC).replace(tzinfo=None)


@pytest.fixture
def written(service: InventoryService) -> Iterator[list[int]]:
    """Rows written by each UPDATE of ``images`` (their rowcounts), while the test runs."""
    engine: Engine = service._sessions.kw["bind"]  # type: ignore[attr-defined]
    counts: list[int] = []

    def after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE IMAGES"):
            counts.append(cursor.rowcount)

    event.listen(engine, "after_cursor_execute", after)
    yield counts
    event.remove(engine, "after_cursor_execute", after)


def _report(service: InventoryService, account: int, n: int, start: int = 0) -> None:
    for h in range(start // 100, (start + n) // 100):
        imgs = [image(f"lic-{h}-{i}", f"app/{h}:{i}") for i in range(100)]
        service.report_host(account, host(f"h-{h}", imgs))


def _flags(service: InventoryService, account: int) -> list[int]:
    with service._sessions.begin() as s:  # type: ignore[attr-defined]
        rows = s.execute(
            select(Image.is_authorized).where(Image.account_id == account).order_by(Image.id)
        )
        return [int(r[0]) for r in rows]


def _reconcile(service: InventoryService, account: int, total: int) -> None:
    with service._sessions.begin() as s:  # type: ignore[attr-defined]
        licences.reconcile(s, account, total, NOW)


def test_backlog_over_quota_writes_only_the_granted_rows(
    service: InventoryService, written: list[int]
) -> None:
    account = service.account_id("acct")
    _report(service, account, 1200)
    written.clear()
    _reconcile(service, account, 150)
    assert _flags(service, account) == [1] * 150 + [0] * 1050  # oldest first
    assert sum(written) == 150  # the 1,050 already unlicensed rows are not rewritten

    # a second batch: no licence left, nothing to write; the mark still moves past it
    _report(service, account, 300, start=1200)
    written.clear()
    _reconcile(service, account, 150)
    assert _flags(service, account)[1200:] == [0] * 300
    assert sum(written) == 0
    with service._sessions.begin() as s:  # type: ignore[attr-defined]
        assert licences.settled(s, account)


def test_rows_already_flagged_are_revoked_past_the_quota_in_chunks(
    service: InventoryService, written: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows that arrive flagged 1 (written before the default was 0) past the free licences
    lose it, in id-ordered chunks, and those under it are left as they are."""
    monkeypatch.setattr(licences, "_DECIDE_CHUNK", 64)
    account = service.account_id("acct")
    _report(service, account, 500)
    with service._sessions.begin() as s:  # type: ignore[attr-defined]
        s.execute(update(Image).where(Image.account_id == account).values(is_authorized=1))
    written.clear()
    _reconcile(service, account, 200)
    flags = _flags(service, account)
    assert flags == [1] * 200 + [0] * 300
    assert sum(written) == 300
    assert len(written) == 5  # ceil(300 / 64) chunked statements
    with service._sessions.begin() as s:  # type: ignore[attr-defined]
        used = s.scalar(
            select(func.count()).where(Image.account_id == account, Image.is_authorized == 1)
        )
    assert used == 200


def test_quota_larger_than_backlog_grants_all(
    service: InventoryService, written: list[int]
) -> None:
    account = service.account_id("acct")
    _report(service, account, 300)
    written.clear()
    _reconcile(service, account, 1000)
    assert _flags(service, account) == [1] * 300
    assert sum(written) == 300


def test_a_backlog_is_decided_in_steps_of_their_own_transactions(
    service: InventoryService, written: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``LicenceService.reconcile`` decides ``RECONCILE_STEP`` images per transaction (each
    commits: the write lock is never held for the whole backlog), with the same outcome as
    one decision: the quota spans the steps."""
    from imagewarden.inventory import licences as licence_service

    monkeypatch.setattr(licence_service, "RECONCILE_STEP", 300)
    monkeypatch.setattr(licence_service, "DEFAULT_LICENCES", 450)
    account = service.account_id("acct")
    _report(service, account, 1000)
    written.clear()
    svc = licence_service.LicenceService(service._sessions, lambda: NOW)  # type: ignore[attr-defined]
    engine: Engine = service._sessions.kw["bind"]  # type: ignore[attr-defined]
    commits: list[int] = []

    def on_commit(conn: Any) -> None:
        commits.append(1)

    event.listen(engine, "commit", on_commit)
    try:
        svc.reconcile(account)
    finally:
        event.remove(engine, "commit", on_commit)
    assert _flags(service, account) == [1] * 450 + [0] * 550
    assert sum(written) == 450
    assert len(commits) >= 4  # 300 + 300 + 300 + 100 images
    with service._sessions.begin() as s:  # type: ignore[attr-defined]
        assert licences.settled(s, account)
        assert licences.reconcile(s, account, 450, NOW, 10)  # nothing left: settled
