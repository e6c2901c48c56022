"""DescribeAssetImageList in one statement, and reads that survive a dead pooled connection.

The licence check (``ListingGuard.settled_check``) and the ``image_counts`` TotalCount ride
on the page's statement.  On PostgreSQL a listing's connection is checked out without the
liveness ping; when the pooled connection is dead (its backend terminated), the read runs
once more on a fresh connection.  Writes are pinged at checkout and never run twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from imagewarden.inventory.errors import StoreUnavailableError
from imagewarden.inventory.filters import build_image_query
from imagewarden.inventory.keys import KeyCipher
from imagewarden.inventory.licences import LicenceService
from imagewarden.inventory.models import ImageQuery, ScanOutcome, ScanStatus
from imagewarden.inventory.service import InventoryService
from imagewarden.store import images as image_store
from imagewarden.store.engine import make_engine, make_sessionmaker
from tests.conftest import _truncate_all
from tests.factories import host, image, image_id

NOW = datetime(2026, 11, 29, tzinfo=UTC).replace(tzinfo=None)


def _query(
    filters: list[tuple[str, list[str], bool]] | None = None,
    *,
    by: str | None = None,
    order: str | None = None,
    limit: int = 10,
    offset: int = 0,
) -> ImageQuery:
    return build_image_query(filters or [], by=by, order=order, limit=limit, offset=offset)


def _engine(service: InventoryService) -> Engine:
    return service._sessions.kw["bind"]  # type: ignore[no-any-return]


@pytest.fixture
def statements(service: InventoryService) -> Iterator[list[str]]:
    """Every statement the service's engine sends while the test runs."""
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(_engine(service), "before_cursor_execute", before)
    yield seen
    event.remove(_engine(service), "before_cursor_execute", before)


@pytest.fixture
def licences(service: InventoryService) -> LicenceService:
    return LicenceService(service._sessions, lambda: NOW)


def _names(n: int, prefix: str = "app") -> list[Any]:
    return [image(f"{prefix}-{i}", f"{prefix}/{i:02d}:v1") for i in range(n)]


def test_a_settled_listing_is_one_statement(
    service: InventoryService, licences: LicenceService, statements: list[str]
) -> None:
    acct = service.account_id("one-statement")
    service.report_host(acct, host("h1", _names(15)))
    licences.reconcile(acct)
    for query, total in (
        (_query(), 15),  # the default request: a full page, so the count is needed
        (_query([("ScanStatus", ["notScan"], False)]), 15),
        (_query([("SecurityRisk", ["IsTrustImage"], False)]), 0),
        (_query(by="ImageName", order="asc", offset=120), 15),  # deferred join, empty page
    ):
        statements.clear()
        rows, got = service.list_images(acct, query, licences)
        assert got == total
        assert len(rows) == min(10, max(0, total - query.offset))
        if rows:
            assert len(statements) == 1, statements  # page + TotalCount + licence check
        else:  # an empty page carries nothing: the check on its own, and past Offset 0
            # the count (an empty first page is a TotalCount of 0 by itself)
            assert len(statements) == (2 if query.offset == 0 else 3), statements


def test_the_check_sees_the_account_not_the_page(
    service: InventoryService, licences: LicenceService
) -> None:
    acct = service.account_id("check-account")
    service.report_host(acct, host("h1", _names(3)))
    assert licences.set_total(acct, 3) == 0  # decides the three: all licensed
    # a newer image arrives, undecided; by name it sorts after the one-row page
    service.report_host(acct, host("h2", [image("late", "zz/late:v1")]))
    first = _query(by="ImageName", order="asc", limit=1)
    with service._sessions.begin() as s:
        rows, total, settled = image_store.list_page_checked(
            s, acct, first, licences.settled_check(acct)
        )
    assert [r.image_name for r in rows] == ["app/00:v1"] and total == 4
    assert settled is False
    # so the service decides before it shows anything: no licence is left for the newcomer
    rows, total = service.list_images(acct, _query(by="ImageName", order="asc"), licences)
    assert [(r.image_name, r.is_authorized) for r in rows] == [
        ("app/00:v1", 1),
        ("app/01:v1", 1),
        ("app/02:v1", 1),
        ("zz/late:v1", 0),
    ]
    with service._sessions.begin() as s:
        assert image_store.list_page_checked(s, acct, first, licences.settled_check(acct))[2]
        past_the_end = _query(offset=10)
        assert image_store.list_page_checked(
            s, acct, past_the_end, licences.settled_check(acct)
        ) == ([], 4, None)


def test_the_carried_count_is_the_count(service: InventoryService) -> None:
    acct = service.account_id("carried-count")
    service.report_host(acct, host("h1", _names(7)))
    service.record_scan(acct, ScanOutcome(image_id("app-1"), ScanStatus.SCANNED, NOW))
    service.record_scan(acct, ScanOutcome(image_id("app-2"), ScanStatus.SCAN_ERR, NOW, error="x"))
    filters: list[list[tuple[str, list[str], bool]]] = [
        [],
        [("ScanStatus", ["notScan"], False)],
        [("ScanStatus", ["scanned", "scanErr"], False)],
        [("ScanStatus", ["scanned"], False), ("SecurityRisk", ["VulCnt"], False)],
    ]
    with service._sessions.begin() as s:
        for f in filters:
            query = _query(f, limit=1)  # a full page: the count comes from the statement
            rows, total = image_store.list_page(s, acct, query)
            assert total == image_store.count_images(s, acct, query), f
            assert len(rows) == min(1, total)
        totals = [image_store.list_page(s, acct, _query(f, limit=1))[1] for f in filters]
    assert totals == [7, 5, 2, 0]


# --- PostgreSQL: dead pooled connections --------------------------------------------------------
def _terminate(url: str, pids: list[int] | None = None) -> int:
    """Terminate the backends of the database of ``url`` (``pids``, or all but this one's);
    returns how many were terminated."""
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND (%(pids)s::int[] IS NULL OR pid = ANY(%(pids)s::int[]))",
            {"pids": pids},
        ).fetchall()
    return sum(1 for (ok,) in rows if ok)


@pytest.fixture
def pg_service(pg_migrated: str, key_file: Path) -> Iterator[tuple[InventoryService, str]]:
    """A service on the (emptied) PostgreSQL test database, and that database's URL."""
    _truncate_all(pg_migrated)
    engine = make_engine(pg_migrated)
    yield (
        InventoryService(make_sessionmaker(engine), KeyCipher.from_file(key_file), key_cache_ttl=0),
        pg_migrated,
    )
    engine.dispose()


@pytest.mark.postgres
def test_a_listing_reads_again_after_its_backend_was_terminated(
    pg_service: tuple[InventoryService, str], caplog: pytest.LogCaptureFixture
) -> None:
    service, url = pg_service
    licences = LicenceService(service._sessions, lambda: NOW)
    acct = service.account_id("terminated")
    service.report_host(acct, host("h1", _names(12)))
    licences.reconcile(acct)
    before = service.list_images(acct, _query(), licences)
    assert _terminate(url) >= 1  # the pooled connection the next listing would take
    with caplog.at_level(logging.INFO, logger="imagewarden.inventory"):
        after = service.list_images(acct, _query(), licences)
    assert after == before and after[1] == 12
    assert "reading again" in caplog.text


@pytest.mark.postgres
def test_a_write_is_pinged_at_checkout_and_never_run_twice(
    pg_service: tuple[InventoryService, str], caplog: pytest.LogCaptureFixture
) -> None:
    service, url = pg_service
    acct = service.account_id("write")
    service.report_host(acct, host("h1", _names(2)))
    assert _terminate(url) >= 1
    # the checkout ping finds the pooled connection dead and takes a fresh one
    with caplog.at_level(logging.INFO, logger="imagewarden.inventory"):
        service.report_host(acct, host("h2", _names(1, "other")))
    assert "reading again" not in caplog.text
    assert service.list_images(acct, _query())[1] == 3
    # a connection that dies inside the write's transaction fails the write, once: the
    # body (here the guard, the first thing in the transaction) is not run again
    runs: list[int] = []

    def guard(s: Session) -> bool:
        runs.append(
            _terminate(
                url, [s.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar_one()]
            )
        )
        return True

    outcome = ScanOutcome(image_id("app-0"), ScanStatus.SCANNED, NOW)
    with pytest.raises(StoreUnavailableError):
        service.record_scan(acct, outcome, guard=guard)
    assert runs == [1]
    rows, _ = service.list_images(acct, _query([("ScanStatus", ["scanned"], False)]))
    assert rows == []  # nothing of the failed write was stored
