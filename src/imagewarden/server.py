"""The composition root: store + inventory + jobs + API, built from explicit settings."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from imagewarden.inventory.agent_scans import VulnMatcher
    from imagewarden.jobs.scanning import ScannerConfig

__all__ = ["Runtime", "ScanPool", "build_app", "open_runtime", "scanner_config"]


@dataclass(frozen=True)
class Runtime:
    engine: Engine
    service: InventoryService
    queue: SqlJobQueue
    tasks: TaskService
    db_url: str
    key_file: Path | None = None


def open_runtime(
    db_url: str,
    key_file: Path,
    *,
    migrate: bool = True,
    queue_url: str | None = None,
    queue_name: str | None = None,
    pull_registries: Sequence[str] = (),
) -> Runtime:
    """``queue_url`` (amqp://...): jobs are published to RabbitMQ for ``imagewarden worker``
    processes (``jobs.broker``) instead of waiting in the database for embedded workers."""
    engine = make_engine(db_url)
    if migrate:
        upgrade(engine)
    sessions = make_sessionmaker(engine)
    service = InventoryService(sessions, KeyCipher.from_file(key_file))
    queue = SqlJobQueue(sessions, utcnow)
    if queue_url:
        from imagewarden.jobs import broker

        publisher = broker.QueuePublisher(queue_url, queue_name or broker.DEFAULT_QUEUE_NAME)
        queue = broker.PublishingJobQueue(sessions, utcnow, publisher)
    tasks = TaskService(sessions, queue, utcnow, pull_registries=pull_registries)
    return Runtime(engine, service, queue, tasks, db_url, key_file)


def scanner_config(
    rt: Runtime,
    *,
    cache_dir: Path | None = None,
    rules_dir: Path | None = None,
    clamd: str | None = None,
    vulndb_url: str | None = None,
) -> ScannerConfig:
    """Every detector a server-side scan runs: vulnerabilities against the advisories in
    ``vulndb_url`` (default: the inventory database), secrets and risky build steps, and the
    malware engine (shipped YARA rules + ``rules_dir`` + the hash blocklist + clamd), the
    latter rebuilt for every scan so that new rules and hashes apply without a restart."""
    from imagewarden.jobs.scanning import ScannerConfig
    from imagewarden.scan.cache import DirLayerCache
    from imagewarden.scan.detect.registry import build
    from imagewarden.scan.malware import malware_factory
    from imagewarden.store.hashes import SqlHashStore
    from imagewarden.vulndb import detector_for

    fixed = build(("vuln", "risk"), vuln_detector=detector_for(vulndb_url or rt.db_url))
    malware = malware_factory(
        rules_dirs=[rules_dir] if rules_dir is not None and rules_dir.is_dir() else [],
        hashes=SqlHashStore(rt.engine).entries,
        clamd=clamd,
    )
    return ScannerConfig(
        detectors=fixed.detectors,
        content_scanners=fixed.content_scanners,
        cache=DirLayerCache(cache_dir) if cache_dir else None,
        per_scan=malware,
    )


@dataclass
class ScanPool:
    """Embedded scan workers (threads) claiming jobs from the database queue."""

    runtime: Runtime
    size: int
    cache_dir: Path | None = None
    rules_dir: Path | None = None
    clamd: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        if self.size <= 0:
            return
        from imagewarden.jobs.scanning import make_scan_fn

        rt = self.runtime
        config = scanner_config(
            rt, cache_dir=self.cache_dir, rules_dir=self.rules_dir, clamd=self.clamd
        )
        scan = make_scan_fn(config, utcnow)
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
    rules_dir: Path | None = None,
    clamd: str | None = None,
) -> ApiApp:
    from imagewarden.features import SchedulerThread, open_features

    pool = ScanPool(runtime, scan_workers, cache_dir, rules_dir, clamd)
    features = (
        open_features(runtime.engine, runtime.tasks, runtime.key_file, utcnow)
        if runtime.key_file is not None
        else None
    )
    ticker = SchedulerThread(features.scheduler) if features is not None else None

    def start() -> None:
        pool.start()
        if ticker is not None:
            ticker.start()

    def stop() -> None:
        if ticker is not None:
            ticker.stop()
        pool.stop()

    hooks: tuple[Callable[[], None], Callable[[], None]] = (start, stop)
    return ApiApp(
        ActionRegistry(
            all_actions(runtime.service, runtime.tasks, features, _agent_matcher(runtime))
        ),
        runtime.service,
        ApiSettings(rate_limits=rate_limits),
        extra_routes={**console_routes(), **(features.routes() if features else {})},
        lifespan=hooks,
    )


def _agent_matcher(runtime: Runtime) -> VulnMatcher:
    """Agent-reported components are matched against the server's advisories (built on first
    use: the advisory index is opened only when an agent reports)."""
    from imagewarden.jobs.component_match import lazy_matcher
    from imagewarden.vulndb import detector_for

    return lazy_matcher(lambda: detector_for(runtime.db_url))
