"""Builders for inventory test data (real values, deterministic IDs)."""

from __future__ import annotations

import hashlib
from datetime import datetime

from imagewarden.inventory.models import ContainerReport, HostReport, HostSnapshot, ImageReport


def image_id(label: str) -> str:
    return "sha256:" + hashlib.sha256(label.encode()).hexdigest()


def image(
    label: str, *tags: str, size: int = 1000, created: str | None = "2024-01-01T00:00:00"
) -> ImageReport:
    return ImageReport(
        image_id=image_id(label),
        repo_tags=tags,
        size=size,
        create_time=datetime.fromisoformat(created) if created else None,
    )


def container(cid: str, label: str, state: str = "running") -> ContainerReport:
    return ContainerReport(container_id=cid, image_id=image_id(label), name=cid, state=state)


def host(
    host_id: str,
    images: list[ImageReport],
    containers: list[ContainerReport] | None = None,
    *,
    super_node: bool = False,
) -> HostSnapshot:
    return HostSnapshot(
        HostReport(host_id, f"name-{host_id}", ("10.0.0.1",), super_node),
        tuple(images),
        tuple(containers or ()),
    )
