"""Scan results the host agent computed itself (``imagewarden agent --scan``).

The agent reads images only its host can reach (a local engine's store), runs the
analyzers and the malware/secret/build-risk detectors there, and reports per image either
its findings or why it could not read it.  The server's vulnerability database is the one
that counts: the agent sends components, and ``VulnMatcher`` (``jobs.component_match``)
matches them here, exactly as ``imagewarden db rematch`` does for stored components, so
agents carry no advisory database and an agent-scanned image re-matches like any other.

A result is stored as a normal scan outcome (``InventoryService.record_scan``: ScanStatus
SCANNED, ScanTime, counts, drill-down lists) and clears the image's AgentError.  An
agent-side failure only sets AgentError: the image keeps its previous status and findings.
Replaying a report stores the same thing again (results replace, never add).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from imagewarden.inventory.errors import NotFoundError
from imagewarden.inventory.models import ComponentRecord, ScanOutcome, VulnerabilityRecord
from imagewarden.inventory.service import InventoryService

__all__ = ["AgentImageResult", "AgentScanReceipt", "AgentScanService", "VulnMatcher"]

#: (OsName, components) → (vulnerability records, the VULN category's error or "")
VulnMatcher = Callable[
    [str, Sequence[ComponentRecord]], tuple[tuple[VulnerabilityRecord, ...], str]
]


@dataclass(frozen=True)
class AgentImageResult:
    """One image of an agent's report: a finished scan (``outcome``) or ``agent_error``."""

    image_id: str
    outcome: ScanOutcome | None = None
    agent_error: str = ""


@dataclass(frozen=True)
class AgentScanReceipt:
    recorded: int  # results stored as scans
    errors: int  # AgentErrors stored


class AgentScanService:
    def __init__(
        self,
        inventory: InventoryService,
        match: VulnMatcher,
        redact: Callable[[str], str] = str,
    ) -> None:
        """``redact``: applied again to every reported instruction, excerpt and history
        step (``jobs.scanning.redact_instruction``), so an agent that failed to redact never
        gets a secret stored in clear."""
        self._inventory = inventory
        self._match = match
        self._redact = redact

    def _redacted(self, outcome: ScanOutcome) -> ScanOutcome:
        rd = self._redact
        return replace(
            outcome,
            risks=tuple(
                replace(r, instruction=rd(r.instruction), excerpt=rd(r.excerpt))
                for r in outcome.risks
            ),
            build_history=tuple(
                replace(h, created_by=rd(h.created_by), comment=rd(h.comment))
                for h in outcome.build_history
            ),
        )

    def record(self, account_id: int, results: Sequence[AgentImageResult]) -> AgentScanReceipt:
        """Store a report; every image must belong to the account (else nothing is stored)."""
        missing = self._inventory.missing_images(account_id, [r.image_id for r in results])
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise NotFoundError(f"no image {missing[0]} in this account{more}")
        recorded = errors = 0
        for r in results:
            if r.outcome is None:
                self._inventory.record_agent_error(account_id, r.image_id, r.agent_error)
                errors += 1
                continue
            outcome = self._redacted(r.outcome)
            if outcome.vul_scanned:
                vulns, vul_error = self._match(outcome.os_name, outcome.components)
                outcome = replace(outcome, vulnerabilities=vulns, vul_error=vul_error)
            self._inventory.record_scan(account_id, outcome, clear_agent_error=True)
            recorded += 1
        return AgentScanReceipt(recorded, errors)
