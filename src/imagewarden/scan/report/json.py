"""The JSON report: every field of ``ScanReport``, keys sorted, lists in their sorted order.

Stable: the same report always encodes to the same bytes (timings aside, which are
measurements; ``stable=True`` leaves them and the per-layer seconds out).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import msgspec

from imagewarden.scan.model import ScanReport

FORMAT_VERSION = 1


def report_to_builtins(report: ScanReport, *, stable: bool = False) -> dict[str, Any]:
    if stable:
        report = replace(
            report,
            timings=(),
            layers=tuple(replace(layer, seconds=0.0) for layer in report.layers),
        )
    doc = msgspec.to_builtins(report, order="sorted")
    doc["format_version"] = FORMAT_VERSION
    return dict(sorted(doc.items()))


def render_json(report: ScanReport, *, stable: bool = False, indent: int = 2) -> bytes:
    """Encode ``report`` as JSON (UTF-8, sorted keys, trailing newline)."""
    data = msgspec.json.encode(report_to_builtins(report, stable=stable), order="sorted")
    return msgspec.json.format(data, indent=indent) + b"\n"
