"""The server is down: the snapshot waits on disk and arrives, once, when the server is back."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from tests.agent.conftest import (
    Account,
    Forwarder,
    agent_argv,
    agent_env,
    run_agent,
    stop_pid,
    wait_for,
)
from tests.agent.images import docker_archive, multi_docker_archive
from tests.e2e.conftest import free_port

pytestmark = pytest.mark.slow


def _mirror(root: Path) -> list[str]:
    root.mkdir()
    return multi_docker_archive(root / "imgs.tar", [(["sp/a:1"], b"a"), (["sp/b:1"], b"b")])


def test_loop_spools_while_down_and_delivers_when_back(tmp_path: Path, account: Account) -> None:
    ids = _mirror(tmp_path / "m")
    port = free_port()  # nothing listens here yet: the server is "down"
    state = tmp_path / "state"
    log = tmp_path / "agent.log"
    cmd = [*agent_argv(), "--server", f"http://127.0.0.1:{port}", "--state-dir", str(state),
           "--source", f"dir:{tmp_path / 'm'}", "--interval", "3600",
           "--retry-base", "0.2", "--retry-max", "1"]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=agent_env(account),
            cwd=Path(__file__).parents[2],
        )  # fmt: skip
    forwarder = None
    try:
        spool = state / "spool.json"
        wait_for(spool.exists, "the snapshot to be spooled", 30)
        wait_for(lambda: log.read_text().count("will retry") >= 2, "two failed attempts", 30)
        assert proc.poll() is None  # still running, retrying
        doc = json.loads(spool.read_text())
        assert sorted(i["ImageID"] for i in doc["Payload"]["Images"]) == sorted(ids)
        assert account.images() == {}

        host, _, sport = account.server.endpoint.partition(":")
        forwarder = Forwarder(port, (host, int(sport)))  # the server is back on that address
        wait_for(lambda: not spool.exists(), "delivery", 30)
        rows = account.images()
        assert {k: v["HostCnt"] for k, v in rows.items()} == dict.fromkeys(ids, 1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        stop_pid(proc)
        if forwarder:
            forwarder.close()
    assert "reported snapshot" in log.read_text()


def test_once_fails_while_down_then_the_spool_is_delivered(
    tmp_path: Path, account: Account
) -> None:
    ids = _mirror(tmp_path / "m")
    state = tmp_path / "state"
    down = f"http://127.0.0.1:{free_port()}"
    res = run_agent(
        account, state, "--source", f"dir:{tmp_path / 'm'}", "--retries", "3", server=down
    )
    assert res.returncode == 1, res.stderr
    assert res.stderr.count("will retry") == 3 and "not delivered" in res.stderr
    assert (state / "spool.json").exists()

    # the engine is gone too now, but the spooled snapshot is still the newest known state:
    # it is delivered (and the exit code still says this run could not collect)
    res = run_agent(account, state, "--source", f"dir:{tmp_path / 'gone'}")
    assert res.returncode == 1 and "collect failed" in res.stderr
    assert not (state / "spool.json").exists()
    assert set(account.images()) == set(ids)

    # back to normal: a fresh snapshot replaces the host's content (one image removed)
    (tmp_path / "m" / "imgs.tar").unlink()
    kept = docker_archive(tmp_path / "m" / "one.tar", ["sp/c:1"], {"c": (b"c", 0o644)})
    res = run_agent(account, state, "--source", f"dir:{tmp_path / 'm'}")
    assert res.returncode == 0, res.stderr
    rows = account.images()
    assert rows[kept.image_id]["HostCnt"] == 1
    assert all(rows[i]["HostCnt"] == 0 for i in ids)
