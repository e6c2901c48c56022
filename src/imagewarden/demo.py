"""A clearly labelled demo inventory for ``make run``: three hosts, a handful of images.

Everything it creates lives in the account ``demo`` and carries ``demo`` in its names
(hosts ``demo-node-*``, images ``demo.imagewarden.local/...``), so it is never mistaken
for real data.  Image IDs are derived from the names; the images are not scanned (their
ScanStatus is NOT_SCAN until a real scan runs).
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from imagewarden.inventory.models import ContainerReport, HostReport, HostSnapshot, ImageReport
from imagewarden.inventory.service import InventoryService

__all__ = ["DEMO_ACCOUNT", "seed_demo"]

DEMO_ACCOUNT = "demo"
REGISTRY = "demo.imagewarden.local"

_IMAGES = [
    ("nginx:1.25", 187_000_000, "2024-02-14T09:12:00"),
    ("redis:7.2", 138_000_000, "2024-03-02T17:40:00"),
    ("postgres:16", 431_000_000, "2024-01-22T11:05:00"),
    ("python:3.12-slim", 130_000_000, "2024-04-10T08:30:00"),
    ("alpine:3.19", 7_400_000, "2024-01-27T00:00:00"),
    ("busybox:1.36", 4_300_000, "2023-07-18T23:19:00"),
    ("node:20-alpine", 135_000_000, "2024-03-28T13:00:00"),
    ("grafana:10.4", 412_000_000, "2024-04-01T06:45:00"),
]


def _image_id(name: str) -> str:
    return "sha256:" + hashlib.sha256(f"imagewarden-demo/{name}".encode()).hexdigest()


def _snapshots() -> list[HostSnapshot]:
    imgs = {
        n: ImageReport(
            image_id=_image_id(n),
            repo_tags=(f"{REGISTRY}/{n}",),
            size=size,
            create_time=datetime.fromisoformat(created),
            architecture="amd64",
        )
        for n, size, created in _IMAGES
    }
    layout = {
        "demo-node-1": (
            False,
            ["nginx:1.25", "redis:7.2", "alpine:3.19", "python:3.12-slim"],
            ["nginx:1.25", "nginx:1.25", "redis:7.2"],
        ),
        "demo-node-2": (
            False,
            ["nginx:1.25", "postgres:16", "busybox:1.36", "grafana:10.4"],
            ["nginx:1.25", "postgres:16"],
        ),
        "demo-super-1": (True, ["nginx:1.25", "node:20-alpine", "alpine:3.19"], ["node:20-alpine"]),
    }
    out = []
    for n, (host, (is_super, held, running)) in enumerate(sorted(layout.items())):
        containers = tuple(
            ContainerReport(
                container_id=hashlib.sha256(f"{host}/{i}/{img}".encode()).hexdigest(),
                image_id=_image_id(img),
                name=f"demo-{img.split(':')[0]}-{i}",
                state="running",
            )
            for i, img in enumerate(running)
        )
        out.append(
            HostSnapshot(
                HostReport(f"demo-host-{n + 1:02d}", host, (f"192.0.2.{n + 10}",), is_super),
                tuple(imgs[i] for i in held),
                containers,
            )
        )
    return out


def seed_demo(service: InventoryService) -> int:
    """Report the demo hosts into the ``demo`` account; returns the account id.  Idempotent."""
    account_id = service.account_id(DEMO_ACCOUNT)
    for snap in _snapshots():
        service.report_host(account_id, snap)
    return account_id
