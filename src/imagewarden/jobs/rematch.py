"""Re-matching stored component lists after a vulnerability-database update.

No layer is read again: each finished scan's components (and OS) are run through the
vulnerability detector, and the image's findings, counts and ScanTime are replaced.

Bulk shape: most stored components have no advisory under any name they are searched by
(``VulnerabilityDetector.could_match``, memoised per name), so only the few that can match
are matched, and images with the same OS and the same matchable components (a shared base)
share one match.  Images whose findings did not change only get the new ScanTime.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from imagewarden.inventory.models import ComponentRecord, VulnerabilityRecord
from imagewarden.inventory.service import ComponentRow, InventoryService
from imagewarden.jobs.scanning import vulnerability_records
from imagewarden.scan.detect.base import Detector, DetectorOutcome
from imagewarden.scan.detect.vulns import VulnerabilityDetector
from imagewarden.scan.model import Component, ComponentType, Digest, ImageContents, OsInfo

__all__ = ["RematchReport", "os_from_name", "rematch", "to_component"]


@dataclass(frozen=True)
class RematchReport:
    images: int
    seconds: float
    #: images whose findings changed (the others only got the new ScanTime)
    changed: int = 0
    #: distinct (OS, matchable components) sets actually matched
    matched_sets: int = 0


def os_from_name(os_name: str) -> OsInfo | None:
    """``debian:12`` / ``alpine:v3.18`` / ``ubuntu:22.04`` back to the OS facts matching needs."""
    if ":" not in os_name:
        return None
    family, version = os_name.split(":", 1)
    return OsInfo(family=family, version=version.lstrip("v"), name=os_name)


def to_component(c: ComponentRecord, analyzer: str = "stored") -> Component | None:
    """A stored (or agent-sent) component as the detector sees it; ``None`` for an
    ecosystem this server does not know (nothing could match it)."""
    try:
        kind = ComponentType(c.type)
    except ValueError:
        return None
    return Component(
        kind,
        c.name,
        c.version,
        c.path,
        c.purl,
        analyzer,
        c.source_name,
        c.source_version,
        c.layer,
        c.owner,
    )


def _component(row: ComponentRow) -> Component | None:
    return to_component(ComponentRecord(*row))


def rematch(
    service: InventoryService,
    detector: Detector,
    clock: Callable[[], datetime],
    *,
    account_id: int | None = None,
    batch: int = 500,
) -> RematchReport:
    started = time.perf_counter()
    images = changed = 0
    now = clock()
    narrow = detector.could_match if isinstance(detector, VulnerabilityDetector) else None
    # (type, name, source name, maven purl, owned, OsName) -> can it match at all: one answer
    # per name (an OS-owned language component never matches a language advisory)
    matchable: dict[tuple[object, ...], bool] = {}
    memo: dict[tuple[str, tuple[Component, ...]], DetectorOutcome] = {}
    for rows in service.scanned_batches(batch, account_id):
        results: list[tuple[int, tuple[VulnerabilityRecord, ...], str]] = []
        for pk, image_id, os_name, comps in rows:
            os = os_from_name(os_name)
            picked: list[Component] = []
            for row in comps:
                if narrow is not None:
                    key = (
                        row[2],
                        row[0],
                        row[5],
                        row[4] if row[2] == "maven" else "",
                        row[8] is not None,
                        os_name,
                    )
                    ok = matchable.get(key)
                    if ok is None:
                        comp = _component(row)
                        ok = matchable[key] = comp is not None and narrow(comp, os)
                    if not ok:
                        continue
                comp = _component(row)
                if comp is not None:
                    picked.append(comp)
            key2 = (os_name, tuple(sorted(picked)))
            outcome = memo.get(key2)
            if outcome is None:
                outcome = detector.detect(
                    ImageContents(image_id=Digest(image_id), os=os, components=key2[1])
                )
                if len(memo) >= 50_000:
                    memo.clear()
                memo[key2] = outcome
            results.append((pk, vulnerability_records(outcome), outcome.error or ""))
        changed += service.replace_vulnerabilities(results, now)
        images += len(rows)
    return RematchReport(images, time.perf_counter() - started, changed, len(memo))
