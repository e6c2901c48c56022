"""Composition of the per-account features beside the inventory: image licences, image-list
exports (with their download route) and periodic scans (with their scheduler thread)."""

from __future__ import annotations

import os
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from imagewarden.inventory.exports import ExportService, UrlSigner
from imagewarden.inventory.licences import LicenceService
from imagewarden.jobs.schedule import ScanSettings, Scheduler
from imagewarden.jobs.tasks import TaskService
from imagewarden.store.engine import make_sessionmaker

__all__ = ["ENV_EXPORT_DIR", "Features", "SchedulerThread", "default_export_dir", "open_features"]

ENV_EXPORT_DIR = "IMAGEWARDEN_EXPORT_DIR"


def default_export_dir(key_file: Path) -> Path:
    """Export files live beside the server key (shared by the processes of one server)."""
    configured = os.environ.get(ENV_EXPORT_DIR)
    return Path(configured) if configured else key_file.resolve().parent / "imagewarden-exports"


@dataclass(frozen=True)
class Features:
    licences: LicenceService
    exports: ExportService
    settings: ScanSettings
    scheduler: Scheduler

    def routes(self) -> dict[str, Callable[..., Awaitable[None]]]:
        from imagewarden.api.actions.exports import DOWNLOAD_PATH
        from imagewarden.api.exports_route import export_route

        return {DOWNLOAD_PATH: export_route(self.exports)}


def open_features(
    engine: Engine,
    tasks: TaskService,
    key_file: Path,
    clock: Callable[[], datetime],
    *,
    export_dir: Path | None = None,
) -> Features:
    sessions = make_sessionmaker(engine)
    settings = ScanSettings(sessions, clock)
    return Features(
        LicenceService(sessions, clock),
        ExportService(
            sessions,
            export_dir or default_export_dir(key_file),
            UrlSigner.from_key_file(key_file),
            clock,
        ),
        settings,
        Scheduler(sessions, tasks, clock, settings),
    )


@dataclass
class SchedulerThread:
    """The scheduler inside ``imagewarden serve``: one per server process, ticking."""

    scheduler: Scheduler
    interval: float = 15.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: Any = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.scheduler.run_forever,
            args=(self._stop, self.interval),
            name="scan-scheduler",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
