"""Periodic scans (CreateAssetImageScanSetting) and the scheduler that fires them.

A setting stores its next firing (``next_run``, naive UTC).  ``Scheduler.tick`` (called
every few seconds by each ``imagewarden serve`` process, or by a test with its own clock)
claims every due firing with ``UPDATE ... SET next_run = :following WHERE next_run = :seen``
and creates, for the one process whose update won, the scan task CreateAssetImageScanTask
would: several server processes still fire once per period.  A server that was down past a
firing fires once when it is back, then keeps the period from the scheduled time.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy.orm import Session, sessionmaker

from imagewarden.inventory.errors import InvalidFilterError, InventoryError
from imagewarden.inventory.models import normalise_image_id
from imagewarden.jobs.tasks import TaskService
from imagewarden.store import settings as setting_store

__all__ = ["ScanSetting", "ScanSettings", "Scheduler", "first_run", "parse_clock"]

log = logging.getLogger("imagewarden.schedule")

_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
MAX_PERIOD_DAYS = 365


def parse_clock(text: str, parameter: str) -> time:
    """``HH:MM`` or ``HH:MM:SS`` (UTC) → a time of day."""
    m = _CLOCK.match(text.strip())
    if m is None:
        raise InvalidFilterError(parameter, f"`{text}` is not a time of day (HH:MM or HH:MM:SS)")
    h, mi, s = int(m[1]), int(m[2]), int(m[3] or 0)
    if h > 23 or mi > 59 or s > 59:
        raise InvalidFilterError(parameter, f"`{text}` is not a time of day (00:00-23:59)")
    return time(h, mi, s)


def first_run(at: time, now: datetime) -> datetime:
    """The first instant at time-of-day ``at`` strictly after ``now``."""
    today = datetime.combine(now.date(), at)
    return today if today > now else today + timedelta(days=1)


@dataclass(frozen=True)
class ScanSetting:
    enable: bool
    scan_time: str
    scan_period: int
    scan_vul: bool
    scan_virus: bool
    scan_risk: bool
    select_all: bool
    images: tuple[str, ...]
    container_running: bool
    scan_scope: int
    scan_end_time: str
    exclude_images: tuple[str, ...]
    cluster_ids: tuple[str, ...]
    next_run: datetime | None = None
    last_scan_time: datetime | None = None
    scan_result: str = ""


def _timeout(start: str, end: str) -> int:
    """Seconds from ScanTime to ScanEndTime (a window past midnight wraps); default 1 h."""
    if not end:
        return 3600
    a, b = parse_clock(start, "ScanTime"), parse_clock(end, "ScanEndTime")
    secs = (b.hour * 3600 + b.minute * 60 + b.second) - (a.hour * 3600 + a.minute * 60 + a.second)
    return secs % 86400 or 86400


class ScanSettings:
    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        self._sessions = sessions
        self._clock = clock

    def put(self, account_id: int, setting: ScanSetting) -> None:
        at = parse_clock(setting.scan_time, "ScanTime")
        if setting.scan_end_time:
            parse_clock(setting.scan_end_time, "ScanEndTime")
        if not 1 <= setting.scan_period <= MAX_PERIOD_DAYS:
            raise InvalidFilterError("ScanPeriod", f"the period is in days, 1-{MAX_PERIOD_DAYS}")
        if setting.enable and not (setting.scan_vul or setting.scan_virus or setting.scan_risk):
            raise InvalidFilterError(
                "ScanVul", "at least one of ScanVul, ScanVirus and ScanRisk must be true"
            )
        if setting.scan_scope in (2, 3):
            raise InvalidFilterError(
                "ScanScope",
                "2 (recommended) and 3 (by cluster) are not supported; use 0 (all authorised "
                "images) or 1 (Images)",
            )
        if setting.scan_scope == 1 and not setting.images and not setting.select_all:
            raise InvalidFilterError("Images", "ScanScope 1 scans the Images given: name some")
        images = tuple(normalise_image_id(v, f"Images.{i}") for i, v in enumerate(setting.images))
        exclude = tuple(
            normalise_image_id(v, f"ExcludeImages.{i}")
            for i, v in enumerate(setting.exclude_images)
        )
        now = self._clock()
        values = {
            "enable": setting.enable,
            "scan_time": setting.scan_time.strip(),
            "scan_period": setting.scan_period,
            "scan_vul": setting.scan_vul,
            "scan_virus": setting.scan_virus,
            "scan_risk": setting.scan_risk,
            "select_all": setting.select_all,
            "images": list(images),
            "container_running": setting.container_running,
            "scan_scope": setting.scan_scope,
            "scan_end_time": setting.scan_end_time.strip(),
            "exclude_images": list(exclude),
            "cluster_ids": list(setting.cluster_ids),
            "next_run": first_run(at, now) if setting.enable else None,
            "updated_at": now,
        }
        with self._sessions.begin() as s:
            setting_store.put(s, account_id, values)

    def get(self, account_id: int) -> ScanSetting | None:
        with self._sessions.begin() as s:
            r = setting_store.get(s, account_id)
            if r is None:
                return None
            return ScanSetting(
                r.enable,
                r.scan_time,
                r.scan_period,
                r.scan_vul,
                r.scan_virus,
                r.scan_risk,
                r.select_all,
                tuple(r.images),
                r.container_running,
                r.scan_scope,
                r.scan_end_time,
                tuple(r.exclude_images),
                tuple(r.cluster_ids),
                r.next_run,
                r.last_scan_time,
                r.scan_result,
            )


class Scheduler:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        tasks: TaskService,
        clock: Callable[[], datetime],
        settings: ScanSettings | None = None,
    ) -> None:
        self._sessions = sessions
        self._tasks = tasks
        self._clock = clock
        self._settings = settings or ScanSettings(sessions, clock)

    def tick(self) -> list[str]:
        """Fire every due setting this process wins; returns the task IDs created."""
        now = self._clock()
        with self._sessions.begin() as s:
            due = setting_store.due(s, now)
        created: list[str] = []
        for account_id, seen in due:
            setting = self._settings.get(account_id)
            if setting is None:
                continue
            following = seen + timedelta(days=setting.scan_period)
            while following <= now:
                following += timedelta(days=setting.scan_period)
            with self._sessions.begin() as s:
                if not setting_store.claim(s, account_id, seen, following):
                    continue  # another process fired it
            task_id, result = self._fire(account_id, setting)
            with self._sessions.begin() as s:
                setting_store.record_result(s, account_id, at=now, result=result, task_id=task_id)
            if task_id:
                created.append(task_id)
        return created

    def _fire(self, account_id: int, st: ScanSetting) -> tuple[str, str]:
        images: Sequence[str] = st.images if st.scan_scope == 1 and not st.select_all else ()
        try:
            task_id = self._tasks.create(
                account_id,
                select_all=not images,
                image_ids=images,
                query=None,
                exclude=st.exclude_images,
                scan_vul=st.scan_vul,
                scan_virus=st.scan_virus,
                scan_risk=st.scan_risk,
                running_only=st.container_running,
                timeout=_timeout(st.scan_time, st.scan_end_time),
            )
        except InventoryError as exc:
            log.warning("periodic scan of account %s not started: %s", account_id, exc)
            return "", "InternalError"
        status = self._tasks.status(account_id, task_id)
        return task_id, "ImageNeedIsEmpty" if status.image_total == 0 else "Success"

    def run_forever(self, stop: threading.Event, interval: float = 15.0) -> None:
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # a failing tick must not end the server's scheduler
                log.exception("scheduler tick failed")
            stop.wait(interval)
