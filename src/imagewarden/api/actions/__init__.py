"""The explicit list of exposed actions (one line per action group)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from imagewarden.api.actions import host_reports, image_details, image_findings, images, scan_tasks
from imagewarden.api.registry import Action
from imagewarden.inventory.service import InventoryService
from imagewarden.jobs.tasks import TaskService

if TYPE_CHECKING:
    from imagewarden.features import Features
    from imagewarden.inventory.agent_scans import VulnMatcher

__all__ = ["all_actions"]


def all_actions(
    service: InventoryService,
    tasks: TaskService,
    features: Features | None = None,
    vuln_matcher: VulnMatcher | None = None,
) -> tuple[Action[Any, Any], ...]:
    """``vuln_matcher``: the server's vulnerability matching for agent-side scan results
    (``jobs.component_match``); without it ReportImageScanResults is not exposed."""
    core = (
        *images.actions(service, features.licences if features is not None else None),
        *image_details.actions(service),
        *image_findings.actions(service),
        *host_reports.actions(service),
        *scan_tasks.actions(tasks),
        *_agent_scans(service, vuln_matcher),
    )
    if features is None:
        return core
    from imagewarden.api.actions import exports, licences, scan_settings

    return (
        *licences.licence_gate(features.licences, core),
        *licences.actions(features.licences),
        *exports.actions(features.exports),
        *scan_settings.actions(features.settings),
    )


def _agent_scans(
    service: InventoryService, matcher: VulnMatcher | None
) -> tuple[Action[Any, Any], ...]:
    if matcher is None:
        return ()
    from imagewarden.api.actions import agent_scans
    from imagewarden.inventory.agent_scans import AgentScanService
    from imagewarden.jobs.scanning import redact_instruction

    return agent_scans.actions(AgentScanService(service, matcher, redact_instruction))
