"""A real ``imagewarden serve`` process the hardening tests can start, SIGKILL and restart.

The session-wide ``server`` fixture of tests/e2e is shared and must not be killed; these
tests need their own process (debug logging, no scan workers, a proxied database URL).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from imagewarden.api.signing import tc3_sign_request
from imagewarden.inventory.keys import KeyCipher
from imagewarden.inventory.service import InventoryService
from imagewarden.store.engine import make_engine, make_sessionmaker
from imagewarden.store.migrate import upgrade
from tests.e2e.conftest import free_port

VERSION = "2020-11-01"


@dataclass
class ServerProcess:
    """``imagewarden serve`` on 127.0.0.1 with its own log file; restartable on the same port."""

    db_url: str
    tmp: Path
    log_level: str = "warning"
    extra: tuple[str, ...] = ("--scan-workers", "0")
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def __post_init__(self) -> None:
        self.key_file = self.tmp / "server.key"
        self.engine = make_engine(self.db_url)
        upgrade(self.engine)
        self.service = InventoryService(
            make_sessionmaker(self.engine), KeyCipher.from_file(self.key_file), key_cache_ttl=0
        )

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.tmp / f"server-{self.starts}.log"

    def logs(self) -> str:
        return "".join(
            (self.tmp / f"server-{n}.log").read_text(errors="replace")
            for n in range(1, self.starts + 1)
        )

    def new_account(self) -> tuple[str, str, int]:
        return self.service.create_key(f"hard-{uuid.uuid4().hex[:12]}")

    def start(self, db_url: str | None = None) -> None:
        self.starts += 1
        env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEWARDEN_")}
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "imagewarden",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--db",
                    db_url or self.db_url,
                    "--key-file",
                    str(self.key_file),
                    "--log-level",
                    self.log_level,
                    *self.extra,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://{self.endpoint}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{self.log.read_text()}")
            time.sleep(0.1)

    def sigkill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(15)
        self.proc = None

    def close(self) -> None:
        self.stop()
        self.engine.dispose()

    def rss_kib(self) -> int:
        """Resident set size of the server process (uvicorn runs the app in-process)."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")


def signed(
    endpoint: str,
    sid: str,
    skey: str,
    action: str,
    params: dict[str, Any] | None = None,
    *,
    timestamp: int | None = None,
) -> tuple[dict[str, str], bytes]:
    """Headers and body of a TC3-signed POST (the SDK's wire format), for raw HTTP clients."""
    import json

    body = json.dumps(params or {}).encode()
    headers = tc3_sign_request(
        secret_id=sid,
        secret_key=skey,
        action=action,
        version=VERSION,
        host=endpoint,
        body=body,
        timestamp=timestamp,
        region="ap-guangzhou",
    )
    return headers, body


def post(
    client: httpx.Client,
    endpoint: str,
    sid: str,
    skey: str,
    action: str,
    params: dict[str, Any] | None = None,
    *,
    timestamp: int | None = None,
) -> dict[str, Any]:
    headers, body = signed(endpoint, sid, skey, action, params, timestamp=timestamp)
    resp = client.post(f"http://{endpoint}/", headers=headers, content=body)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    out: dict[str, Any] = resp.json()["Response"]
    return out
