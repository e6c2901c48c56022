"""The scan worker: claim → mark SCANNING → scan (heartbeating) → record → finish.

The scanner and the inventory are injected as plain callables, so this module knows
neither image formats nor SQL.  A cancelled job (``ModifyAssetImageScanStop``) makes the
next heartbeat fail; the worker then sets the cancel token, which the scan checks between
layers, and restores the image's previous scan status.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from imagewarden.inventory.models import ScanOutcome, ScanStatus
from imagewarden.jobs.models import ClaimedJob, JobOutcome, JobState, ScanRequest
from imagewarden.jobs.queue import JobQueue

__all__ = ["CancelToken", "Cancelled", "ScanFn", "Worker"]

log = logging.getLogger("imagewarden.jobs")


class Cancelled(Exception):
    """Raised by a scan that noticed its token was cancelled."""


class CancelToken:
    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled()


ScanFn = Callable[[ScanRequest, CancelToken], ScanOutcome]


@dataclass(frozen=True)
class InventoryHooks:
    """What the worker needs from the inventory."""

    mark_scanning: Callable[[int, str], str | None]  # returns the previous status
    restore_status: Callable[[int, str, str], None]
    record: Callable[[int, ScanOutcome], object]


class Worker:
    def __init__(
        self,
        queue: JobQueue,
        scan: ScanFn,
        inventory: InventoryHooks,
        *,
        name: str,
        lease: timedelta = timedelta(seconds=60),
        heartbeat_every: float = 10.0,
    ) -> None:
        self.queue = queue
        self.scan = scan
        self.inventory = inventory
        self.name = name
        self.lease = lease
        self.heartbeat_every = heartbeat_every

    def run_once(self) -> bool:
        """Process one job if there is one; ``True`` when a job was processed."""
        job = self.queue.claim(self.name, self.lease)
        if job is None:
            return False
        self.process(job)
        return True

    def run_forever(self, stop: threading.Event, idle: float = 1.0) -> None:
        while not stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # the database may be down: keep the worker alive
                log.exception("worker %s: could not claim a job", self.name)
                busy = False
            if not busy:
                stop.wait(idle)

    def process(self, job: ClaimedJob) -> None:
        """Run one job this worker holds the lease of (from ``claim`` or ``enqueue_claimed``)."""
        req = job.request
        previous = self.inventory.mark_scanning(req.account_id, req.image_id)
        token = CancelToken()
        done = threading.Event()

        def beat() -> None:
            while not done.wait(self.heartbeat_every):
                try:
                    alive = self.queue.heartbeat(job.job_id, self.name, self.lease)
                except Exception:
                    log.warning("heartbeat of job %s failed", job.job_id)
                    continue
                if not alive:
                    token.cancel()
                    return

        hb = threading.Thread(target=beat, name=f"hb-{job.job_id}", daemon=True)
        hb.start()
        try:
            try:
                outcome = self.scan(req, token)
            finally:
                done.set()
                hb.join()
            if token.cancelled:
                raise Cancelled()
        except Cancelled:
            self.inventory.restore_status(
                req.account_id, req.image_id, previous or ScanStatus.NOT_SCAN.value
            )
            self.queue.finish(job.job_id, self.name, JobOutcome(JobState.CANCELLED, "cancelled"))
            log.info("job %s (%s) cancelled", job.job_id, req.image_id)
            return
        except Exception as exc:  # a scanner bug: the image gets SCAN_ERR, never a silent pass
            log.exception("job %s (%s) crashed", job.job_id, req.image_id)
            self.inventory.restore_status(req.account_id, req.image_id, ScanStatus.SCAN_ERR.value)
            self.queue.finish(
                job.job_id,
                self.name,
                JobOutcome(JobState.FAILED, f"internal scanner error: {type(exc).__name__}"),
            )
            return
        self.inventory.record(req.account_id, outcome)
        state = JobState.FAILED if outcome.status is ScanStatus.SCAN_ERR else JobState.DONE
        self.queue.finish(job.job_id, self.name, JobOutcome(state, outcome.error))
