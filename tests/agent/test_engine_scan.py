"""``agent --scan`` against real engines: the images' bytes come from the engine itself
(Engine API ``/images/{id}/get`` for Docker and Podman, ``ctr images export`` for
containerd), are scanned on the "host", and the results read back through the SDK."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagewarden.agent.collector import ExportError
from imagewarden.agent.containerd import ContainerdCollector
from imagewarden.agent.endpoint import parse_endpoint
from imagewarden.agent.engine_api import EngineApiCollector
from imagewarden.scan.pipeline import scan_image
from imagewarden.scan.source import open_source
from tests.agent.conftest import Account, Engine, EngineImages, need, run_agent
from tests.agent.images import docker_archive

pytestmark = pytest.mark.slow

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def _scanned_id(ref: str) -> str:
    src = open_source(ref)
    try:
        return str(scan_image(src, ref=ref).image_id)
    finally:
        src.close()


def test_docker_scan_reports_malware_through_the_sdk(
    tmp_path: Path, account: Account, dockerd: Engine
) -> None:
    virus = docker_archive(
        tmp_path / "virus.tar", ["iw.test/virus:1"], {"opt/eicar.com": (EICAR, 0o644)}
    )
    dockerd.cli("load", "-i", str(virus.path))
    try:
        res = run_agent(
            account, tmp_path / "state", "--source", "docker", "--scan", DOCKER_HOST=dockerd.address
        )
    finally:  # the engine is shared by the session's other engine tests
        dockerd.cli("rmi", "-f", virus.tag)
    assert res.returncode == 0, res.stderr + res.stdout
    row = account.images()[virus.image_id]
    assert row["ScanStatus"] == "SCANNED" and row["VirusCnt"] == 1 and row["AgentError"] == ""


def test_engines_export_the_images_they_list(
    tmp_path: Path, dockerd: Engine, containerd: Engine, podman: Engine, test_images: EngineImages
) -> None:
    alpha, beta = test_images.alpha, test_images.beta
    dockerd.cli("load", "-i", str(alpha.path))
    podman.cli("load", "-i", str(beta.path))
    containerd.cli("-n", "k8s.io", "images", "import", "--snapshotter", "native", str(beta.path))

    docker = EngineApiCollector("docker", parse_endpoint(dockerd.address))
    pod = EngineApiCollector("podman", parse_endpoint(podman.address))
    ctrd = ContainerdCollector(containerd.address, ctr=need("ctr"))
    for n, (collector, img) in enumerate(((docker, alpha), (pod, beta), (ctrd, beta))):
        assert img.image_id in {i.image_id for i in collector.collect().images}
        work = tmp_path / f"w{n}"
        work.mkdir()
        assert _scanned_id(collector.export(img.image_id, work)) == img.image_id
        with pytest.raises(ExportError):
            collector.export("sha256:" + "0" * 64, work)
