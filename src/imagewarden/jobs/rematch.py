"""Re-matching stored component lists after a vulnerability-database update.

No layer is read again: each finished scan's components (and OS) are run through the
vulnerability detector, and the image's findings, counts and ScanTime are replaced.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from imagewarden.inventory.models import ComponentRecord, VulnerabilityRecord
from imagewarden.inventory.service import InventoryService
from imagewarden.jobs.scanning import vulnerability_records
from imagewarden.scan.detect.base import Detector
from imagewarden.scan.model import Component, ComponentType, Digest, ImageContents, OsInfo

__all__ = ["RematchReport", "os_from_name", "rematch"]


@dataclass(frozen=True)
class RematchReport:
    images: int
    seconds: float


def os_from_name(os_name: str) -> OsInfo | None:
    """``debian:12`` / ``alpine:v3.18`` / ``ubuntu:22.04`` back to the OS facts matching needs."""
    if ":" not in os_name:
        return None
    family, version = os_name.split(":", 1)
    return OsInfo(family=family, version=version.lstrip("v"), name=os_name)


def _component(c: ComponentRecord) -> Component | None:
    try:
        ctype = ComponentType(c.type)
    except ValueError:
        return None
    return Component(
        ctype, c.name, c.version, c.path, c.purl, "stored", c.source_name, c.source_version, c.layer
    )


def rematch(
    service: InventoryService,
    detector: Detector,
    clock: Callable[[], datetime],
    *,
    account_id: int | None = None,
    batch: int = 500,
) -> RematchReport:
    started = time.perf_counter()
    images = 0
    now = clock()
    for rows in service.scanned_batches(batch, account_id):
        results: list[tuple[int, tuple[VulnerabilityRecord, ...], str]] = []
        for pk, image_id, os_name, comps in rows:
            contents = ImageContents(
                image_id=Digest(image_id),
                os=os_from_name(os_name),
                components=tuple(c for c in map(_component, comps) if c is not None),
            )
            outcome = detector.detect(contents)
            results.append((pk, vulnerability_records(outcome), outcome.error or ""))
        service.replace_vulnerabilities(results, now)
        images += len(rows)
    return RematchReport(images, time.perf_counter() - started)
