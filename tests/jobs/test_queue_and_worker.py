"""The embedded job queue and the worker over real databases."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from imagewarden.inventory.models import ComponentRecord, ImageQuery, ScanOutcome, ScanStatus
from imagewarden.inventory.service import InventoryService
from imagewarden.jobs.models import JobOutcome, JobState, ScanRequest
from imagewarden.jobs.worker import CancelToken, InventoryHooks, Worker
from imagewarden.store.engine import make_engine, make_sessionmaker
from imagewarden.store.jobs import SqlJobQueue
from tests.factories import host, image, image_id


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, 0)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queue(db_url: str, clock: Clock) -> Iterator[SqlJobQueue]:
    engine = make_engine(db_url)
    yield SqlJobQueue(make_sessionmaker(engine), clock, max_attempts=2)
    engine.dispose()


def req(label: str, account: int = 1, task: str | None = "t1") -> ScanRequest:
    return ScanRequest(
        account_id=account,
        image_id=image_id(label),
        source_ref=f"oci:/images/{label}",
        task_id=task,
    )


def test_claim_order_lease_and_finish(queue: SqlJobQueue, clock: Clock) -> None:
    a, b = queue.enqueue([req("a"), req("b")])
    first = queue.claim("w1", timedelta(seconds=30))
    assert (
        first is not None
        and first.job_id == a
        and first.attempt == 1
        and first.request.source_ref == "oci:/images/a"
    )
    second = queue.claim("w2", timedelta(seconds=30))
    assert second is not None and second.job_id == b
    assert queue.claim("w3", timedelta(seconds=30)) is None
    assert not queue.finish(a, "w2", JobOutcome(JobState.DONE))  # not its job
    assert queue.finish(a, "w1", JobOutcome(JobState.DONE))
    assert queue.state(a) == (JobState.DONE, "")


def test_expired_lease_is_reclaimed_then_failed(queue: SqlJobQueue, clock: Clock) -> None:
    (job,) = queue.enqueue([req("a")])
    assert queue.claim("dead-1", timedelta(seconds=30)) is not None
    clock.now += timedelta(seconds=31)  # the worker died
    again = queue.claim("w2", timedelta(seconds=30))
    assert again is not None and again.job_id == job and again.attempt == 2
    assert not queue.heartbeat(job, "dead-1", timedelta(seconds=30))  # the old worker lost it
    clock.now += timedelta(seconds=31)  # died again, attempts exhausted
    assert queue.claim("w3", timedelta(seconds=30)) is None
    state, error = queue.state(job)
    assert state is JobState.FAILED and "stopped responding" in error


def test_cancel_stops_heartbeats(queue: SqlJobQueue) -> None:
    (a,) = queue.enqueue([req("a", task="t9")])
    queue.enqueue([req("b", task="other")])
    assert queue.claim("w1", timedelta(seconds=30)) is not None
    assert queue.heartbeat(a, "w1", timedelta(seconds=30))
    assert queue.cancel(1, task_id="t9") == 1
    assert not queue.heartbeat(a, "w1", timedelta(seconds=30))
    assert queue.cancel(1) == 0  # nothing named: nothing cancelled
    assert queue.cancel(2, task_id="other") == 0  # another account's task is untouched


def test_concurrent_claims_never_share_a_job(queue: SqlJobQueue) -> None:
    ids = queue.enqueue([req(f"i{n}") for n in range(40)])
    got: list[int] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while (job := queue.claim(name, timedelta(seconds=60))) is not None:
            with lock:
                got.append(job.job_id)

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == sorted(ids)


def _hooks(service: InventoryService) -> InventoryHooks:
    return InventoryHooks(service.mark_scanning, service.restore_status, service.record_scan)


def test_worker_records_results_and_cancellation(
    service: InventoryService, queue: SqlJobQueue
) -> None:
    acct = service.account_id("acme")
    service.report_host(acct, host("h1", [image("a", "a:1"), image("b", "b:1"), image("c", "c:1")]))

    def scan(r: ScanRequest, token: CancelToken) -> ScanOutcome:
        if r.image_id == image_id("b"):
            queue.cancel(acct, image_ids=[r.image_id])  # ModifyAssetImageScanStop arrives mid-scan
            for _ in range(100):
                token.check()
                threading.Event().wait(0.02)
            raise AssertionError("cancellation was not noticed")
        if r.image_id == image_id("c"):
            raise RuntimeError("analyzer bug")
        return ScanOutcome(
            r.image_id,
            ScanStatus.SCANNED,
            datetime(2026, 1, 1),
            components=(ComponentRecord("x", "1", "deb"),),
        )

    jobs = queue.enqueue([req("a", acct), req("b", acct), req("c", acct)])
    w = Worker(queue, scan, _hooks(service), name="w", heartbeat_every=0.05)
    assert w.run_once() and w.run_once() and w.run_once() and not w.run_once()
    assert [queue.state(j)[0] for j in jobs] == [JobState.DONE, JobState.CANCELLED, JobState.FAILED]
    rows = {r.image_id: r for r in service.list_images(acct, ImageQuery(limit=10))[0]}
    assert rows[image_id("a")].scan_status == "SCANNED" and rows[image_id("a")].component_cnt == 1
    assert rows[image_id("b")].scan_status == "NOT_SCAN"  # restored, not left SCANNING
    assert rows[image_id("c")].scan_status == "SCAN_ERR" and rows[image_id("c")].scan_error
