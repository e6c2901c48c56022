"""The embedded job queue on the inventory database (SQLite or PostgreSQL).

Claiming is one atomic statement: on PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets many
workers claim concurrently; SQLite serialises writers, so the same UPDATE is atomic there.
A job whose lease ran out (its worker died) is claimed again until ``max_attempts``;
after that it fails with a clear error.  Nothing stays RUNNING forever.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Result, and_, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from imagewarden.jobs.models import ClaimedJob, JobOutcome, JobState, ScanRequest
from imagewarden.store.job_tables import ScanJobRow

__all__ = ["SqlJobQueue"]


def _rowcount(result: Result[Any]) -> int:
    return int(cast(CursorResult[Any], result).rowcount)


class SqlJobQueue:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime],
        *,
        max_attempts: int = 3,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._max_attempts = max_attempts

    def enqueue(self, requests: Sequence[ScanRequest]) -> list[int]:
        return [job.job_id for job in self._insert(requests, None, timedelta(0))]

    def enqueue_claimed(
        self, requests: Sequence[ScanRequest], worker: str, lease: timedelta
    ) -> list[ClaimedJob]:
        """Jobs created already leased to ``worker`` (attempt 1): no other worker takes them
        unless ``worker`` stops renewing the lease — e.g. ``images scan`` runs its own jobs
        with its own scanner settings while a server's workers share the database."""
        return self._insert(requests, worker, lease)

    def _insert(
        self, requests: Sequence[ScanRequest], worker: str | None, lease: timedelta
    ) -> list[ClaimedJob]:
        now = self._clock()
        claimed = worker is not None
        rows = [
            ScanJobRow(
                account_id=r.account_id,
                task_id=r.task_id,
                image_id=r.image_id,
                source_ref=r.source_ref,
                options={
                    "scan_vul": r.scan_vul,
                    "scan_virus": r.scan_virus,
                    "scan_risk": r.scan_risk,
                },
                state=(JobState.RUNNING if claimed else JobState.QUEUED).value,
                attempt=1 if claimed else 0,
                max_attempts=self._max_attempts,
                worker=worker or "",
                error="",
                created_at=now,
                **({"lease_until": now + lease, "started_at": now} if claimed else {}),
            )
            for r in requests
        ]
        with self._sessions.begin() as s:
            s.add_all(rows)
            s.flush()
            return [
                ClaimedJob(int(row.id), req, int(row.attempt), now + lease)
                for row, req in zip(rows, requests, strict=True)
            ]

    def _expire(self, s: Session, now: datetime) -> None:
        """Fail running jobs whose lease expired on their last attempt."""
        s.execute(
            update(ScanJobRow)
            .where(
                ScanJobRow.state == JobState.RUNNING.value,
                ScanJobRow.lease_until < now,
                ScanJobRow.attempt >= ScanJobRow.max_attempts,
            )
            .values(
                state=JobState.FAILED.value,
                error="the worker stopped responding on the last attempt",
                finished_at=now,
            )
        )

    def claim(self, worker: str, lease: timedelta) -> ClaimedJob | None:
        now = self._clock()
        with self._sessions.begin() as s:
            self._expire(s, now)
            claimable = or_(
                ScanJobRow.state == JobState.QUEUED.value,
                and_(ScanJobRow.state == JobState.RUNNING.value, ScanJobRow.lease_until < now),
            )
            pick = select(ScanJobRow.id).where(claimable).order_by(ScanJobRow.id).limit(1)
            if s.get_bind().dialect.name == "postgresql":
                pick = pick.with_for_update(skip_locked=True)
            row = s.execute(
                update(ScanJobRow)
                .where(ScanJobRow.id == pick.scalar_subquery(), claimable)
                .values(
                    state=JobState.RUNNING.value,
                    worker=worker,
                    lease_until=now + lease,
                    attempt=ScanJobRow.attempt + 1,
                    started_at=func.coalesce(ScanJobRow.started_at, now),
                )
                .returning(
                    ScanJobRow.id,
                    ScanJobRow.account_id,
                    ScanJobRow.task_id,
                    ScanJobRow.image_id,
                    ScanJobRow.source_ref,
                    ScanJobRow.options,
                    ScanJobRow.attempt,
                    ScanJobRow.lease_until,
                )
            ).first()
        if row is None:
            return None
        opts = row.options or {}
        req = ScanRequest(
            account_id=int(row.account_id),
            image_id=row.image_id,
            source_ref=row.source_ref,
            task_id=row.task_id,
            scan_vul=bool(opts.get("scan_vul", True)),
            scan_virus=bool(opts.get("scan_virus", True)),
            scan_risk=bool(opts.get("scan_risk", True)),
        )
        return ClaimedJob(int(row.id), req, int(row.attempt), row.lease_until)

    def heartbeat(self, job_id: int, worker: str, lease: timedelta) -> bool:
        now = self._clock()
        with self._sessions.begin() as s:
            res = s.execute(
                update(ScanJobRow)
                .where(
                    ScanJobRow.id == job_id,
                    ScanJobRow.worker == worker,
                    ScanJobRow.state == JobState.RUNNING.value,
                )
                .values(lease_until=now + lease)
            )
            return bool(_rowcount(res))

    def finish(self, job_id: int, worker: str, outcome: JobOutcome) -> bool:
        with self._sessions.begin() as s:
            res = s.execute(
                update(ScanJobRow)
                .where(
                    ScanJobRow.id == job_id,
                    ScanJobRow.worker == worker,
                    ScanJobRow.state == JobState.RUNNING.value,
                )
                .values(state=outcome.state.value, error=outcome.error, finished_at=self._clock())
            )
            return bool(_rowcount(res))

    def cancel(
        self,
        account_id: int,
        *,
        task_id: str | None = None,
        image_ids: Sequence[str] = (),
        reason: str = "cancelled",
    ) -> int:
        conds = [
            ScanJobRow.account_id == account_id,
            ScanJobRow.state.in_([JobState.QUEUED.value, JobState.RUNNING.value]),
        ]
        if task_id is not None:
            conds.append(ScanJobRow.task_id == task_id)
        if image_ids:
            conds.append(ScanJobRow.image_id.in_(list(image_ids)))
        if task_id is None and not image_ids:
            return 0
        with self._sessions.begin() as s:
            res = s.execute(
                update(ScanJobRow)
                .where(*conds)
                .values(state=JobState.CANCELLED.value, error=reason, finished_at=self._clock())
            )
            return _rowcount(res)

    def state(self, job_id: int) -> tuple[JobState, str]:
        with self._sessions.begin() as s:
            row = s.execute(
                select(ScanJobRow.state, ScanJobRow.error).where(ScanJobRow.id == job_id)
            ).one()
            return JobState(row.state), row.error
