"""The explicit list of exposed actions (one line per action group)."""

from __future__ import annotations

from typing import Any

from imagewarden.api.actions import host_reports, images
from imagewarden.api.registry import Action
from imagewarden.inventory.service import InventoryService

__all__ = ["all_actions"]


def all_actions(service: InventoryService) -> tuple[Action[Any, Any], ...]:
    return (*images.actions(service), *host_reports.actions(service))
