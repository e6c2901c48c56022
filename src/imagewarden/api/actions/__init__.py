"""The explicit list of exposed actions (one line per action group)."""

from __future__ import annotations

from typing import Any

from imagewarden.api.actions import host_reports, image_details, images, scan_tasks
from imagewarden.api.registry import Action
from imagewarden.inventory.service import InventoryService
from imagewarden.jobs.tasks import TaskService

__all__ = ["all_actions"]


def all_actions(service: InventoryService, tasks: TaskService) -> tuple[Action[Any, Any], ...]:
    return (
        *images.actions(service),
        *image_details.actions(service),
        *host_reports.actions(service),
        *scan_tasks.actions(tasks),
    )
