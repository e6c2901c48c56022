"""The composition root: store + inventory + jobs + API, built from explicit settings."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from imagewarden.api.actions import all_actions
from imagewarden.api.app import ApiApp, ApiSettings
from imagewarden.api.registry import ActionRegistry
from imagewarden.console import console_routes
from imagewarden.inventory.keys import KeyCipher
from imagewarden.inventory.service import InventoryService, utcnow
from imagewarden.jobs.tasks import TaskService
from imagewarden.jobs.worker import InventoryHooks, Worker
from imagewarden.store.engine import make_engine, make_sessionmaker
from imagewarden.store.jobs import SqlJobQueue
from imagewarden.store.migrate import upgrade

__all__ = ["Runtime", "ScanPool", "build_app", "open_runtime"]


@dataclass(frozen=True)
class Runtime:
    engine: Engine
    service: InventoryService
    queue: SqlJobQueue
    tasks: TaskService
    db_url: str


def open_runtime(db_url: str, key_file: Path, *, migrate: bool = True) -> Runtime:
    engine = make_engine(db_url)
    if migrate:
        upgrade(engine)
    sessions = make_sessionmaker(engine)
    service = InventoryService(sessions, KeyCipher.from_file(key_file))
    queue = SqlJobQueue(sessions, utcnow)
    return Runtime(engine, service, queue, TaskService(sessions, queue, utcnow), db_url)


@dataclass
class ScanPool:
    """Embedded scan workers (threads) claiming jobs from the database queue."""

    runtime: Runtime
    size: int
    cache_dir: Path | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        if self.size <= 0:
            return
        from imagewarden.jobs.scanning import ScannerConfig, make_scan_fn
        from imagewarden.scan.cache import DirLayerCache
        from imagewarden.vulndb import detector_for

        rt = self.runtime
        scan = make_scan_fn(
            ScannerConfig(
                detectors=(detector_for(rt.db_url),),
                cache=DirLayerCache(self.cache_dir) if self.cache_dir else None,
            ),
            utcnow,
        )
        hooks = InventoryHooks(
            rt.service.mark_scanning, rt.service.restore_status, rt.service.record_scan
        )
        for n in range(self.size):
            worker = Worker(rt.queue, scan, hooks, name=f"{threading.get_native_id()}-{n}")
            t = threading.Thread(
                target=worker.run_forever, args=(self._stop,), name=f"scan-{n}", daemon=True
            )
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)


def build_app(
    runtime: Runtime,
    *,
    rate_limits: bool = True,
    scan_workers: int = 0,
    cache_dir: Path | None = None,
) -> ApiApp:
    pool = ScanPool(runtime, scan_workers, cache_dir)
    hooks: tuple[Callable[[], None], Callable[[], None]] = (pool.start, pool.stop)
    return ApiApp(
        ActionRegistry(all_actions(runtime.service, runtime.tasks)),
        runtime.service,
        ApiSettings(rate_limits=rate_limits),
        extra_routes=console_routes(),
        lifespan=hooks,
    )
