"""Scan tasks: CreateAssetImageScanTask and friends, on top of the job queue.

A task selects images (explicit IDs, filters, or all), enqueues one job per image that has
a readable source, and is then observed through its jobs.  One task per account runs at a
time (``AlreadyScanningError``, as TCSS answers ``FailedOperation.ErrAlreadyScanning``).
A task past its ``Timeout`` has its unfinished jobs cancelled (SubStatus ``Timeout``).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import ParamSpec, TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from imagewarden.inventory.errors import (
    AlreadyScanningError,
    InvalidFilterError,
    NotFoundError,
    StoreUnavailableError,
)
from imagewarden.inventory.licences import reconcile as reconcile_licences
from imagewarden.inventory.models import ImageQuery
from imagewarden.jobs.models import ScanRequest
from imagewarden.store import tasks as task_store
from imagewarden.store.job_tables import ScanTaskRow
from imagewarden.store.jobs import SqlJobQueue

__all__ = ["TaskService", "TaskStatus", "TaskSummary"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _store_errors(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """A database that cannot be reached is ``StoreUnavailableError`` (InternalError.MainDBFail
    at the API), as in the inventory service, not an anonymous internal error."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return fn(*args, **kwargs)
        except (OperationalError, DBAPIError) as exc:
            if isinstance(exc, OperationalError) or exc.connection_invalidated:
                raise StoreUnavailableError(str(exc.orig) if exc.orig else str(exc)) from exc
            raise

    return wrapper


@dataclass(frozen=True)
class TaskStatus:
    """DescribeAssetImageScanStatus."""

    image_total: int
    image_scan_cnt: int
    status: str  # SCANNING | END
    schedule: int  # percent
    success_count: int  # scanned without findings
    risk_count: int  # scanned with findings
    left_seconds: int


@dataclass(frozen=True)
class TaskSummary:
    """DescribeAssetImageScanTask."""

    task_id: str
    last_scan_time: datetime | None
    status: str  # READY | SCANNING | END
    sub_status: str  # Success | Timeout | Cancel | Error | ""


def registry_host(ref: str) -> str:
    """The registry host of an image reference, as docker resolves it
    (``nginx@sha256:..`` → ``docker.io``; ``127.0.0.1:5000/app@..`` → ``127.0.0.1:5000``)."""
    first, sep, _ = ref.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first.lower()
    return "docker.io"


class TaskService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        queue: SqlJobQueue,
        clock: Callable[[], datetime],
        *,
        pull_registries: Iterable[str] = (),
    ) -> None:
        """``pull_registries``: registry hosts (``host[:port]``) the server may pull an
        image from when no source was recorded for it, by a repo digest a host reported.
        Empty by default: a host report must not make the server fetch from anywhere."""
        self._sessions = sessions
        self._queue = queue
        self._clock = clock
        self._pull = frozenset(h.strip().lower() for h in pull_registries if h.strip())

    def _source(self, c: task_store.SelectedImage) -> str:
        """The recorded source, else ``registry:HOST/REPO@DIGEST`` from a repo digest whose
        registry the operator allows."""
        if c.source_ref or not self._pull:
            return c.source_ref
        for ref in c.repo_digests:
            if registry_host(ref) in self._pull and "@sha256:" in ref:
                return "registry:" + ref
        return ""

    def _expire(self, account_id: int) -> None:
        """Cancel what is left of tasks past their deadline."""
        now = self._clock()
        with self._sessions.begin() as s:
            ids = task_store.active_task_ids(s, account_id)
            late = [
                t
                for t in ids
                if (rec := task_store.get_task(s, account_id, t)) and rec.deadline < now
            ]
        for tid in late:
            self._queue.cancel(account_id, task_id=tid, reason="timeout")

    @_store_errors
    def create(
        self,
        account_id: int,
        *,
        select_all: bool,
        image_ids: Sequence[str],
        query: ImageQuery | None,
        exclude: Sequence[str],
        scan_vul: bool,
        scan_virus: bool,
        scan_risk: bool,
        running_only: bool,
        timeout: int,
    ) -> str:
        if not (scan_vul or scan_virus or scan_risk):
            raise InvalidFilterError(
                "ScanVul", "at least one of ScanVul, ScanVirus and ScanRisk must be true"
            )
        if not (select_all or image_ids or query is not None):
            raise InvalidFilterError("Images", "name the images: Images, Filters or All")
        self._expire(account_id)
        now = self._clock()
        task_id = "imagewarden-scan-" + uuid.uuid4().hex
        with self._sessions.begin() as s:
            if task_store.active_task_ids(s, account_id):
                raise AlreadyScanningError("a scan task is already running")
            reconcile_licences(s, account_id, now)  # only licensed images are scanned
            chosen = task_store.select_images(
                s, account_id, query, image_ids, exclude, running_only=running_only
            )
            if image_ids:
                known = {c.image_id for c in chosen} | set(exclude)
                if missing := [i for i in image_ids if i not in known]:
                    raise NotFoundError(f"no image {missing[0]} in this account")
            chosen = [replace(c, source_ref=self._source(c)) for c in chosen]
            scannable = [c for c in chosen if c.source_ref and c.authorized]
            chosen = [c for c in chosen if c.authorized]
            task_store.insert_task(
                s,
                ScanTaskRow(
                    task_id=task_id,
                    account_id=account_id,
                    created_at=now,
                    deadline=now + timedelta(seconds=timeout),
                    options={
                        "scan_vul": scan_vul,
                        "scan_virus": scan_virus,
                        "scan_risk": scan_risk,
                    },
                    unscannable=len(chosen) - len(scannable),
                    stopped=False,
                ),
            )
        self._queue.enqueue(
            [
                ScanRequest(
                    account_id, c.image_id, c.source_ref, task_id, scan_vul, scan_virus, scan_risk
                )
                for c in scannable
            ]
        )
        return task_id

    @_store_errors
    def status(self, account_id: int, task_id: str | None) -> TaskStatus:
        self._expire(account_id)
        with self._sessions.begin() as s:
            rec = (
                task_store.get_task(s, account_id, task_id)
                if task_id
                else task_store.latest_task(s, account_id)
            )
            if rec is None:
                raise NotFoundError(f"no scan task {task_id}" if task_id else "no scan task yet")
            c = task_store.task_counts(s, account_id, rec.task_id)
        total = c.total + rec.unscannable
        finished = c.finished + rec.unscannable
        running = finished < total
        left = 0
        if running and c.finished:
            elapsed = (self._clock() - rec.created_at).total_seconds()
            left = int(elapsed / c.finished * (c.total - c.finished))
        elif running:
            left = int((rec.deadline - self._clock()).total_seconds())
        return TaskStatus(
            image_total=total,
            image_scan_cnt=finished,
            status="SCANNING" if running else "END",
            schedule=100 if total == 0 else finished * 100 // total,
            success_count=c.done - c.risky,
            risk_count=c.risky,
            left_seconds=max(0, left),
        )

    @_store_errors
    def latest(self, account_id: int) -> TaskSummary:
        self._expire(account_id)
        with self._sessions.begin() as s:
            rec = task_store.latest_task(s, account_id)
            if rec is None:
                return TaskSummary("", None, "READY", "")
            c = task_store.task_counts(s, account_id, rec.task_id)
        if c.finished < c.total:
            return TaskSummary(rec.task_id, c.last_finish, "SCANNING", "")
        if rec.stopped:
            sub = "Cancel"
        elif c.cancelled and rec.deadline < self._clock():
            sub = "Timeout"
        elif c.failed or rec.unscannable:
            sub = "Error"
        else:
            sub = "Success"
        return TaskSummary(rec.task_id, c.last_finish or rec.created_at, "END", sub)

    @_store_errors
    def image_ids(self, account_id: int, query: ImageQuery) -> list[str]:
        with self._sessions.begin() as s:
            return [c.image_id for c in task_store.select_images(s, account_id, query, (), ())]

    @_store_errors
    def stop(self, account_id: int, *, task_id: str | None, image_ids: Sequence[str]) -> int:
        if task_id:
            with self._sessions.begin() as s:
                if task_store.get_task(s, account_id, task_id) is None:
                    raise NotFoundError(f"no scan task {task_id}")
                task_store.mark_stopped(s, task_id)
            return self._queue.cancel(account_id, task_id=task_id)
        if not image_ids:
            raise InvalidFilterError("TaskID", "name a TaskID, Images or Filters to stop")
        # an ID this account does not hold is an error, as for a TaskID: answering SUCCESS
        # would tell the caller nothing and hide a typo (or a probe of another account)
        with self._sessions.begin() as s:
            known = {
                c.image_id for c in task_store.select_images(s, account_id, None, image_ids, ())
            }
        if missing := [i for i in image_ids if i not in known]:
            raise NotFoundError(f"no image {missing[0]} in this account")
        return self._queue.cancel(account_id, image_ids=image_ids)
