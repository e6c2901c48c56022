"""Scale-out workers: the guarded job-row transitions (SQLite and PostgreSQL), and real
`imagewarden worker` processes on PostgreSQL + RabbitMQ: retries with backoff that show on
the job row, the dead-letter state (and Dramatiq's dead-letter queue), cancellation."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from imagewarden.inventory.keys import KeyCipher
from imagewarden.inventory.models import ComponentRecord, ImageReport, ScanOutcome, ScanStatus
from imagewarden.inventory.service import InventoryService, utcnow
from imagewarden.jobs.broker import PublishingJobQueue, QueuePublisher
from imagewarden.jobs.models import JobState, ScanRequest
from imagewarden.jobs.tasks import TaskService
from imagewarden.store.engine import make_engine, make_sessionmaker
from imagewarden.store.job_claims import ClaimKind, JobClaims
from imagewarden.store.job_tables import ScanJobRow
from imagewarden.store.jobs import SqlJobQueue
from imagewarden.store.migrate import upgrade
from imagewarden.store.tables import Image
from tests.conftest import fresh_pg_database
from tests.e2e.test_scan_to_api import OS_RELEASE, STATUS
from tests.factories import image_id
from tests.jobs.rabbit import amqp_url, queue_name, start_worker, stop, wait_for
from tests.testdata.images.build import make_image, write_oci_layout

__all__ = ["amqp_url", "queue_name"]  # fixtures


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, 0)

    def __call__(self) -> datetime:
        return self.now


# --- the guarded transitions, no broker needed ----------------------------------------------


def _outcome(image: str, n: int) -> ScanOutcome:
    return ScanOutcome(
        image,
        ScanStatus.SCANNED,
        datetime(2026, 1, 1, 12, 0, n),
        components=tuple(ComponentRecord(f"pkg{i}", "1.0", "deb") for i in range(n)),
    )


def test_only_the_attempt_that_owns_a_job_writes_its_result(db_url: str, key_file: Path) -> None:
    clock = Clock()
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    service = InventoryService(sessions, KeyCipher.from_file(key_file), clock=clock)
    acct = service.account_id("guard")
    img = image_id("guarded")
    service.register_image(acct, ImageReport(img, ("guarded:1",)), "oci:/nowhere")
    (job,) = SqlJobQueue(sessions, clock, max_attempts=2).enqueue(
        [ScanRequest(acct, img, "oci:/nowhere")]
    )
    claims = JobClaims(sessions, clock)
    lease = timedelta(seconds=30)

    a = claims.claim(job, "worker-a", lease)
    assert a.kind is ClaimKind.CLAIMED and a.job is not None and a.job.attempt == 1
    assert claims.claim(job, "worker-b", lease).kind is ClaimKind.BUSY  # a's lease is live
    clock.now += timedelta(seconds=31)  # worker-a stalled past its lease
    b = claims.claim(job, "worker-b", lease)
    assert b.kind is ClaimKind.CLAIMED and b.job is not None and b.job.attempt == 2
    assert not claims.heartbeat(job, "worker-a", 1, lease)  # a learns it lost the job

    stale = claims.finish_guard(job, "worker-a", 1, JobState.DONE)
    assert service.record_scan(acct, _outcome(img, 5), guard=stale) is False
    with sessions.begin() as s:
        row = s.execute(select(Image.scan_status, Image.component_cnt)).one()
    assert (row.scan_status, row.component_cnt) == (ScanStatus.NOT_SCAN.value, 0)

    owner = claims.finish_guard(job, "worker-b", 2, JobState.DONE)
    assert service.record_scan(acct, _outcome(img, 2), guard=owner) is True
    again = claims.finish_guard(job, "worker-b", 2, JobState.DONE)  # a duplicate delivery
    assert service.record_scan(acct, _outcome(img, 7), guard=again) is False
    with sessions.begin() as s:
        row = s.execute(select(Image.scan_status, Image.component_cnt)).one()
    assert (row.scan_status, row.component_cnt) == (ScanStatus.SCANNED.value, 2)
    assert claims.claim(job, "worker-c", lease).kind is ClaimKind.FINISHED
    assert claims.claim(job + 1000, "worker-c", lease).kind is ClaimKind.GONE
    engine.dispose()


def test_a_job_out_of_attempts_is_held_only_to_dead_letter_it(db_url: str) -> None:
    clock = Clock()
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    (job,) = SqlJobQueue(sessions, clock, max_attempts=2).enqueue(
        [ScanRequest(1, image_id("x"), "oci:/x")]
    )
    claims = JobClaims(sessions, clock)
    lease = timedelta(seconds=10)
    first = claims.claim(job, "w1", lease)
    assert first.job is not None
    assert claims.requeue(job, "w1", 1, "attempt 1/2 failed: boom")
    assert claims.list()[0].error == "attempt 1/2 failed: boom"  # the retry is visible
    second = claims.claim(job, "w2", lease)
    assert second.kind is ClaimKind.CLAIMED and second.job is not None
    assert second.job.attempt == 2
    clock.now += timedelta(seconds=11)  # w2 died on the last attempt
    last = claims.claim(job, "w3", lease)
    assert last.kind is ClaimKind.EXHAUSTED and last.job is not None
    assert last.job.attempt == 2 and "stopped responding" in last.error
    with sessions.begin() as s:
        assert claims.finish_guard(job, "w3", 2, JobState.DEAD, "dead: " + last.error)(s)
    (rec,) = claims.list(states=[JobState.DEAD])
    assert (rec.state, rec.attempt, rec.max_attempts) == ("dead", 2, 2)
    assert rec.error.startswith("dead: the worker w2 stopped responding")
    engine.dispose()


# --- real workers on PostgreSQL + RabbitMQ ----------------------------------------------------


@pytest.fixture
def pg_url() -> Iterator[str]:
    for url in fresh_pg_database("broker"):
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


class Env:
    def __init__(self, db: str, amqp: str, queue: str, tmp: Path) -> None:
        self.db, self.amqp, self.queue, self.tmp = db, amqp, queue, tmp
        self.engine = make_engine(db)
        self.sessions = make_sessionmaker(self.engine)
        self.service = InventoryService(
            self.sessions, KeyCipher.from_file(tmp / "server.key"), key_cache_ttl=0
        )
        self.publisher = QueuePublisher(amqp, queue)
        self.tasks = TaskService(
            self.sessions, PublishingJobQueue(self.sessions, utcnow, self.publisher), utcnow
        )
        self.account = self.service.account_id("workers")
        self.workers: list[subprocess.Popen[bytes]] = []

    def add_image(self, label: str, files: int = 10, broken: bool = False) -> str:
        tree = {"etc/os-release": OS_RELEASE, "var/lib/dpkg/status": STATUS}
        tree.update({f"usr/share/doc/{label}/f{i:05d}": f"{label} {i}\n" * 8 for i in range(files)})
        image = make_image([tree])
        root = write_oci_layout(self.tmp / label, [(f"{label}:1", image)])
        if broken:  # the manifest and config read fine; the layer is cut short
            blob = root / "blobs" / "sha256" / image.layers[0].digest.split(":", 1)[1]
            blob.write_bytes(blob.read_bytes()[:-30])
        self.service.register_image(
            self.account, ImageReport(image.config_digest, (f"{label}:1",)), f"oci:{root}"
        )
        return image.config_digest

    def scan_all(self, *images: str) -> str:
        return self.tasks.create(
            self.account,
            select_all=not images,
            image_ids=images,
            query=None,
            exclude=(),
            scan_vul=True,
            scan_virus=True,
            scan_risk=True,
            running_only=False,
            timeout=3600,
        )

    def worker(self, *extra: str) -> subprocess.Popen[bytes]:
        proc = start_worker(self.db, self.amqp, self.queue, self.tmp / "worker.log", *extra)
        self.workers.append(proc)
        return proc

    def jobs(self) -> dict[str, ScanJobRow]:
        with self.sessions() as s:
            rows = s.scalars(select(ScanJobRow)).all()
            s.expunge_all()
        return {r.image_id: r for r in rows}

    def image(self, image: str) -> Image:
        with self.sessions() as s:
            row = s.scalars(select(Image).where(Image.image_id == image)).one()
            s.expunge_all()
        return row

    def log(self) -> str:
        path = self.tmp / "worker.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        for proc in self.workers:
            stop(proc)
        self.publisher.close()
        self.engine.dispose()


@pytest.fixture
def env(pg_url: str, amqp_url: str, queue_name: str, tmp_path: Path) -> Iterator[Env]:
    e = Env(pg_url, amqp_url, queue_name, tmp_path)
    yield e
    e.close()


@pytest.mark.postgres
def test_a_failing_job_is_retried_visibly_then_dead_lettered(env: Env) -> None:
    good = env.add_image("fine")
    bad = env.add_image("broken", broken=True)
    task = env.scan_all()
    env.worker("--min-backoff", "1", "--lease", "10")

    seen: set[str] = set()

    def dead() -> bool:
        job = env.jobs()[bad]
        if job.state == JobState.QUEUED.value and job.error:
            seen.add(job.error)
        return job.state == JobState.DEAD.value

    wait_for("the broken image's job to be dead-lettered\n" + env.log(), dead, every=0.05)
    jobs = env.jobs()
    assert jobs[good].state == JobState.DONE.value and jobs[good].attempt == 1
    job = jobs[bad]
    assert (job.attempt, job.max_attempts) == (3, 3)
    assert job.error.startswith("dead-lettered after 3/3 attempts: ")
    assert any(
        why in job.error for why in ("truncated", "digest", "unexpected", "manifest declares")
    ), job.error
    # the retries were visible on the row while they waited, with their error and backoff
    assert any(e.startswith("attempt 1/3 failed: ") and "retrying in 1 s" in e for e in seen), seen
    img = env.image(bad)
    assert img.scan_status == ScanStatus.SCAN_ERR.value and img.scan_error == job.error
    assert env.image(good).scan_status == ScanStatus.SCANNED.value
    # the message itself is in Dramatiq's dead-letter queue
    assert wait_for("the dead letter", lambda: env.publisher.counts()[2] == 1)
    st = env.tasks.status(env.account, task)
    assert (st.status, st.image_total, st.image_scan_cnt) == ("END", 2, 2)
    assert st.success_count + st.risk_count == 1  # the dead job counts as neither
    assert env.tasks.latest(env.account).sub_status == "Error"

    listed = subprocess.run(
        [sys.executable, "-m", "imagewarden", "jobs", "list", "--db", env.db, "--state", "dead"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    (line,) = listed.stdout.splitlines()
    shown = json.loads(line)
    assert (shown["ImageId"], shown["State"], shown["Attempt"]) == (bad, "dead", 3)
    assert shown["Error"] == job.error


@pytest.mark.postgres
def test_cancelled_jobs_are_not_run_and_a_running_scan_stops(env: Env) -> None:
    waiting = [env.add_image(f"wait{i}") for i in range(3)]
    first = env.scan_all()
    assert env.tasks.stop(env.account, task_id=first, image_ids=()) == 3
    # a big image, scanned while the first task's messages are still queued ahead of it
    big = env.add_image("big", files=40_000)
    second = env.scan_all(big)
    env.worker("--lease", "3")

    def scanning() -> bool:
        job = env.jobs().get(big)
        return (
            job is not None
            and job.state == JobState.RUNNING.value
            and (env.image(big).scan_status == ScanStatus.SCANNING.value)
        )

    wait_for("the big image to be scanning\n" + env.log(), scanning, every=0.02)
    assert (
        env.tasks.stop(env.account, task_id=second, image_ids=()) == 1
    )  # ModifyAssetImageScanStop
    # the worker notices at its next heartbeat, stops the scan and restores the status
    wait_for(
        "the stopped scan to restore NOT_SCAN\n" + env.log(),
        lambda: env.image(big).scan_status == ScanStatus.NOT_SCAN.value,
    )
    wait_for("the queue to drain", lambda: env.publisher.counts() == (0, 0, 0))
    stop(env.workers[0])
    assert "stopped: cancelled or taken over" in env.log()
    jobs = env.jobs()
    for image in waiting:
        assert (jobs[image].state, jobs[image].attempt) == ("cancelled", 0)  # never claimed
        assert env.image(image).scan_status == ScanStatus.NOT_SCAN.value
    assert jobs[big].state == JobState.CANCELLED.value
    assert env.image(big).scan_time is None and env.image(big).component_cnt == 0
