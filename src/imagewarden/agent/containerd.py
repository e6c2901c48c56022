"""containerd: images and containers of the ``k8s.io`` and ``default`` namespaces, via ``ctr``.

``ctr`` ships with containerd itself (Debian package ``containerd``), so it always matches
the daemon's API; the PyPI gRPC bindings for containerd are unmaintained.  Per namespace:
``images ls`` (name → target digest), ``content get`` for manifests and configs (cached by
digest: content never changes), ``containers ls -q`` + ``containers info`` and ``tasks ls``.

Image IDs are config digests, as Docker and CRI report them.  CRI's extra ``sha256:<id>``
references are not names; ``repo@sha256:...`` references become RepoDigests.  Container
state: no task → ``created``; task ``RUNNING`` → ``running``, ``STOPPED`` → ``exited``,
otherwise the task status in lower case.  The Docker-managed ``moby`` namespace is
Docker's business (``--source docker``).
"""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagewarden.agent.collector import CollectorError, ExportError
from imagewarden.agent.model import ContainerInfo, ImageInfo, Inventory, normalise_id, rfc3339

__all__ = ["DEFAULT_CONTAINERD_ADDRESS", "DEFAULT_NAMESPACES", "ContainerdCollector"]

log = logging.getLogger(__name__)

DEFAULT_CONTAINERD_ADDRESS = "/run/containerd/containerd.sock"
DEFAULT_NAMESPACES = ("k8s.io", "default")
_INDEX_TYPES = frozenset(
    {
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    }
)
_MAX_BLOB = 16 * 1024 * 1024
_STATES = {"running": "running", "stopped": "exited", "created": "created", "paused": "paused"}


@dataclass(frozen=True)
class _Resolved:
    config_digest: str
    size: int
    create_time: str | None
    architecture: str | None


class ContainerdCollector:
    name = "containerd"

    def __init__(
        self,
        address: str = DEFAULT_CONTAINERD_ADDRESS,
        *,
        ctr: str = "ctr",
        namespaces: Sequence[str] = DEFAULT_NAMESPACES,
        platform: tuple[str, str] = ("linux", "amd64"),
        timeout: float = 30.0,
    ) -> None:
        self.address = address
        self.ctr = ctr
        self.namespaces = tuple(namespaces)
        self.platform = platform
        self.timeout = timeout
        self._resolved: dict[str, _Resolved] = {}  # target digest -> facts (content-addressed)
        self._refs: dict[str, tuple[str, str]] = {}  # image ID -> (namespace, image name)

    def collect(self) -> Inventory:
        images: list[ImageInfo] = []
        containers: list[ContainerInfo] = []
        used: set[str] = set()
        refs: dict[str, tuple[str, str]] = {}
        for ns in self.namespaces:
            by_name = self._images(ns, images, used)
            for name, image_id in sorted(by_name.items()):
                refs.setdefault(image_id, (ns, name))
            containers.extend(self._containers(ns, by_name))
        self._resolved = {k: v for k, v in self._resolved.items() if k in used}
        self._refs = refs
        return Inventory.of(images, containers)

    def export(self, image_id: str, workdir: Path) -> str:
        """``ctr images export`` of this platform only (an OCI archive) into ``workdir``."""
        ref = self._refs.get(image_id)
        if ref is None:
            raise ExportError(f"containerd: {image_id} was not collected")
        ns, name = ref
        dest = workdir / "image.tar"
        platform = "/".join(self.platform)
        try:
            self._run(ns, "images", "export", "--platform", platform, str(dest), name)
        except CollectorError as exc:
            raise ExportError(str(exc)) from exc
        return f"oci-archive:{dest}"

    # -- ctr -------------------------------------------------------------------------------
    def _run(self, ns: str, *args: str) -> bytes:
        cmd = [self.ctr, "--address", self.address, "--namespace", ns, *args]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=self.timeout, check=False)
        except FileNotFoundError as exc:
            raise CollectorError(
                f"containerd: `{self.ctr}` not found (install the containerd package)"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise CollectorError(f"containerd: `ctr {' '.join(args)}` timed out") from exc
        if proc.returncode != 0:
            msg = proc.stderr.decode("utf-8", "replace").strip()[:500]
            raise CollectorError(f"containerd: {self.address}: ctr {' '.join(args)}: {msg}")
        return proc.stdout

    def _table(self, ns: str, *args: str) -> list[list[str]]:
        lines = self._run(ns, *args).decode("utf-8", "replace").splitlines()
        return [line.split() for line in lines[1:] if line.strip()]

    def _blob(self, ns: str, digest: str) -> dict[str, Any]:
        data = self._run(ns, "content", "get", digest)
        if len(data) > _MAX_BLOB:
            raise CollectorError(f"containerd: blob {digest} is larger than {_MAX_BLOB} bytes")
        try:
            doc = json.loads(data)
        except ValueError as exc:
            raise CollectorError(f"containerd: blob {digest} is not JSON: {exc}") from exc
        if not isinstance(doc, dict):
            raise CollectorError(f"containerd: blob {digest} is not a JSON object")
        return doc

    # -- images ----------------------------------------------------------------------------
    def _images(self, ns: str, out: list[ImageInfo], used: set[str]) -> dict[str, str]:
        """Append the namespace's images to ``out``; return image name → image ID."""
        by_target: dict[str, list[str]] = {}
        for row in self._table(ns, "images", "ls"):
            if len(row) >= 3 and row[2].startswith("sha256:"):
                by_target.setdefault(row[2], []).append(row[0])
        by_name: dict[str, str] = {}
        for target, names in by_target.items():
            try:
                facts = self._resolve(ns, target)
            except CollectorError as exc:  # e.g. a manifest for another platform only
                log.warning("containerd: %s: skipping %s: %s", ns, ", ".join(names), exc)
                continue
            used.add(target)
            tags, digests = set(), set()
            for name in names:
                by_name[name] = facts.config_digest
                if name.startswith("sha256:"):  # CRI's ID reference
                    continue
                if "@" in name:
                    digests.add(name)
                else:
                    tags.add(name)
                    digests.add(f"{_repo(name)}@{target}")
            out.append(
                ImageInfo(
                    facts.config_digest,
                    tuple(sorted(tags)),
                    tuple(sorted(digests)),
                    facts.size,
                    facts.create_time,
                    None,
                    facts.architecture,
                )
            )
        return by_name

    def _resolve(self, ns: str, target: str) -> _Resolved:
        cached = self._resolved.get(target)
        if cached is not None:
            return cached
        doc = self._blob(ns, target)
        for _ in range(4):  # nested indexes
            if doc.get("mediaType") not in _INDEX_TYPES and "manifests" not in doc:
                break
            doc = self._blob(ns, self._pick(doc, target))
        config = doc.get("config")
        if not isinstance(config, dict) or not isinstance(config.get("digest"), str):
            raise CollectorError(f"containerd: manifest {target} has no config")
        config_id = normalise_id(config["digest"])
        if config_id is None:
            raise CollectorError(f"containerd: manifest {target}: bad config digest")
        cfg = self._blob(ns, config_id)
        layers = doc.get("layers")
        size = sum(
            d["size"]
            for d in (layers if isinstance(layers, list) else [])
            if isinstance(d, dict) and isinstance(d.get("size"), int)
        )
        created = cfg.get("created")
        arch = cfg.get("architecture")
        facts = _Resolved(
            config_id,
            size,
            rfc3339(created if isinstance(created, str) else None),
            arch if isinstance(arch, str) and arch else None,
        )
        self._resolved[target] = facts
        return facts

    def _pick(self, index: dict[str, Any], what: str) -> str:
        descs = [d for d in index.get("manifests") or [] if isinstance(d, dict)]
        want_os, want_arch = self.platform
        for d in descs:
            p = d.get("platform")
            if isinstance(p, dict) and (p.get("os"), p.get("architecture")) == (want_os, want_arch):
                return str(d.get("digest"))
        if len(descs) == 1:
            return str(descs[0].get("digest"))
        raise CollectorError(f"index {what} has no {want_os}/{want_arch} manifest")

    # -- containers ------------------------------------------------------------------------
    def _containers(self, ns: str, images: dict[str, str]) -> list[ContainerInfo]:
        ids = self._run(ns, "containers", "ls", "-q").decode().split()
        if not ids:
            return []
        states = {
            row[0]: _STATES.get(row[2].lower(), row[2].lower())
            for row in self._table(ns, "tasks", "ls")
            if len(row) >= 3
        }
        out = []
        for cid in ids:
            try:
                info = json.loads(self._run(ns, "containers", "info", cid))
            except CollectorError as exc:
                if "not found" in str(exc):  # removed meanwhile
                    continue
                raise
            image = info.get("Image") if isinstance(info, dict) else None
            image_id = images.get(image) if isinstance(image, str) else None
            if image_id is None and isinstance(image, str):
                image_id = normalise_id(image) if image.startswith("sha256:") else None
            if image_id is None:
                log.warning("containerd: %s: container %s: unknown image %r", ns, cid, image)
                continue
            labels = info.get("Labels") if isinstance(info.get("Labels"), dict) else {}
            out.append(ContainerInfo(cid, image_id, _name(labels, cid), states.get(cid, "created")))
        return out


def _repo(name: str) -> str:
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def _name(labels: dict[str, Any], cid: str) -> str:
    k8s = labels.get("io.kubernetes.container.name")
    pod = labels.get("io.kubernetes.pod.name")
    if isinstance(k8s, str) and k8s:
        return f"{pod}/{k8s}" if isinstance(pod, str) and pod else k8s
    for key in ("nerdctl/name", "name"):
        value = labels.get(key)
        if isinstance(value, str) and value:
            return value
    return cid
