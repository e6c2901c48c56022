"""The explicit list of exposed actions (one line per action group)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from imagewarden.api.actions import host_reports, image_details, image_findings, images, scan_tasks
from imagewarden.api.registry import Action
from imagewarden.inventory.service import InventoryService
from imagewarden.jobs.tasks import TaskService

if TYPE_CHECKING:
    from imagewarden.features import Features

__all__ = ["all_actions"]


def all_actions(
    service: InventoryService, tasks: TaskService, features: Features | None = None
) -> tuple[Action[Any, Any], ...]:
    core = (
        *images.actions(service),
        *image_details.actions(service),
        *image_findings.actions(service),
        *host_reports.actions(service),
        *scan_tasks.actions(tasks),
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
