"""Job-row transitions for distributed workers (``imagewarden.jobs.broker``).

The broker only carries job IDs; the ``scan_jobs`` row stays the source of truth.  A worker
claims *a named job* (the one its message names) instead of the oldest queued one, and
every write that ends or re-queues a job is guarded by ``(worker, attempt, RUNNING)``: a
worker that lost its job (its lease ran out and another worker took over, or the job was
cancelled) changes nothing.  The guard of a result is run inside the transaction that
writes the result (``InventoryService.record_scan(guard=...)``), so a result is stored
exactly when the job is marked finished, never twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import CursorResult, Result, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from imagewarden.jobs.models import ClaimedJob, JobState, ScanRequest
from imagewarden.store.job_tables import ScanJobRow

__all__ = ["Claim", "ClaimKind", "JobClaims", "JobRecord"]


class ClaimKind(StrEnum):
    CLAIMED = "claimed"  # run it
    EXHAUSTED = "exhausted"  # held by this worker only to write its final SCAN_ERR (dead)
    BUSY = "busy"  # another worker holds a live lease: look again when it runs out
    FINISHED = "finished"  # done, failed, cancelled or dead already: drop the message
    GONE = "gone"  # no such job (deleted, or another database)


@dataclass(frozen=True)
class Claim:
    kind: ClaimKind
    job: ClaimedJob | None = None
    max_attempts: int = 0
    #: BUSY: when the holder's lease runs out; otherwise unset
    lease_until: datetime | None = None
    #: EXHAUSTED: the last error recorded on the job
    error: str = ""


@dataclass(frozen=True)
class JobRecord:
    """A row of ``imagewarden jobs list``."""

    job_id: int
    account_id: int
    task_id: str | None
    image_id: str
    state: str
    attempt: int
    max_attempts: int
    worker: str
    error: str
    created_at: datetime
    finished_at: datetime | None


def _rowcount(result: Result[Any]) -> int:
    return int(cast(CursorResult[Any], result).rowcount)


def _request(row: Any) -> ScanRequest:
    opts = row.options or {}
    return ScanRequest(
        account_id=int(row.account_id),
        image_id=row.image_id,
        source_ref=row.source_ref,
        task_id=row.task_id,
        scan_vul=bool(opts.get("scan_vul", True)),
        scan_virus=bool(opts.get("scan_virus", True)),
        scan_risk=bool(opts.get("scan_risk", True)),
    )


class JobClaims:
    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        self._sessions = sessions
        self._clock = clock

    def claim(self, job_id: int, worker: str, lease: timedelta) -> Claim:
        """Lease job ``job_id`` to ``worker`` if it is free (queued, or running under an
        expired lease).  A job that used all its attempts is not run again: it is leased
        without a new attempt (``EXHAUSTED``) so that its worker records the final error."""
        now = self._clock()
        with self._sessions.begin() as s:
            pick = select(ScanJobRow).where(ScanJobRow.id == job_id)
            if s.get_bind().dialect.name == "postgresql":
                pick = pick.with_for_update()
            row = s.execute(pick).scalar_one_or_none()
            if row is None:
                return Claim(ClaimKind.GONE)
            state = JobState(row.state)
            if state.finished:
                return Claim(ClaimKind.FINISHED)
            if state is JobState.RUNNING and row.lease_until is not None and row.lease_until >= now:
                return Claim(ClaimKind.BUSY, lease_until=row.lease_until)
            exhausted = row.attempt >= row.max_attempts
            attempt = row.attempt if exhausted else row.attempt + 1
            error = row.error
            if exhausted and state is JobState.RUNNING:
                error = (
                    f"the worker {row.worker} stopped responding on the last attempt "
                    f"({row.attempt}/{row.max_attempts})"
                )
            # guarded by what was read: on SQLite the SELECT took no lock
            res = s.execute(
                update(ScanJobRow)
                .where(
                    ScanJobRow.id == job_id,
                    ScanJobRow.state == row.state,
                    ScanJobRow.attempt == row.attempt,
                    ScanJobRow.worker == row.worker,
                )
                .values(
                    state=JobState.RUNNING.value,
                    worker=worker,
                    attempt=attempt,
                    lease_until=now + lease,
                    started_at=func.coalesce(ScanJobRow.started_at, now),
                )
            )
            if not _rowcount(res):
                return Claim(ClaimKind.BUSY, lease_until=now)
            job = ClaimedJob(int(row.id), _request(row), attempt, now + lease)
            if exhausted:
                return Claim(ClaimKind.EXHAUSTED, job, int(row.max_attempts), error=error)
            return Claim(ClaimKind.CLAIMED, job, int(row.max_attempts))

    @staticmethod
    def _mine(job_id: int, worker: str, attempt: int) -> Sequence[Any]:
        return (
            ScanJobRow.id == job_id,
            ScanJobRow.worker == worker,
            ScanJobRow.attempt == attempt,
            ScanJobRow.state == JobState.RUNNING.value,
        )

    def heartbeat(self, job_id: int, worker: str, attempt: int, lease: timedelta) -> bool:
        """Extend the lease; ``False`` when the job was cancelled or taken over (stop work)."""
        now = self._clock()
        with self._sessions.begin() as s:
            res = s.execute(
                update(ScanJobRow)
                .where(*self._mine(job_id, worker, attempt))
                .values(lease_until=now + lease)
            )
            return bool(_rowcount(res))

    def finish_guard(
        self, job_id: int, worker: str, attempt: int, state: JobState, error: str = ""
    ) -> Callable[[Session], bool]:
        """A guard for ``record_scan``: ends the job in the result's own transaction, and
        says whether it was still this worker's attempt (if not, nothing is written).  On
        PostgreSQL the UPDATE holds the row lock until the result commits, so a concurrent
        cancel or take-over waits for it and then finds the job finished."""

        def guard(s: Session) -> bool:
            res = s.execute(
                update(ScanJobRow)
                .where(*self._mine(job_id, worker, attempt))
                .values(state=state.value, error=error, finished_at=self._clock())
            )
            return bool(_rowcount(res))

        return guard

    def requeue(self, job_id: int, worker: str, attempt: int, error: str) -> bool:
        """Give a failed attempt back (its error stays visible until the next one ends)."""
        with self._sessions.begin() as s:
            res = s.execute(
                update(ScanJobRow)
                .where(*self._mine(job_id, worker, attempt))
                .values(state=JobState.QUEUED.value, worker="", lease_until=None, error=error)
            )
            return bool(_rowcount(res))

    def fail_queued(self, job_ids: Sequence[int], error: str) -> int:
        """Fail jobs still queued (their message could not be sent), with the reason."""
        if not job_ids:
            return 0
        with self._sessions.begin() as s:
            res = s.execute(
                update(ScanJobRow)
                .where(
                    ScanJobRow.id.in_([int(i) for i in job_ids]),
                    ScanJobRow.state == JobState.QUEUED.value,
                )
                .values(state=JobState.FAILED.value, error=error, finished_at=self._clock())
            )
            return _rowcount(res)

    def state(self, job_id: int) -> JobState | None:
        with self._sessions.begin() as s:
            value = s.scalar(select(ScanJobRow.state).where(ScanJobRow.id == job_id))
        return None if value is None else JobState(value)

    def unfinished_ids(self, *, task_id: str | None = None) -> list[int]:
        """Queued jobs (all, or a task's): what ``imagewarden jobs republish`` sends again."""
        conds = [ScanJobRow.state == JobState.QUEUED.value]
        if task_id is not None:
            conds.append(ScanJobRow.task_id == task_id)
        with self._sessions.begin() as s:
            return [int(i) for i in s.scalars(select(ScanJobRow.id).where(*conds))]

    def list(
        self,
        *,
        states: Sequence[JobState] = (),
        task_id: str | None = None,
        limit: int = 100,
    ) -> list[JobRecord]:
        """The newest jobs first, with their attempts and last error."""
        stmt = select(ScanJobRow).order_by(ScanJobRow.id.desc()).limit(limit)
        if states:
            stmt = stmt.where(ScanJobRow.state.in_([s.value for s in states]))
        if task_id is not None:
            stmt = stmt.where(ScanJobRow.task_id == task_id)
        with self._sessions.begin() as s:
            return [
                JobRecord(
                    int(r.id),
                    int(r.account_id),
                    r.task_id,
                    r.image_id,
                    r.state,
                    int(r.attempt),
                    int(r.max_attempts),
                    r.worker,
                    r.error,
                    r.created_at,
                    r.finished_at,
                )
                for r in s.scalars(stmt)
            ]
