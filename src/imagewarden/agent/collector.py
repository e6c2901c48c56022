"""The collector seam: one small protocol every source implements, and the error it raises.

A collector reads one container engine (or a directory of image files) and returns a full
``Inventory``.  It only reads, with timeouts, and holds no connection between calls, so the
agent never keeps an engine busy.  A collector that cannot see the whole engine raises
``CollectorError`` rather than returning a partial inventory: a partial snapshot would make
the server forget images the host still holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from imagewarden.agent.model import ContainerInfo, ImageInfo, Inventory

__all__ = ["Collector", "CollectorError", "MultiCollector"]


class CollectorError(Exception):
    """The source could not be read completely (unreachable socket, bad answer, missing tool)."""


class Collector(Protocol):
    name: str

    def collect(self) -> Inventory: ...


class MultiCollector:
    """Several sources on one host (e.g. Docker and the Kubernetes containerd): one inventory.

    All or nothing: if one source fails, the whole collection fails.
    """

    def __init__(self, collectors: Sequence[Collector]) -> None:
        if not collectors:
            raise ValueError("at least one collector is needed")
        self.collectors = tuple(collectors)
        self.name = "+".join(c.name for c in self.collectors)

    def collect(self) -> Inventory:
        images: list[ImageInfo] = []
        containers: list[ContainerInfo] = []
        for c in self.collectors:
            inv = c.collect()
            images.extend(inv.images)
            containers.extend(inv.containers)
        return Inventory.of(images, containers)
