"""``imagewarden agent --scan``: the agent scans its host's images itself and reports the results.

For images only this host can read (a local engine's store, not a registry the server
reaches), the agent exports each image from its source (``ImageExporter``: the Engine
API's ``docker save``/``podman save``, ``ctr images export``, or the files of ``dir:``) into
a private temporary directory, scans it with the same scanner library the server uses
(analyzers, the shipped malware rules, secrets and risky build steps) and sends one
TC3-signed ``ReportImageScanResults`` call per image.

- Vulnerabilities are *not* matched here: the agent sends the component list and the
  server matches it against its own advisory database, so agents need no database and an
  agent-scanned image re-matches on ``db rematch`` like any other.
- Secrets leave the host only as the detectors' redacted excerpts.
- An image the agent cannot export or read is reported as ``AgentError`` (its previous
  results on the server stay).
- Image IDs are content digests, so a scanned image never needs scanning again: the
  ledger ``<state-dir>/scans.json`` remembers what the server accepted (``rescan_after``
  re-scans anyway, for new malware rules), and a failure is retried after ``retry_after``.
  Scans run one image at a time, after the snapshot that lists the images was delivered
  (the server refuses results for images it does not know).
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from imagewarden.agent.collector import ExportError, ImageExporter
from imagewarden.agent.model import Inventory
from imagewarden.agent.sender import Sender, SendError
from imagewarden.agent.state import StateDir, atomic_write

__all__ = ["SCAN_ACTION", "AgentScanner", "ScanLedger", "ScanRound", "scan_payload"]

log = logging.getLogger(__name__)

SCAN_ACTION = "ReportImageScanResults"
_LEDGER_VERSION = 1
# the server's limits (api.actions.agent_scans): longer strings are cut, not refused
_TEXT, _ERROR, _EXCERPT = 4096, 2000, 1024


def _cut(text: str, n: int = _TEXT) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


class ScanLedger:
    """``<state-dir>/scans.json``: image ID → when it was last reported and whether it was read."""

    def __init__(self, state: StateDir) -> None:
        self.path = state.path / "scans.json"
        self._state = state
        self._entries: dict[str, dict[str, Any]] = {}
        try:
            doc = json.loads(self.path.read_bytes())
            if isinstance(doc, dict) and doc.get("Version") == _LEDGER_VERSION:
                entries = doc.get("Images")
                if isinstance(entries, dict):
                    self._entries = {k: v for k, v in entries.items() if isinstance(v, dict)}
        except (OSError, ValueError):
            pass

    def due(self, image_id: str, now: float, retry_after: float, rescan_after: float) -> bool:
        e = self._entries.get(image_id)
        if e is None:
            return True
        age = now - float(e.get("At", 0))
        return age >= (rescan_after if e.get("Ok") else retry_after)

    def mark(self, image_id: str, ok: bool, now: float) -> None:
        self._entries[image_id] = {"Ok": ok, "At": now}

    def keep_only(self, image_ids: set[str]) -> None:
        self._entries = {k: v for k, v in self._entries.items() if k in image_ids}

    def save(self) -> None:
        self._state.ensure()
        doc = {"Version": _LEDGER_VERSION, "Images": self._entries}
        atomic_write(self.path, json.dumps(doc, separators=(",", ":"), sort_keys=True).encode())


@dataclass(frozen=True)
class ScanRound:
    scanned: int = 0  # reported with results
    failed: int = 0  # reported as AgentError
    undelivered: int = 0  # the server did not take the report (tried again next round)
    skipped: int = 0  # scanned before


def scan_payload(host_id: str, image: dict[str, Any]) -> dict[str, Any]:
    return {"HostID": host_id, "Images": [image]}


def _wire(outcome: Any, categories: frozenset[str]) -> dict[str, Any]:
    """The ReportImageScanResults entry of a finished scan (``inventory.models.ScanOutcome``)."""
    return {
        "ImageID": outcome.image_id,
        "ScanTime": outcome.scan_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "OsName": outcome.os_name,
        "ScanVul": "vuln" in categories,
        "ScanVirus": outcome.virus_scanned,
        "ScanRisk": outcome.risk_scanned,
        "VirusError": _cut(outcome.virus_error, _ERROR),
        "RiskError": _cut(outcome.risk_error, _ERROR),
        "Components": [
            {
                "Name": c.name,
                "Version": c.version,
                "Type": c.type,
                "Path": _cut(c.path),
                "Purl": _cut(c.purl),
                "SourceName": c.source_name,
                "SourceVersion": c.source_version,
                "Layer": c.layer,
                "Owner": getattr(c, "owner", None),
            }
            for c in outcome.components
        ]
        if "vuln" in categories
        else [],
        "Viruses": [
            {
                "Path": _cut(v.path),
                "VirusName": v.virus_name,
                "RiskLevel": v.risk_level,
                "Md5": v.md5,
                "Size": v.size,
                "Tags": list(v.tags),
                "Desc": _cut(v.desc),
                "Solution": _cut(v.solution),
                "Engine": v.engine,
                "Layer": v.layer,
            }
            for v in outcome.viruses
        ],
        "Risks": [
            {
                "Kind": r.kind,
                "RuleID": r.rule_id,
                "Behavior": r.behavior,
                "Type": r.type,
                "Level": r.level,
                "Desc": _cut(r.desc),
                "Instruction": _cut(r.instruction),
                "Path": _cut(r.path),
                "Line": r.line,
                "Excerpt": _cut(r.excerpt, _EXCERPT),
                "Layer": r.layer,
            }
            for r in outcome.risks
        ],
        "Author": _cut(outcome.author, 1024),
        "BuildHistory": [
            {
                "Created": h.created,
                "CreatedBy": _cut(h.created_by),
                "EmptyLayer": h.empty_layer,
                "Comment": _cut(h.comment),
            }
            for h in outcome.build_history[:1000]
        ],
    }


class AgentScanner:
    def __init__(
        self,
        exporter: ImageExporter,
        sender: Sender,
        state: StateDir,
        *,
        categories: Sequence[str] = ("vuln", "virus", "risk"),
        retry_after: float = 3600.0,
        rescan_after: float = 7 * 86400.0,
        scratch: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.exporter = exporter
        self.sender = sender
        self.ledger = ScanLedger(state)
        self.categories = frozenset(categories)
        self.retry_after = retry_after
        self.rescan_after = rescan_after
        self.scratch = scratch
        self.clock = clock
        self._detectors: Any = None

    def _detector_set(self) -> Any:
        if self._detectors is None:  # built once: the shipped rules do not change under us
            from imagewarden.scan.detect.registry import build

            self._detectors = build(self.categories & {"virus", "risk"})
        return self._detectors

    def scan_one(self, image_id: str) -> dict[str, Any]:
        """Export and scan one image: its ReportImageScanResults entry (results or AgentError)."""
        from imagewarden.jobs.scanning import outcome_from_report
        from imagewarden.scan.errors import ScanError
        from imagewarden.scan.pipeline import scan_image
        from imagewarden.scan.source import open_source

        dset = self._detector_set()
        with tempfile.TemporaryDirectory(prefix="iw-agent-scan-", dir=self.scratch) as tmp:
            try:
                ref = self.exporter.export(image_id, Path(tmp))
                source = open_source(ref)
                try:
                    report = scan_image(
                        source,
                        detectors=dset.detectors,
                        content_scanners=dset.content_scanners,
                        ref=ref,
                    )
                    config = source.config()
                finally:
                    source.close()
            except (ExportError, ScanError) as exc:
                return {"ImageID": image_id, "AgentError": _cut(str(exc) or repr(exc), _ERROR)}
        if report.image_id != image_id:
            return {
                "ImageID": image_id,
                "AgentError": f"the exported image is {report.image_id}, not {image_id}",
            }
        now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        return _wire(outcome_from_report(report, now, config), self.categories)

    def scan(self, host_id: str, inventory: Inventory) -> ScanRound:
        """Scan and report every image of ``inventory`` that is due; stops early when the
        server cannot be reached (the rest waits for the next round)."""
        scanned = failed = undelivered = skipped = 0
        current = {i.image_id for i in inventory.images}
        self.ledger.keep_only(current)
        try:
            for img in inventory.images:
                if not self.ledger.due(
                    img.image_id, self.clock(), self.retry_after, self.rescan_after
                ):
                    skipped += 1
                    continue
                entry = self.scan_one(img.image_id)
                try:
                    self.sender.send(scan_payload(host_id, entry), action=SCAN_ACTION)
                except SendError as exc:
                    undelivered += 1
                    log.warning("scan results of %s not delivered: %s", img.image_id, exc)
                    if exc.retryable:
                        break
                    self.ledger.mark(img.image_id, False, self.clock())
                    continue
                ok = "AgentError" not in entry
                self.ledger.mark(img.image_id, ok, self.clock())
                if ok:
                    scanned += 1
                    log.info("scanned %s: results reported", img.image_id)
                else:
                    failed += 1
                    log.warning("cannot scan %s: %s", img.image_id, entry["AgentError"])
        finally:
            with contextlib.suppress(OSError):
                self.ledger.save()
        return ScanRound(scanned, failed, undelivered, skipped)
