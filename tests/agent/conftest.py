"""Real engines (a private dockerd, containerd and podman service under a temp folder), a real
imagewarden server process, and a way to run ``imagewarden agent`` as a process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.agent.images import BuiltImage, docker_archive, sleep_files
from tests.e2e.conftest import Server, _start
from tests.e2e.sdk import Pacer, list_images, tcss

# -- tools ---------------------------------------------------------------------------------


def need(tool: str) -> str:
    """The tool's path; a missing tool fails under CI (which installs it) and skips elsewhere."""
    path = shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if path is None:
        msg = f"{tool} is not installed (Debian packages docker.io, containerd, podman)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def wait_for(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.1)


def stop_pid(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


# -- the server ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def agent_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("agent-server")
    yield from _start(f"sqlite:///{tmp / 'iw.db'}", tmp)


@dataclass
class Account:
    server: Server
    secret_id: str
    secret_key: str
    pacer: Pacer

    def images(self, **params: Any) -> dict[str, dict[str, Any]]:
        """DescribeAssetImageList through the official SDK: ImageID → row."""
        client = tcss(self.server.endpoint, self.secret_id, self.secret_key)
        out: dict[str, dict[str, Any]] = {}
        offset = 0
        while True:
            resp = list_images(client, self.pacer, Limit=100, Offset=offset, **params)
            rows = json.loads(resp.to_json_string())["List"] or []
            out.update({r["ImageID"]: r for r in rows})
            offset += len(rows)
            if offset >= resp.TotalCount or not rows:
                return out


@pytest.fixture
def account(agent_server: Server) -> Account:
    sid, skey, _ = agent_server.new_account()
    return Account(agent_server, sid, skey, Pacer())


# -- running the agent ---------------------------------------------------------------------


def _wired() -> bool:
    """Whether ``imagewarden agent`` is registered in the real CLI yet (the lead wires it)."""
    from imagewarden.cli.main import app

    return any(c.name == "agent" for c in app.registered_commands)


def agent_argv() -> list[str]:
    if _wired():
        return [sys.executable, "-m", "imagewarden", "agent"]
    return [sys.executable, "-m", "tests.agent.agent_main", "agent"]


def agent_env(acct: Account, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("IMAGEWARDEN_", "DOCKER_", "CONTAINER_HOST", "CONTAINERD_"))
    }
    env.update(IMAGEWARDEN_SECRET_ID=acct.secret_id, IMAGEWARDEN_SECRET_KEY=acct.secret_key)
    env.update(extra)
    return env


def run_agent(
    acct: Account, state: Path, *args: str, server: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """``imagewarden agent --once`` as a process; returns the finished process."""
    cmd = [
        *agent_argv(),
        "--server",
        server or f"http://{acct.server.endpoint}",
        "--state-dir",
        str(state),
        "--once",
        "--retry-base",
        "0.1",
        "--retry-max",
        "0.5",
        *args,
    ]
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=120,
        env=agent_env(acct, **env),
        cwd=Path(__file__).parents[2],
    )


# -- images --------------------------------------------------------------------------------


@dataclass(frozen=True)
class EngineImages:
    runner: BuiltImage  # /bin/sleep: containers of it can run
    alpha: BuiltImage
    beta: BuiltImage


@pytest.fixture(scope="session")
def test_images(tmp_path_factory: pytest.TempPathFactory) -> EngineImages:
    tmp = tmp_path_factory.mktemp("images")
    return EngineImages(
        docker_archive(tmp / "runner.tar", ["iw.test/runner:1"], sleep_files()),
        docker_archive(
            tmp / "alpha.tar",
            ["iw.test/alpha:1", "iw.test/alpha:latest"],
            {"a.txt": (b"alpha\n", 0o644)},
        ),
        docker_archive(tmp / "beta.tar", ["iw.test/beta:2"], {"b.txt": (b"beta\n", 0o644)}),
    )


# -- engines -------------------------------------------------------------------------------


@dataclass
class Engine:
    root: Path
    address: str  # unix://... or a socket path (containerd)
    proc: subprocess.Popen[bytes]
    log: Path
    cli: Callable[..., subprocess.CompletedProcess[str]]


def _cli(
    argv: list[str], env: dict[str, str] | None = None
) -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            [*argv, *args], capture_output=True, text=True, timeout=120, env=env, check=False
        )
        if check and res.returncode != 0:
            raise AssertionError(f"{' '.join([*argv, *args])}: {res.stderr}{res.stdout}")
        return res

    return run


def _short_tmp(label: str) -> Path:
    # unix socket paths are limited to 108 bytes: keep engine roots short
    import tempfile

    return Path(tempfile.mkdtemp(prefix=f"iw-{label}-", dir="/tmp"))


@pytest.fixture(scope="session")
def dockerd() -> Iterator[Engine]:
    exe = need("dockerd")
    docker = need("docker")
    root = _short_tmp("dockerd")
    sock = root / "docker.sock"
    log = root / "dockerd.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                exe,
                "--data-root", str(root / "data"),
                "--exec-root", str(root / "exec"),
                "--pidfile", str(root / "dockerd.pid"),
                "--host", f"unix://{sock}",
                "--bridge", "none",
                "--iptables=false",
                "--ip6tables=false",
                "--storage-driver", "vfs",
                "--shutdown-timeout", "2",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}"}
    env.pop("DOCKER_CONTEXT", None)
    cli = _cli([docker], env)
    try:
        wait_for(
            lambda: proc.poll() is not None or cli("info", check=False).returncode == 0, "dockerd"
        )
        if proc.poll() is not None:
            raise RuntimeError(f"dockerd exited:\n{log.read_text()}")
        yield Engine(root, f"unix://{sock}", proc, log, cli)
    finally:
        stop_pid(proc)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def containerd() -> Iterator[Engine]:
    exe = need("containerd")
    ctr = need("ctr")
    root = _short_tmp("ctrd")
    sock = root / "c.sock"
    (root / "config.toml").write_text(
        "version = 2\n"
        f'root = "{root}/root"\nstate = "{root}/state"\n'
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        f'[grpc]\n  address = "{sock}"\n[ttrpc]\n  address = "{sock}.ttrpc"\n'
    )
    log = root / "containerd.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [exe, "--config", str(root / "config.toml")], stdout=out, stderr=subprocess.STDOUT
        )
    cli = _cli([ctr, "--address", str(sock)])
    try:
        wait_for(
            lambda: proc.poll() is not None or cli("version", check=False).returncode == 0,
            "containerd",
        )
        if proc.poll() is not None:
            raise RuntimeError(f"containerd exited:\n{log.read_text()}")
        yield Engine(root, str(sock), proc, log, cli)
    finally:
        # tasks outlive containerd (their shims are separate processes): kill them first
        for ns in ("default", "k8s.io"):
            for line in cli("-n", ns, "tasks", "ls", "-q", check=False).stdout.split():
                cli("-n", ns, "tasks", "kill", "-s", "SIGKILL", line, check=False)
                wait_for(
                    lambda ns=ns, t=line: (
                        "STOPPED" in cli("-n", ns, "tasks", "ls", check=False).stdout
                        or t not in cli("-n", ns, "tasks", "ls", check=False).stdout
                    ),
                    "task stop",
                    timeout=20,
                )
                cli("-n", ns, "tasks", "delete", line, check=False)
        stop_pid(proc)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def podman() -> Iterator[Engine]:
    exe = need("podman")
    root = _short_tmp("podman")
    sock = root / "podman.sock"
    (root / "storage.conf").write_text(
        f'[storage]\ndriver = "vfs"\nrunroot = "{root}/run"\ngraphroot = "{root}/root"\n'
    )
    env = {**os.environ, "CONTAINERS_STORAGE_CONF": str(root / "storage.conf")}
    base = [
        exe,
        "--root", str(root / "root"),
        "--runroot", str(root / "run"),
        "--storage-driver", "vfs",
        "--tmpdir", str(root / "tmp"),
        "--cgroup-manager", "cgroupfs",
        "--events-backend", "file",
    ]  # fmt: skip
    log = root / "podman.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*base, "system", "service", "--time=0", f"unix://{sock}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        wait_for(lambda: proc.poll() is not None or _answers(sock), "podman service")
        if proc.poll() is not None:
            raise RuntimeError(f"podman service exited:\n{log.read_text()}")
        yield Engine(root, f"unix://{sock}", proc, log, _cli(base, env))
    finally:
        stop_pid(proc)
        shutil.rmtree(root, ignore_errors=True)


def _answers(sock: Path) -> bool:
    if not sock.exists():
        return False
    import httpx

    try:
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), timeout=2) as c:
            return c.get("http://d/_ping").status_code == 200
    except httpx.HTTPError:
        return False


# -- a forwarder: "the server comes back" on a port chosen before it starts ------------------


class Forwarder:
    """Accepts on 127.0.0.1:port and pipes each connection to ``target`` (host, port)."""

    def __init__(self, port: int, target: tuple[str, int]) -> None:
        self.target = target
        self.sock = socket.create_server(("127.0.0.1", port))
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                client, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        import selectors

        with client, socket.create_connection(self.target, timeout=10) as upstream:
            peer = {client: upstream, upstream: client}
            with selectors.DefaultSelector() as sel:
                for s in peer:
                    sel.register(s, selectors.EVENT_READ)
                open_ends = 2
                while open_ends and not self.stopped.is_set():
                    for key, _ in sel.select(0.2):
                        src = key.fileobj
                        assert isinstance(src, socket.socket)
                        try:
                            data = src.recv(65536)
                        except OSError:
                            data = b""
                        if data:
                            peer[src].sendall(data)
                            continue
                        sel.unregister(src)
                        open_ends -= 1
                        try:
                            peer[src].shutdown(socket.SHUT_WR)
                        except OSError:
                            pass

    def close(self) -> None:
        self.stopped.set()
        self.sock.close()
        self.thread.join(5)
