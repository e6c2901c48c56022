"""The composition root: store + inventory + API, built from explicit settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from imagewarden.api.actions import all_actions
from imagewarden.api.app import ApiApp, ApiSettings
from imagewarden.api.registry import ActionRegistry
from imagewarden.console import console_routes
from imagewarden.inventory.keys import KeyCipher
from imagewarden.inventory.service import InventoryService
from imagewarden.store.engine import make_engine, make_sessionmaker
from imagewarden.store.migrate import upgrade

__all__ = ["Runtime", "build_app", "open_runtime"]


@dataclass(frozen=True)
class Runtime:
    engine: Engine
    service: InventoryService


def open_runtime(db_url: str, key_file: Path, *, migrate: bool = True) -> Runtime:
    engine = make_engine(db_url)
    if migrate:
        upgrade(engine)
    service = InventoryService(make_sessionmaker(engine), KeyCipher.from_file(key_file))
    return Runtime(engine, service)


def build_app(service: InventoryService, *, rate_limits: bool = True) -> ApiApp:
    return ApiApp(
        ActionRegistry(all_actions(service)),
        service,
        ApiSettings(rate_limits=rate_limits),
        extra_routes=console_routes(),
    )
