"""``--source`` names → collectors, and auto-detection of the engines a host runs.

Everything environment-dependent arrives in ``EngineSettings``, filled by the CLI layer.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from imagewarden.agent.collector import Collector
from imagewarden.agent.containerd import (
    DEFAULT_CONTAINERD_ADDRESS,
    DEFAULT_NAMESPACES,
    ContainerdCollector,
)
from imagewarden.agent.directory import DirectoryCollector
from imagewarden.agent.endpoint import DEFAULT_DOCKER_HOST, parse_endpoint
from imagewarden.agent.engine_api import EngineApiCollector

__all__ = ["EngineSettings", "detect_sources", "make_collector", "podman_default_address"]

ENGINES = ("docker", "podman", "containerd")


@dataclass(frozen=True)
class EngineSettings:
    docker_host: str | None = None  # DOCKER_HOST
    docker_tls_verify: bool = False  # DOCKER_TLS_VERIFY
    docker_cert_path: str | None = None  # DOCKER_CERT_PATH
    podman_host: str | None = None  # CONTAINER_HOST
    containerd_address: str | None = None  # CONTAINERD_ADDRESS
    containerd_namespaces: tuple[str, ...] = DEFAULT_NAMESPACES
    ctr: str | None = None  # path of the ctr binary; found on PATH when None
    runtime_dir: str | None = None  # XDG_RUNTIME_DIR (rootless podman)
    rootless: bool = False
    timeout: float = 30.0


def podman_default_address(s: EngineSettings) -> str:
    if s.rootless and s.runtime_dir:
        return f"unix://{s.runtime_dir}/podman/podman.sock"
    return "unix:///run/podman/podman.sock"


def make_collector(spec: str, s: EngineSettings) -> Collector:
    """``docker``, ``podman``, ``containerd`` or ``dir:PATH``; ValueError for anything else."""
    if spec == "docker":
        ep = parse_endpoint(
            s.docker_host, tls_verify=s.docker_tls_verify, cert_path=s.docker_cert_path
        )
        return EngineApiCollector("docker", ep, timeout=s.timeout)
    if spec == "podman":
        ep = parse_endpoint(s.podman_host or podman_default_address(s))
        return EngineApiCollector("podman", ep, timeout=s.timeout)
    if spec == "containerd":
        return ContainerdCollector(
            s.containerd_address or DEFAULT_CONTAINERD_ADDRESS,
            ctr=s.ctr or shutil.which("ctr") or "ctr",
            namespaces=s.containerd_namespaces,
            timeout=s.timeout,
        )
    if spec.startswith("dir:") and len(spec) > 4:
        return DirectoryCollector(spec[4:])
    raise ValueError(f"unknown source {spec!r}: use docker, podman, containerd or dir:PATH")


def detect_sources(s: EngineSettings) -> list[str]:
    """Engines whose socket exists (an explicit DOCKER_HOST/CONTAINER_HOST counts as present)."""
    found = []
    docker = parse_endpoint(s.docker_host or DEFAULT_DOCKER_HOST)
    if s.docker_host or (docker.socket_path and Path(docker.socket_path).exists()):
        found.append("docker")
    podman = parse_endpoint(s.podman_host or podman_default_address(s))
    if s.podman_host or (podman.socket_path and Path(podman.socket_path).exists()):
        # rootful podman often answers on docker.sock too: same engine, report it once
        if not (
            docker.socket_path
            and podman.socket_path
            and _same(docker.socket_path, podman.socket_path)
        ):
            found.append("podman")
    address = s.containerd_address or DEFAULT_CONTAINERD_ADDRESS
    if s.containerd_address or Path(address).exists():
        found.append("containerd")
    return found


def _same(a: str, b: str) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False
