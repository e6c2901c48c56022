"""RabbitMQ for the scale-out worker tests: the server on 127.0.0.1:5672 (CI runs one).

A test that needs it is skipped with the reason when it is not reachable, and fails
instead when ``IMAGEWARDEN_REQUIRE_RABBITMQ=1`` (CI).  Every test gets its own queue name,
so tests never see each other's messages, and its queues are purged and deleted after it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

AMQP_ENV = "IMAGEWARDEN_TEST_AMQP"
REQUIRE_ENV = "IMAGEWARDEN_REQUIRE_RABBITMQ"
DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672/"


def rabbit_url() -> str:
    """The broker URL, or skip (fail under IMAGEWARDEN_REQUIRE_RABBITMQ=1) when it is down."""
    url = os.environ.get(AMQP_ENV) or DEFAULT_AMQP
    parsed = make_url(url.replace("amqp://", "postgresql://", 1))  # only host and port
    host, port = parsed.host or "127.0.0.1", parsed.port or 5672
    try:
        with socket.create_connection((host, port), timeout=2):
            pass
    except OSError as exc:
        reason = (
            f"RabbitMQ is not reachable at {host}:{port} ({exc}); set {AMQP_ENV} to point at one"
        )
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
        pytest.skip(reason)
    return url


@pytest.fixture
def amqp_url() -> str:
    return rabbit_url()


@pytest.fixture
def queue_name(amqp_url: str) -> Iterator[str]:
    """A queue of this test only; purged and deleted (with its delay and dead-letter queues)."""
    name = f"iw-test-{uuid.uuid4().hex[:12]}"
    yield name
    from dramatiq.common import dq_name, xq_name

    from imagewarden.jobs.broker import QueuePublisher

    pub = QueuePublisher(amqp_url, name)
    try:
        pub.purge()
        channel = pub.broker.channel
        for q in (name, dq_name(name), xq_name(name)):
            channel.queue_delete(q)
    finally:
        pub.close()


def start_worker(
    db_url: str, amqp: str, queue: str, log: Path, *extra: str
) -> subprocess.Popen[bytes]:
    """A real `imagewarden worker` process (stdout and stderr to ``log``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEWARDEN_")}
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "imagewarden",
                "worker",
                "--db",
                db_url,
                "--queue",
                amqp,
                "--queue-name",
                queue,
                "--log-level",
                "info",
                *extra,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def wait_for(what: str, check, timeout: float = 180.0, every: float = 0.1):  # type: ignore[no-untyped-def]
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` (a deadline
    against hanging, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(every)
