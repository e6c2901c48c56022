"""SQL of scan tasks: selecting images, task rows, progress from the job table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from imagewarden.inventory.models import ImageQuery
from imagewarden.jobs.models import JobState
from imagewarden.store.images import _where
from imagewarden.store.job_tables import ScanJobRow, ScanTaskRow
from imagewarden.store.tables import Image

__all__ = [
    "SelectedImage",
    "TaskCounts",
    "TaskRecord",
    "active_task_ids",
    "get_task",
    "insert_task",
    "latest_task",
    "mark_stopped",
    "select_images",
    "task_counts",
]


@dataclass(frozen=True)
class SelectedImage:
    image_id: str
    source_ref: str
    authorized: bool = True
    #: ``host/repo@sha256:...`` from host reports: where the bytes can be pulled from when
    #: no source was recorded (only from registries the operator allows)
    repo_digests: tuple[str, ...] = ()


@dataclass(frozen=True)
class TaskRecord:
    task_id: str
    created_at: datetime
    deadline: datetime
    unscannable: int
    stopped: bool
    options: dict[str, Any]


@dataclass(frozen=True)
class TaskCounts:
    total: int
    finished: int
    done: int
    failed: int
    cancelled: int
    risky: int  # finished images with any finding
    last_finish: datetime | None


def select_images(
    session: Session,
    account_id: int,
    query: ImageQuery | None,
    image_ids: Sequence[str],
    exclude: Sequence[str],
    *,
    running_only: bool = False,
) -> list[SelectedImage]:
    """The images a task covers: by filters (``query``), or by IDs, minus exclusions."""
    conds: list[Any] = [Image.account_id == account_id]
    if query is not None:
        conds = _where(account_id, query)
    if image_ids:
        conds.append(Image.image_id.in_(list(image_ids)))
    if exclude:
        conds.append(Image.image_id.not_in(list(exclude)))
    if running_only:
        conds.append(Image.container_cnt > 0)
    stmt = (
        select(Image.image_id, Image.source_ref, Image.is_authorized, Image.repo_digests)
        .where(and_(*conds))
        .order_by(Image.image_id)
    )
    return [
        SelectedImage(r.image_id, r.source_ref, bool(r.is_authorized), tuple(r.repo_digests or ()))
        for r in session.execute(stmt)
    ]


def get_task(session: Session, account_id: int, task_id: str) -> TaskRecord | None:
    row = session.get(ScanTaskRow, task_id)
    if row is None or row.account_id != account_id:
        return None
    return TaskRecord(
        row.task_id, row.created_at, row.deadline, row.unscannable, row.stopped, dict(row.options)
    )


def latest_task(session: Session, account_id: int) -> TaskRecord | None:
    tid = session.scalar(
        select(ScanTaskRow.task_id)
        .where(ScanTaskRow.account_id == account_id)
        .order_by(ScanTaskRow.created_at.desc(), ScanTaskRow.task_id.desc())
        .limit(1)
    )
    return None if tid is None else get_task(session, account_id, tid)


def active_task_ids(session: Session, account_id: int) -> list[str]:
    """Tasks of the account that still have unfinished jobs."""
    return list(
        session.scalars(
            select(ScanJobRow.task_id)
            .where(
                ScanJobRow.account_id == account_id,
                ScanJobRow.task_id.is_not(None),
                ScanJobRow.state.in_([JobState.QUEUED.value, JobState.RUNNING.value]),
            )
            .distinct()
        )
    )


def task_counts(session: Session, account_id: int, task_id: str) -> TaskCounts:
    by_state = {
        state: int(n)
        for state, n in session.execute(
            select(ScanJobRow.state, func.count())
            .where(ScanJobRow.account_id == account_id, ScanJobRow.task_id == task_id)
            .group_by(ScanJobRow.state)
        )
    }
    risky = session.scalar(
        select(func.count())
        .select_from(ScanJobRow)
        .join(
            Image,
            and_(Image.account_id == ScanJobRow.account_id, Image.image_id == ScanJobRow.image_id),
        )
        .where(
            ScanJobRow.account_id == account_id,
            ScanJobRow.task_id == task_id,
            ScanJobRow.state == JobState.DONE.value,
            or_(Image.vul_cnt > 0, Image.virus_cnt > 0, Image.risk_cnt > 0),
        )
    )
    last = session.scalar(
        select(func.max(ScanJobRow.finished_at)).where(
            ScanJobRow.account_id == account_id, ScanJobRow.task_id == task_id
        )
    )
    done = by_state.get(JobState.DONE.value, 0)
    failed = by_state.get(JobState.FAILED.value, 0) + by_state.get(JobState.DEAD.value, 0)
    cancelled = by_state.get(JobState.CANCELLED.value, 0)
    total = sum(by_state.values())
    return TaskCounts(
        total, done + failed + cancelled, done, failed, cancelled, int(risky or 0), last
    )


def insert_task(session: Session, row: ScanTaskRow) -> None:
    session.add(row)


def mark_stopped(session: Session, task_id: str) -> None:
    session.execute(update(ScanTaskRow).where(ScanTaskRow.task_id == task_id).values(stopped=True))
