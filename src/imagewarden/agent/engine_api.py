"""Docker and Podman: the Docker Engine API (Podman's compatible API) over a socket.

Three read-only calls per cycle: ``GET /images/json``, ``GET /containers/json?all=1`` and,
for images not seen before, ``GET /images/{id}/json`` (creation time, OS, architecture).
Paths carry no API version, so the engine answers in its own current version (Docker 29
refuses versions below 1.44; Podman serves the same unversioned paths).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx

from imagewarden.agent.collector import CollectorError, ExportError
from imagewarden.agent.endpoint import Endpoint
from imagewarden.agent.model import ContainerInfo, ImageInfo, Inventory, normalise_id, rfc3339

__all__ = ["EngineApiCollector"]

log = logging.getLogger(__name__)

_NONE_TAGS = frozenset({"<none>:<none>", "<none>@<none>"})


class EngineApiCollector:
    """``docker`` or ``podman`` (``name``), reading the engine at ``endpoint``."""

    def __init__(self, name: str, endpoint: Endpoint, *, timeout: float = 30.0) -> None:
        self.name = name
        self.endpoint = endpoint
        self.timeout = timeout
        # image ID -> (create time, os, architecture): image IDs are content digests, so a
        # cached answer never goes stale; the cache is cut to the current images every cycle
        self._details: dict[str, tuple[str | None, str | None, str | None]] = {}

    def collect(self) -> Inventory:
        try:
            with self.endpoint.client(self.timeout) as client:
                raw_images = self._get(client, "/images/json")
                raw_containers = self._get(client, "/containers/json", {"all": "1"})
                images = [i for r in _dicts(raw_images) if (i := self._image(client, r))]
        except httpx.HTTPError as exc:
            raise CollectorError(f"{self.name}: {self.endpoint.address}: {exc}") from exc
        containers = [c for r in _dicts(raw_containers) if (c := _container(r))]
        current = {i.image_id for i in images}
        self._details = {k: v for k, v in self._details.items() if k in current}
        return Inventory.of(images, containers)

    def export(self, image_id: str, workdir: Path) -> str:
        """``GET /images/{id}/get`` (what ``docker save``/``podman save`` call), streamed to
        ``workdir/image.tar``: a docker-archive the scanner reads like any other."""
        dest = workdir / "image.tar"
        try:
            with (
                self.endpoint.client(self.timeout) as client,
                client.stream("GET", f"/images/{image_id}/get") as resp,
            ):
                if resp.status_code != 200:
                    resp.read()
                    raise ExportError(
                        f"{self.name}: save {image_id}: HTTP {resp.status_code}: {_message(resp)}"
                    )
                with dest.open("wb") as fh:
                    for chunk in resp.iter_bytes(1 << 20):
                        fh.write(chunk)
        except httpx.HTTPError as exc:
            raise ExportError(f"{self.name}: save {image_id}: {exc}") from exc
        except OSError as exc:
            raise ExportError(f"{self.name}: save {image_id}: {exc}") from exc
        return f"docker-archive:{dest}"

    def _get(self, client: httpx.Client, path: str, params: dict[str, str] | None = None) -> Any:
        resp = client.get(path, params=params)
        if resp.status_code != 200:
            raise CollectorError(
                f"{self.name}: {self.endpoint.address}: GET {path}: HTTP {resp.status_code}: "
                f"{_message(resp)}"
            )
        try:
            return resp.json()
        except ValueError as exc:
            raise CollectorError(f"{self.name}: GET {path}: not JSON: {exc}") from exc

    def _image(self, client: httpx.Client, raw: dict[str, Any]) -> ImageInfo | None:
        image_id = normalise_id(str(raw.get("Id", "")))
        if image_id is None:
            log.warning("%s: skipping an image with an unexpected ID %r", self.name, raw.get("Id"))
            return None
        details = self._details.get(image_id)
        if details is None:
            details = self._inspect(client, image_id)
            if details is not None:
                self._details[image_id] = details
        created, _os, arch = details or (rfc3339(_int(raw.get("Created"))), None, None)
        return ImageInfo(
            image_id=image_id,
            repo_tags=_names(raw.get("RepoTags")),
            repo_digests=_names(raw.get("RepoDigests")),
            size=_int(raw.get("Size")),
            create_time=created,
            os_name=None,  # the distribution is only known by reading the image (the scanner)
            architecture=arch,
        )

    def _inspect(
        self, client: httpx.Client, image_id: str
    ) -> tuple[str | None, str | None, str | None] | None:
        resp = client.get(f"/images/{image_id}/json")
        if resp.status_code == 404:  # removed between the list and now
            return None
        if resp.status_code != 200:
            raise CollectorError(
                f"{self.name}: GET /images/{image_id}/json: HTTP {resp.status_code}: {_message(resp)}"
            )
        doc = resp.json()
        if not isinstance(doc, dict):
            return None
        created = doc.get("Created")
        return (
            rfc3339(created if isinstance(created, str | int) else None),
            _str(doc.get("Os")),
            _str(doc.get("Architecture")),
        )


def _container(raw: dict[str, Any]) -> ContainerInfo | None:
    cid = _str(raw.get("Id"))
    image_id = normalise_id(str(raw.get("ImageID", "")))
    if not cid or image_id is None:
        log.warning("skipping container %r with image ID %r", cid, raw.get("ImageID"))
        return None
    names = raw.get("Names")
    name = ""
    if isinstance(names, list) and names and isinstance(names[0], str):
        name = names[0].removeprefix("/")
    return ContainerInfo(cid, image_id, name, (_str(raw.get("State")) or "").lower())


def _dicts(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise CollectorError(f"expected a JSON list, got {type(value).__name__}")
    return [v for v in value if isinstance(v, dict)]


def _names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(sorted({v for v in value if isinstance(v, str) and v and v not in _NONE_TAGS}))


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _message(resp: httpx.Response) -> str:
    try:
        doc = resp.json()
    except ValueError:
        return resp.text[:200]
    if isinstance(doc, dict) and isinstance(doc.get("message"), str):
        return str(doc["message"])
    return resp.text[:200]
