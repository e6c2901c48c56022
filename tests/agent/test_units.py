"""Values, addresses, state directory and backoff: the agent's small pure parts."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from imagewarden.agent import AgentStateError, Backoff, StateDir
from imagewarden.agent.endpoint import parse_endpoint
from imagewarden.agent.model import (
    ContainerInfo,
    HostIdentity,
    ImageInfo,
    Inventory,
    normalise_id,
    report_payload,
    rfc3339,
)
from imagewarden.agent.sources import EngineSettings, detect_sources, make_collector

HEX = "ab" * 32


def test_rfc3339_accepts_engine_spellings() -> None:
    assert rfc3339("2024-02-14T09:12:00.123456789Z") == "2024-02-14T09:12:00Z"
    assert rfc3339("2024-02-14T10:12:00+01:00") == "2024-02-14T09:12:00Z"
    assert rfc3339(1707901920) == "2024-02-14T09:12:00Z"
    assert rfc3339("0001-01-01T00:00:00Z") is None  # Docker's "unknown"
    assert rfc3339("yesterday") is None and rfc3339(None) is None and rfc3339(0) is None


def test_normalise_id() -> None:
    assert normalise_id(HEX) == f"sha256:{HEX}"
    assert normalise_id(f"SHA256:{HEX.upper()}") == f"sha256:{HEX}"
    assert normalise_id("sha256:abc") is None


def test_inventory_merges_duplicates_and_payload_has_wire_names() -> None:
    iid = f"sha256:{HEX}"
    inv = Inventory.of(
        [
            ImageInfo(iid, ("b:1",), (), 10, None, None, "amd64"),
            ImageInfo(iid, ("a:1",), ("a@sha256:" + HEX,), 0, "2024-01-01T00:00:00Z"),
        ],
        [ContainerInfo("c1", iid, "web", "running"), ContainerInfo("c1", iid, "dup", "exited")],
    )
    assert inv.images == (
        ImageInfo(
            iid, ("a:1", "b:1"), ("a@sha256:" + HEX,), 10, "2024-01-01T00:00:00Z", None, "amd64"
        ),
    )
    assert [c.name for c in inv.containers] == ["web"]
    payload = report_payload(HostIdentity("h-1", "node", ("10.0.0.5",), True), inv)
    assert payload["Host"] == {
        "HostID": "h-1",
        "HostName": "node",
        "IPs": ["10.0.0.5"],
        "IsSuperNode": True,
    }
    assert payload["Images"][0] == {
        "ImageID": iid,
        "RepoTags": ["a:1", "b:1"],
        "RepoDigests": ["a@sha256:" + HEX],
        "Size": 10,
        "CreateTime": "2024-01-01T00:00:00Z",
        "Architecture": "amd64",
    }
    assert payload["Containers"] == [
        {"ContainerID": "c1", "Name": "web", "ImageID": iid, "State": "running"}
    ]


def test_engine_addresses_like_the_docker_cli() -> None:
    assert parse_endpoint(None).socket_path == "/var/run/docker.sock"
    assert parse_endpoint("unix:///run/x.sock").socket_path == "/run/x.sock"
    assert parse_endpoint("/run/y.sock").socket_path == "/run/y.sock"
    assert parse_endpoint("tcp://127.0.0.1").base_url == "http://127.0.0.1:2375"
    tls = parse_endpoint("tcp://127.0.0.1:9999", tls_verify=True)
    assert tls.base_url == "https://127.0.0.1:9999" and tls.tls
    assert parse_endpoint("tcp://127.0.0.1", tls_verify=True).base_url.endswith(":2376")
    for bad in ("ssh://user@host", "npipe:////./pipe/docker_engine", "unix://"):
        with pytest.raises(ValueError):
            parse_endpoint(bad)


def test_sources_and_detection(tmp_path: Path) -> None:
    sock = tmp_path / "docker.sock"
    s = EngineSettings(docker_host=None, containerd_address=str(tmp_path / "none.sock"),
                       podman_host=None, runtime_dir=str(tmp_path), rootless=True)  # fmt: skip
    assert detect_sources(s) == ["containerd"]  # explicitly named address counts
    sock.touch()
    s2 = EngineSettings(docker_host=f"unix://{sock}", runtime_dir=str(tmp_path), rootless=True)
    assert "docker" in detect_sources(s2)
    assert make_collector("dir:/x", s).name == "dir"
    assert make_collector("podman", s).name == "podman"
    with pytest.raises(ValueError, match="unknown source"):
        make_collector("lxc", s)


def test_host_id_is_generated_once_and_kept(tmp_path: Path) -> None:
    a = StateDir(tmp_path / "state").host_id()
    assert a == StateDir(tmp_path / "state").host_id()
    assert a != StateDir(tmp_path / "other").host_id()
    (tmp_path / "state" / "host-id").write_text("not a valid id!\n")
    with pytest.raises(AgentStateError, match="valid HostID"):
        StateDir(tmp_path / "state").host_id()


def test_one_agent_per_state_dir(tmp_path: Path) -> None:
    first = StateDir(tmp_path)
    first.lock()
    code = (
        "import sys; from imagewarden.agent import StateDir, AgentStateError\n"
        f"try:\n StateDir({str(tmp_path)!r}).lock()\nexcept AgentStateError: sys.exit(3)\n"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 3
    first.unlock()
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_spool_round_trip_and_corruption(tmp_path: Path) -> None:
    st = StateDir(tmp_path)
    assert st.read_spool() is None
    st.write_spool({"Host": {"HostID": "h"}}, "2024-01-01T00:00:00Z")
    assert st.read_spool() == ({"Host": {"HostID": "h"}}, "2024-01-01T00:00:00Z")
    assert oct(st.spool_path.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in tmp_path.iterdir()] == ["spool.json"]  # no temporary left over
    st.spool_path.write_text("{half a snap")
    assert st.read_spool() is None and not st.spool_path.exists()
    st.spool_path.write_text(json.dumps({"Version": 99, "Payload": {}}))
    assert st.read_spool() is None


def test_backoff_grows_is_capped_and_jittered() -> None:
    b = Backoff(base=1.0, cap=8.0)
    rng = random.Random(1)
    for attempt, full in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 8), (40, 8)]:
        delays = [b.delay(attempt, rng) for _ in range(200)]
        assert all(full * 0.5 <= d <= full for d in delays)
        assert max(delays) - min(delays) > full * 0.3  # really jittered


def test_agent_package_never_imports_the_store() -> None:
    code = (
        "import sys, imagewarden.agent, imagewarden.cli.agent_cmd\n"
        "import imagewarden.agent.containerd, imagewarden.agent.directory\n"
        "bad = [m for m in sys.modules if m.startswith(('imagewarden.store', 'sqlalchemy'))]\n"
        "assert not bad, bad\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                         env={**os.environ, "PYTHONPATH": "src"})  # fmt: skip
    assert res.returncode == 0, res.stderr
