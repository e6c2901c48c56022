"""Real engines: a private dockerd and containerd as two hosts, a podman API service as a
third; ``imagewarden agent --once`` as a process; the official SDK reads the result."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagewarden.agent.endpoint import parse_endpoint
from imagewarden.agent.engine_api import EngineApiCollector
from tests.agent.conftest import Account, Engine, EngineImages, run_agent

pytestmark = pytest.mark.slow


def counts(acct: Account) -> dict[str, tuple[str, int, int]]:
    return {k: (v["ImageName"], v["HostCnt"], v["ContainerCnt"]) for k, v in acct.images().items()}


def report(acct: Account, state: Path, source: str, *args: str, **env: str) -> None:
    res = run_agent(acct, state, "--source", source, *args, **env)
    assert res.returncode == 0, res.stderr + res.stdout


def test_docker_and_containerd_hosts(
    tmp_path: Path, account: Account, dockerd: Engine, containerd: Engine, test_images: EngineImages
) -> None:
    run, alpha, beta = test_images.runner, test_images.alpha, test_images.beta
    docker = dockerd.cli
    for img in (run, alpha):
        docker("load", "-i", str(img.path))
    docker("create", "--network", "none", "--name", "d-run", run.tag)
    docker("start", "d-run")  # running containers work here (runc under a private dockerd)
    docker("create", "--network", "none", "--name", "d-idle", alpha.tag)
    ctr = containerd.cli
    ctr("-n", "default", "images", "import", "--snapshotter", "native", str(run.path))
    ctr("-n", "k8s.io", "images", "import", "--snapshotter", "native", str(beta.path))
    ctr("-n", "default", "run", "-d", "--snapshotter", "native", run.tag, "c-run")
    ctr("-n", "default", "containers", "create", "--snapshotter", "native", run.tag, "c-idle")

    d_state, c_state = tmp_path / "docker-host", tmp_path / "containerd-host"
    report(account, d_state, "docker", DOCKER_HOST=dockerd.address)
    report(account, c_state, "containerd", CONTAINERD_ADDRESS=containerd.address)
    assert counts(account) == {
        run.image_id: ("iw.test/runner:1", 2, 2),  # one running container on each host
        alpha.image_id: ("iw.test/alpha:1", 1, 0),  # a created container does not count
        beta.image_id: ("iw.test/beta:2", 1, 0),
    }

    # removing a container, then an image, on the docker host
    docker("rm", "-f", "d-run")
    report(account, d_state, "docker", DOCKER_HOST=dockerd.address)
    assert counts(account)[run.image_id] == ("iw.test/runner:1", 2, 1)
    docker("rm", "d-idle")
    docker("rmi", alpha.tag, "iw.test/alpha:latest")
    report(account, d_state, "docker", DOCKER_HOST=dockerd.address)
    assert counts(account)[alpha.image_id][1:] == (0, 0)  # kept, held by no host

    # stopping the task on the containerd host
    ctr("-n", "default", "tasks", "kill", "-s", "SIGKILL", "c-run")
    for _ in range(100):
        if "RUNNING" not in ctr("-n", "default", "tasks", "ls").stdout:
            break
    report(account, c_state, "containerd", CONTAINERD_ADDRESS=containerd.address)
    assert counts(account)[run.image_id] == ("iw.test/runner:1", 2, 0)

    # both engines reported by one agent: one host holding everything
    both = tmp_path / "both"
    report(account, both, "docker", "--source", "containerd", DOCKER_HOST=dockerd.address,
           CONTAINERD_ADDRESS=containerd.address)  # fmt: skip
    assert counts(account)[beta.image_id][1] == 2 and counts(account)[run.image_id][1] == 3


def test_podman_through_its_api_socket(
    tmp_path: Path, account: Account, podman: Engine, test_images: EngineImages
) -> None:
    run, beta = test_images.runner, test_images.beta
    for img in (run, beta):
        podman.cli("load", "-i", str(img.path))
    # `podman run` cannot start containers here (a missing capability); created ones can be made
    podman.cli("create", "--network", "none", "--name", "p-idle", run.tag)

    inv = EngineApiCollector("podman", parse_endpoint(podman.address)).collect()
    assert {i.image_id for i in inv.images} == {run.image_id, beta.image_id}
    assert [(c.name, c.image_id, c.state) for c in inv.containers] == [
        ("p-idle", run.image_id, "created")
    ]

    state = tmp_path / "podman-host"
    report(account, state, "podman", CONTAINER_HOST=podman.address)
    assert counts(account) == {
        run.image_id: ("iw.test/runner:1", 1, 0),
        beta.image_id: ("iw.test/beta:2", 1, 0),
    }
    podman.cli("rmi", beta.tag)
    report(account, state, "podman", CONTAINER_HOST=podman.address)
    assert counts(account)[beta.image_id][1] == 0


def test_unreachable_engine_fails_without_reporting(tmp_path: Path, account: Account) -> None:
    res = run_agent(account, tmp_path / "s", "--source", "docker",
                    DOCKER_HOST=f"unix://{tmp_path}/missing.sock")  # fmt: skip
    assert res.returncode == 1
    assert "missing.sock" in res.stderr
    assert account.images() == {}
