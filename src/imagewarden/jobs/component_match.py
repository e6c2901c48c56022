"""Matching a component list the server did not produce (an agent's) against its own
vulnerability database: the ``VulnMatcher`` of ``inventory.agent_scans``.

The same path as ``imagewarden db rematch``: the components (and the OsName the agent
found) go through the server's ``VulnerabilityDetector`` as an ``ImageContents`` without
layers, and its findings become the inventory's records with ``vulnerability_records``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from imagewarden.inventory.agent_scans import VulnMatcher
from imagewarden.inventory.models import ComponentRecord, VulnerabilityRecord
from imagewarden.jobs.rematch import os_from_name, to_component
from imagewarden.jobs.scanning import vulnerability_records
from imagewarden.scan.detect.base import Detector
from imagewarden.scan.model import Digest, ImageContents

__all__ = ["detector_matcher", "lazy_matcher"]

_NO_IMAGE = Digest("sha256:" + "0" * 64)


def detector_matcher(detector: Detector) -> VulnMatcher:
    def match(
        os_name: str, components: Sequence[ComponentRecord]
    ) -> tuple[tuple[VulnerabilityRecord, ...], str]:
        comps = tuple(sorted(c for r in components if (c := to_component(r, "agent")) is not None))
        outcome = detector.detect(
            ImageContents(image_id=_NO_IMAGE, os=os_from_name(os_name), components=comps)
        )
        if outcome.error:
            return (), outcome.error
        return vulnerability_records(outcome), ""

    return match


def lazy_matcher(make_detector: Callable[[], Detector]) -> VulnMatcher:
    """A matcher whose detector (an advisory index on the database) is built on first use,
    so a server that never receives an agent's results never opens it."""
    lock = threading.Lock()
    built: list[VulnMatcher] = []

    def match(
        os_name: str, components: Sequence[ComponentRecord]
    ) -> tuple[tuple[VulnerabilityRecord, ...], str]:
        with lock:
            if not built:
                built.append(detector_matcher(make_detector()))
        return built[0](os_name, components)

    return match
