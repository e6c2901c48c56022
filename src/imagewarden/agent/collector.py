"""The collector seam: one small protocol every source implements, and the error it raises.

A collector reads one container engine (or a directory of image files) and returns a full
``Inventory``.  It only reads, with timeouts, and holds no connection between calls, so the
agent never keeps an engine busy.  A collector that cannot see the whole engine raises
``CollectorError`` rather than returning a partial inventory: a partial snapshot would make
the server forget images the host still holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from imagewarden.agent.model import ContainerInfo, ImageInfo, Inventory

__all__ = ["Collector", "CollectorError", "ExportError", "ImageExporter", "MultiCollector"]


class CollectorError(Exception):
    """The source could not be read completely (unreachable socket, bad answer, missing tool)."""


class ExportError(Exception):
    """One image's bytes could not be read from the source (``agent --scan``: AgentError)."""


class Collector(Protocol):
    name: str

    def collect(self) -> Inventory: ...


class ImageExporter(Protocol):
    """A collector that can also hand over an image's bytes, for ``agent --scan``.

    ``export`` writes what it needs under ``workdir`` (a private temporary directory the
    caller removes afterwards) and returns a source reference ``imagewarden.scan.source``
    opens (``docker-archive:PATH``, ``oci-archive:PATH``, ``oci:DIR``).  Only images of the
    latest ``collect`` can be exported; anything else raises ``ExportError``.
    """

    def export(self, image_id: str, workdir: Path) -> str: ...


class MultiCollector:
    """Several sources on one host (e.g. Docker and the Kubernetes containerd): one inventory.

    All or nothing: if one source fails, the whole collection fails.
    """

    def __init__(self, collectors: Sequence[Collector]) -> None:
        if not collectors:
            raise ValueError("at least one collector is needed")
        self.collectors = tuple(collectors)
        self.name = "+".join(c.name for c in self.collectors)
        self._owner: dict[str, Collector] = {}  # image ID -> the first source that has it

    def collect(self) -> Inventory:
        images: list[ImageInfo] = []
        containers: list[ContainerInfo] = []
        owner: dict[str, Collector] = {}
        for c in self.collectors:
            inv = c.collect()
            images.extend(inv.images)
            containers.extend(inv.containers)
            for img in inv.images:
                owner.setdefault(img.image_id, c)
        self._owner = owner
        return Inventory.of(images, containers)

    def export(self, image_id: str, workdir: Path) -> str:
        source = self._owner.get(image_id)
        export = getattr(source, "export", None)
        if export is None:
            raise ExportError(f"{image_id}: no source of this host can export it")
        return str(export(image_id, workdir))
