"""Scale-out scan workers: Dramatiq on RabbitMQ carries job IDs, the database keeps the state.

Why this split (docs/architecture.md, "Scale-out workers"):

- The ``scan_jobs`` row is the source of truth: state, attempts, the last error, who holds
  it and until when (the lease).  The API's task status, ``ModifyAssetImageScanStop`` and
  ``imagewarden jobs list`` read and write only the database, exactly as with the embedded
  queue, so the protocol layer does not know which queue runs the scans.
- RabbitMQ (through Dramatiq) only delivers ``job_id`` messages to workers on any machine.
  A message is acknowledged when its actor returns, i.e. after the result (or the
  re-queue, or the dead-letter mark) is committed: a worker killed by SIGKILL leaves it
  unacknowledged and RabbitMQ delivers it to another worker (at-least-once).
- Duplicates are harmless: a worker claims the *named* row (``store.job_claims``); a
  finished job is dropped, a job whose holder still has a live lease is looked at again
  when that lease runs out, and a result is written only in the transaction that ends the
  job under ``(worker, attempt, RUNNING)`` (``InventoryService.record_scan(guard=...)``).
- A failed attempt (SCAN_ERR, or the scanner raising) is re-queued in the database with its
  error and ``Retry``'d on the broker with exponential backoff; after ``max_attempts`` the
  job is ``dead`` with the error, the image SCAN_ERR, and the message is rejected into
  Dramatiq's dead-letter queue (``<queue>.XQ``).
- Cancellation is the database's: a cancelled job fails its next heartbeat, the scan is
  stopped through its cancel token, and a message naming it later is dropped.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from imagewarden.inventory.models import ScanOutcome, ScanStatus
from imagewarden.jobs.models import ClaimedJob, JobState, ScanRequest
from imagewarden.jobs.queue import DEFAULT_QUEUE_NAME
from imagewarden.jobs.worker import Cancelled, CancelToken, ScanFn
from imagewarden.store.job_claims import ClaimKind, JobClaims
from imagewarden.store.jobs import SqlJobQueue

if TYPE_CHECKING:
    from dramatiq.brokers.rabbitmq import RabbitmqBroker
    from sqlalchemy.orm import Session, sessionmaker

__all__ = [
    "ACTOR_NAME",
    "DEFAULT_QUEUE_NAME",
    "BrokerScanRunner",
    "DeadLettered",
    "PublishingJobQueue",
    "QueuePublisher",
    "ResultHooks",
    "declare_actor",
    "make_broker",
    "run_consumer",
]

log = logging.getLogger("imagewarden.jobs.broker")

ACTOR_NAME = "imagewarden_scan_job"
#: how often a message that failed for a reason outside the job (the database is away)
#: is retried before it goes to the dead-letter queue
_INFRA_RETRIES = 20


class DeadLettered(Exception):
    """The job used all its attempts: the message is rejected into the dead-letter queue."""


def make_broker(url: str) -> RabbitmqBroker:
    """A RabbitMQ broker with publisher confirms and only the Retries middleware.

    Dramatiq's TimeLimit (10 min by default) and AgeLimit are left out on purpose: a scan's
    limit is its task's ``Timeout``, enforced through the database like cancellation.
    """
    from dramatiq.brokers.rabbitmq import RabbitmqBroker
    from dramatiq.middleware import Retries

    return RabbitmqBroker(url=url, confirm_delivery=True, middleware=[Retries()])


class QueuePublisher:
    """Sends job IDs to the queue (the server side of ``serve --queue``)."""

    def __init__(self, url: str, queue_name: str = DEFAULT_QUEUE_NAME) -> None:
        self.url = url
        self.queue_name = queue_name
        self._broker: RabbitmqBroker | None = None
        self._lock = threading.Lock()

    @property
    def broker(self) -> RabbitmqBroker:
        with self._lock:
            if self._broker is None:
                self._broker = make_broker(self.url)
            return self._broker

    def publish(self, job_ids: Sequence[int]) -> None:
        from dramatiq import Message

        broker = self.broker
        for job_id in job_ids:
            broker.enqueue(
                Message(
                    queue_name=self.queue_name,
                    actor_name=ACTOR_NAME,
                    args=(int(job_id),),
                    kwargs={},
                    options={},
                )
            )

    def counts(self) -> tuple[int, int, int]:
        """Messages ready in the queue, its delay queue and its dead-letter queue."""
        return self.broker.get_queue_message_counts(self.queue_name)

    def purge(self) -> None:
        """Drop every message of the queue, its delay queue and its dead-letter queue."""
        self.broker.flush(self.queue_name)

    def close(self) -> None:
        with self._lock:
            if self._broker is not None:
                self._broker.close()
                self._broker = None


class PublishingJobQueue(SqlJobQueue):
    """The database queue whose jobs are run by ``imagewarden worker`` processes.

    Enqueuing writes the rows (committed first, so a worker always finds its row) and then
    publishes their IDs.  This process never claims a job itself.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime],
        publisher: QueuePublisher,
        *,
        max_attempts: int = 3,
    ) -> None:
        super().__init__(sessions, clock, max_attempts=max_attempts)
        self.publisher = publisher
        self._claims = JobClaims(sessions, clock)

    def enqueue(self, requests: Sequence[ScanRequest]) -> list[int]:
        ids = super().enqueue(requests)
        try:
            self.publisher.publish(ids)
        except Exception as exc:
            # never leave a queued row nobody will hear of: fail what was not sent, visibly
            reason = f"could not publish the job to the queue: {type(exc).__name__}: {exc}"
            log.error("%s", reason)
            self._claims.fail_queued(ids, reason[:1000])
        return ids

    def claim(self, worker: str, lease: timedelta) -> ClaimedJob | None:
        return None  # the queue's workers run the jobs, never the publishing server


@dataclass(frozen=True)
class ResultHooks:
    """What the runner needs from the inventory."""

    mark_scanning: Callable[[int, str], str | None]  # returns the previous status
    restore_status: Callable[[int, str, str], None]
    #: ``record_scan(account_id, outcome, guard=...)``: False when the guard refused
    record: Callable[..., bool]


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_native_id()}"[:128]


class BrokerScanRunner:
    """Runs one job per message: claim the row, scan under a heartbeated lease, write the
    result guarded, or re-queue / dead-letter the job with its error."""

    def __init__(
        self,
        claims: JobClaims,
        scan: ScanFn,
        hooks: ResultHooks,
        clock: Callable[[], datetime],
        *,
        lease: timedelta = timedelta(seconds=60),
        heartbeat_every: float | None = None,
        min_backoff_ms: int = 5_000,
        max_backoff_ms: int = 300_000,
    ) -> None:
        self.claims = claims
        self.scan = scan
        self.hooks = hooks
        self.clock = clock
        self.lease = lease
        self.heartbeat_every = (
            heartbeat_every if heartbeat_every is not None else lease.total_seconds() / 3
        )
        self.min_backoff_ms = min_backoff_ms
        self.max_backoff_ms = max_backoff_ms

    def backoff_ms(self, attempt: int) -> int:
        return int(min(self.min_backoff_ms * 2 ** max(0, attempt - 1), self.max_backoff_ms))

    def handle(self, job_id: int) -> None:
        """The actor.  Returning acknowledges the message; ``Retry`` re-sends it later;
        ``DeadLettered`` rejects it into the dead-letter queue."""
        from dramatiq import Retry

        me = worker_name()
        claim = self.claims.claim(job_id, me, self.lease)
        if claim.kind in (ClaimKind.GONE, ClaimKind.FINISHED):
            log.info("job %s: %s, message dropped", job_id, claim.kind.value)
            return
        if claim.kind is ClaimKind.BUSY:
            until = claim.lease_until or self.clock()
            wait = max(0.0, (until - self.clock()).total_seconds())
            raise Retry(f"job {job_id} is held by another worker", delay=int(wait * 1000) + 500)
        job = claim.job
        assert job is not None
        if claim.kind is ClaimKind.EXHAUSTED:
            self._dead(job, claim.max_attempts, claim.error or "no attempt finished", me)
            return
        self._run(job, me, claim.max_attempts)

    def _run(self, job: ClaimedJob, me: str, max_attempts: int) -> None:
        from dramatiq import Retry

        req = job.request
        previous = self.hooks.mark_scanning(req.account_id, req.image_id)
        token = CancelToken()
        done = threading.Event()

        def beat() -> None:
            while not done.wait(self.heartbeat_every):
                try:
                    alive = self.claims.heartbeat(job.job_id, me, job.attempt, self.lease)
                except Exception:
                    log.warning("heartbeat of job %s failed", job.job_id)
                    continue
                if not alive:
                    token.cancel()
                    return

        hb = threading.Thread(target=beat, name=f"hb-{job.job_id}", daemon=True)
        hb.start()
        outcome: ScanOutcome | None = None
        error = ""
        try:
            try:
                outcome = self.scan(req, token)
            finally:
                done.set()
                hb.join()
            if token.cancelled:
                raise Cancelled()
        except Cancelled:
            if self.claims.state(job.job_id) is JobState.CANCELLED:
                self.hooks.restore_status(
                    req.account_id, req.image_id, previous or ScanStatus.NOT_SCAN.value
                )
            log.info("job %s (%s) stopped: cancelled or taken over", job.job_id, req.image_id)
            return
        except Exception as exc:  # a scanner bug: retried, then SCAN_ERR, never a silent pass
            log.exception("job %s (%s) crashed", job.job_id, req.image_id)
            error = f"internal scanner error: {type(exc).__name__}: {exc}"[:1000]
        if outcome is not None and outcome.status is not ScanStatus.SCAN_ERR:
            guard = self.claims.finish_guard(job.job_id, me, job.attempt, JobState.DONE)
            if not self.hooks.record(req.account_id, outcome, guard=guard):
                log.warning("job %s: no longer this worker's, result discarded", job.job_id)
            return
        if outcome is not None:
            error = outcome.error or "the scan failed"
        if job.attempt >= max_attempts:
            self._dead(job, max_attempts, error, me)
            return
        wait = self.backoff_ms(job.attempt)
        note = (
            f"attempt {job.attempt}/{max_attempts} failed: {error}; retrying in {wait / 1000:g} s"
        )
        if self.claims.requeue(job.job_id, me, job.attempt, note[:1000]):
            self.hooks.restore_status(
                req.account_id, req.image_id, previous or ScanStatus.NOT_SCAN.value
            )
            raise Retry(note, delay=wait)

    def _dead(self, job: ClaimedJob, max_attempts: int, error: str, me: str) -> None:
        req = job.request
        reason = f"dead-lettered after {job.attempt}/{max_attempts} attempts: {error}"[:1000]
        guard = self.claims.finish_guard(job.job_id, me, job.attempt, JobState.DEAD, reason)
        failed = ScanOutcome(req.image_id, ScanStatus.SCAN_ERR, self.clock(), error=reason)
        if self.hooks.record(req.account_id, failed, guard=guard):
            log.error("job %s (%s) %s", job.job_id, req.image_id, reason)
            raise DeadLettered(reason)
        log.warning("job %s: no longer this worker's, dead-letter skipped", job.job_id)


def _retry_when(retries: int, exc: BaseException) -> bool:
    from dramatiq import Retry

    return isinstance(exc, Retry) or (
        not isinstance(exc, DeadLettered) and retries < _INFRA_RETRIES
    )


def declare_actor(broker: RabbitmqBroker, queue_name: str, handle: Callable[[int], None]) -> object:
    """Register the scan actor on ``queue_name`` (one actor per broker)."""
    import dramatiq

    def imagewarden_scan_job(job_id: int) -> None:
        handle(int(job_id))

    return dramatiq.actor(
        broker=broker,
        actor_name=ACTOR_NAME,
        queue_name=queue_name,
        retry_when=_retry_when,
        throws=(DeadLettered,),
    )(imagewarden_scan_job)


def run_consumer(broker: RabbitmqBroker, threads: int, stop: threading.Event) -> None:
    """Consume until ``stop`` is set, then stop the worker threads and close the broker."""
    from dramatiq import Worker

    worker = Worker(broker, worker_threads=max(1, threads), worker_timeout=1000)
    worker.start()
    try:
        stop.wait()
    finally:
        worker.stop()
        broker.close()
