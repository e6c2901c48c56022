"""A real server process on 127.0.0.1, per store kind, driven by the official SDK and tccli."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from imagewarden.inventory.keys import KeyCipher
from imagewarden.inventory.service import InventoryService
from imagewarden.store.engine import make_engine, make_sessionmaker
from imagewarden.store.migrate import upgrade


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    endpoint: str  # "127.0.0.1:PORT"
    db_url: str
    key_file: Path
    service: InventoryService
    log: Path

    def new_account(self) -> tuple[str, str, int]:
        """A fresh account and key: tests never share data or rate-limit budgets."""
        return self.service.create_key(f"e2e-{uuid.uuid4().hex[:12]}")


def _start(db_url: str, tmp: Path, extra: Sequence[str] = ()) -> Iterator[Server]:
    key_file = tmp / "server.key"
    engine = make_engine(db_url)
    upgrade(engine)
    service = InventoryService(
        make_sessionmaker(engine), KeyCipher.from_file(key_file), key_cache_ttl=0
    )
    port = free_port()
    log = tmp / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEWARDEN_")}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "imagewarden",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--db",
                db_url,
                "--key-file",
                str(key_file),
                "--log-level",
                "warning",
                *extra,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{log.read_text()}")
            time.sleep(0.1)
        yield Server(f"127.0.0.1:{port}", db_url, key_file, service, log)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        engine.dispose()


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp(f"server-{request.param}")
    if request.param == "sqlite":
        yield from _start(f"sqlite:///{tmp / 'iw.db'}", tmp)
    else:
        url = request.getfixturevalue("pg_e2e_database")
        yield from _start(url, tmp)


@pytest.fixture(scope="session")
def pg_e2e_database() -> Iterator[str]:
    from tests.conftest import fresh_pg_database

    yield from fresh_pg_database("e2e")
