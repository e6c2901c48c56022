"""``imagewarden worker`` (scale-out scan workers on RabbitMQ) and ``imagewarden jobs``.

Wiring only: the queue semantics live in ``imagewarden.jobs.broker`` and
``imagewarden.store.job_claims``.  Nothing heavy is imported before a command runs.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from imagewarden.jobs.queue import DEFAULT_QUEUE_NAME

__all__ = [
    "DEFAULT_QUEUE_NAME",
    "ENV_QUEUE",
    "ENV_QUEUE_NAME",
    "QueueNameOpt",
    "QueueUrlOpt",
    "export_queue",
    "register",
]

ENV_QUEUE = "IMAGEWARDEN_QUEUE"
ENV_QUEUE_NAME = "IMAGEWARDEN_QUEUE_NAME"

QueueUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--queue",
        envvar=ENV_QUEUE,
        help="RabbitMQ URL (amqp://user:pass@host:5672/): scan jobs go to `imagewarden worker` "
        "processes instead of embedded workers",
    ),
]
QueueNameOpt = Annotated[
    str,
    typer.Option("--queue-name", envvar=ENV_QUEUE_NAME, help="the RabbitMQ queue of scan jobs"),
]
DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="postgresql://... (or sqlite:///PATH); env IMAGEWARDEN_DB"),
]

console = Console()
jobs_app = typer.Typer(help="scan jobs: attempts, errors, dead letters", no_args_is_help=True)


def export_queue(queue: str | None, queue_name: str) -> None:
    """Hand ``serve --queue`` to the server processes (settings travel through the environment)."""
    if queue:
        os.environ[ENV_QUEUE] = queue
        os.environ[ENV_QUEUE_NAME] = queue_name
    else:
        os.environ.pop(ENV_QUEUE, None)
        os.environ.pop(ENV_QUEUE_NAME, None)


@dataclass(frozen=True)
class WorkerConfig:
    db_url: str
    queue_url: str
    queue_name: str
    threads: int
    lease_seconds: float
    min_backoff_ms: int
    max_backoff_ms: int
    cache_dir: Path | None
    rules_dir: Path | None
    clamd: str | None
    vulndb: str | None
    log_level: str


def consume(cfg: WorkerConfig) -> None:
    """One worker process: consume the queue until SIGTERM/SIGINT (top level, so that it can
    be the target of a spawned process)."""
    logging.basicConfig(
        level=cfg.log_level.upper(),
        format=f"%(asctime)s %(levelname)s [{os.getpid()}] %(name)s %(message)s",
    )
    logging.getLogger("pika").setLevel(logging.WARNING)  # connection chatter at INFO
    from datetime import timedelta

    from cryptography.fernet import Fernet

    from imagewarden.inventory.keys import KeyCipher
    from imagewarden.inventory.service import InventoryService, utcnow
    from imagewarden.jobs import broker
    from imagewarden.jobs.scanning import make_scan_fn
    from imagewarden.jobs.tasks import TaskService
    from imagewarden.server import Runtime, scanner_config
    from imagewarden.store.engine import make_engine, make_sessionmaker
    from imagewarden.store.job_claims import JobClaims
    from imagewarden.store.jobs import SqlJobQueue

    engine = make_engine(cfg.db_url)
    sessions = make_sessionmaker(engine)
    # a worker never reads API keys: an in-memory cipher, no server key file on workers
    service = InventoryService(sessions, KeyCipher(Fernet(Fernet.generate_key())))
    queue = SqlJobQueue(sessions, utcnow)
    rt = Runtime(engine, service, queue, TaskService(sessions, queue, utcnow), cfg.db_url)
    config = scanner_config(
        rt,
        cache_dir=cfg.cache_dir,
        rules_dir=cfg.rules_dir,
        clamd=cfg.clamd,
        vulndb_url=cfg.vulndb,
    )
    runner = broker.BrokerScanRunner(
        JobClaims(sessions, utcnow),
        make_scan_fn(config, utcnow),
        broker.ResultHooks(service.mark_scanning, service.restore_status, service.record_scan),
        utcnow,
        lease=timedelta(seconds=cfg.lease_seconds),
        min_backoff_ms=cfg.min_backoff_ms,
        max_backoff_ms=cfg.max_backoff_ms,
    )
    brk = broker.make_broker(cfg.queue_url)
    broker.declare_actor(brk, cfg.queue_name, runner.handle)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    logging.getLogger("imagewarden.jobs.broker").info(
        "worker consuming %s with %d thread(s)", cfg.queue_name, cfg.threads
    )
    try:
        broker.run_consumer(brk, cfg.threads, stop)
    finally:
        engine.dispose()


def worker(
    queue: Annotated[
        str,
        typer.Option(
            "--queue", envvar=ENV_QUEUE, help="RabbitMQ URL, e.g. amqp://guest:guest@host:5672/"
        ),
    ],
    db: DbOpt = None,
    queue_name: QueueNameOpt = DEFAULT_QUEUE_NAME,
    processes: Annotated[int, typer.Option("--processes", help="worker processes")] = 1,
    threads: Annotated[int, typer.Option("--threads", help="scan threads per process")] = 1,
    lease: Annotated[
        float,
        typer.Option(
            "--lease",
            help="seconds a job stays this worker's without a heartbeat; a killed worker's "
            "job is taken over by another when it runs out",
        ),
    ] = 60.0,
    min_backoff: Annotated[
        float, typer.Option("--min-backoff", help="seconds before the first retry (doubling)")
    ] = 5.0,
    max_backoff: Annotated[
        float, typer.Option("--max-backoff", help="longest wait between retries, seconds")
    ] = 300.0,
    cache_dir: Annotated[
        Path | None, typer.Option("--cache-dir", help="per-layer analysis cache")
    ] = None,
    rules_dir: Annotated[
        Path | None, typer.Option("--rules-dir", help="operator YARA rules")
    ] = None,
    clamd: Annotated[
        str | None, typer.Option("--clamd", help="ClamAV daemon: unix:///PATH or tcp://HOST:PORT")
    ] = None,
    vulndb: Annotated[
        str | None, typer.Option("--vulndb", help="database holding the advisories (default: --db)")
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning")] = "info",
) -> None:
    """Run scan jobs from a RabbitMQ queue (published by `imagewarden serve --queue`), on any
    machine that reaches the database and the queue.  Stops cleanly on SIGTERM."""
    from imagewarden.cli.settings import resolve_db

    if processes < 1 or threads < 1 or lease <= 0:
        raise typer.BadParameter("--processes, --threads and --lease must be positive")
    cfg = WorkerConfig(
        db_url=resolve_db(db),
        queue_url=queue,
        queue_name=queue_name,
        threads=threads,
        lease_seconds=lease,
        min_backoff_ms=int(min_backoff * 1000),
        max_backoff_ms=int(max_backoff * 1000),
        cache_dir=cache_dir,
        rules_dir=rules_dir,
        clamd=clamd,
        vulndb=vulndb,
        log_level=log_level,
    )
    if processes == 1:
        consume(cfg)
        return
    ctx = multiprocessing.get_context("spawn")
    children = [
        ctx.Process(target=consume, args=(cfg,), name=f"worker-{n}") for n in range(processes)
    ]
    for child in children:
        child.start()

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.pid is not None and child.is_alive():
                os.kill(child.pid, signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    for child in children:
        child.join()
    if any(child.exitcode for child in children):
        raise typer.Exit(1)


@jobs_app.command("list")
def jobs_list(
    db: DbOpt = None,
    state: Annotated[
        list[str] | None,
        typer.Option("--state", help="queued, running, done, failed, cancelled, dead (repeat)"),
    ] = None,
    task: Annotated[str | None, typer.Option("--task", help="only this scan task")] = None,
    limit: Annotated[int, typer.Option("--limit", help="newest N jobs")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
) -> None:
    """Scan jobs, newest first, with their attempts and last error (retries and dead letters)."""
    from imagewarden.cli.settings import resolve_db
    from imagewarden.inventory.service import utcnow
    from imagewarden.jobs.models import JobState
    from imagewarden.store.engine import make_engine, make_sessionmaker
    from imagewarden.store.job_claims import JobClaims

    try:
        states = [JobState(s) for s in state or []]
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--state") from None
    engine = make_engine(resolve_db(db))
    try:
        rows = JobClaims(make_sessionmaker(engine), utcnow).list(
            states=states, task_id=task, limit=limit
        )
    finally:
        engine.dispose()
    if as_json or not console.is_terminal:
        for r in rows:
            typer.echo(
                json.dumps(
                    {
                        "JobId": r.job_id,
                        "AccountId": r.account_id,
                        "TaskId": r.task_id,
                        "ImageId": r.image_id,
                        "State": r.state,
                        "Attempt": r.attempt,
                        "MaxAttempts": r.max_attempts,
                        "Worker": r.worker,
                        "Error": r.error,
                        "CreatedAt": r.created_at.isoformat() + "Z",
                        "FinishedAt": r.finished_at.isoformat() + "Z" if r.finished_at else None,
                    }
                )
            )
        return
    table = Table("Job", "Image", "State", "Attempts", "Worker", "Error")
    for r in rows:
        table.add_row(
            str(r.job_id),
            r.image_id[:19],
            r.state,
            f"{r.attempt}/{r.max_attempts}",
            r.worker,
            r.error,
        )
    console.print(table)


@jobs_app.command("republish")
def jobs_republish(
    queue: Annotated[str, typer.Option("--queue", envvar=ENV_QUEUE, help="RabbitMQ URL")],
    db: DbOpt = None,
    queue_name: QueueNameOpt = DEFAULT_QUEUE_NAME,
    task: Annotated[str | None, typer.Option("--task", help="only this scan task")] = None,
) -> None:
    """Send the IDs of queued jobs to the queue again (after the queue lost its messages).
    Duplicates are harmless: a worker drops a message whose job is taken or finished."""
    from imagewarden.cli.settings import resolve_db
    from imagewarden.inventory.service import utcnow
    from imagewarden.jobs.broker import QueuePublisher
    from imagewarden.store.engine import make_engine, make_sessionmaker
    from imagewarden.store.job_claims import JobClaims

    engine = make_engine(resolve_db(db))
    try:
        ids = JobClaims(make_sessionmaker(engine), utcnow).unfinished_ids(task_id=task)
    finally:
        engine.dispose()
    publisher = QueuePublisher(queue, queue_name)
    try:
        publisher.publish(ids)
    finally:
        publisher.close()
    console.print(f"published {len(ids)} queued job(s) to {queue_name}")


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
    app.add_typer(jobs_app, name="jobs")
