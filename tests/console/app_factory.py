"""An ASGI factory for uvicorn: the server's app with the console routes, for the console's e2e.

Used only until ``imagewarden serve`` itself passes ``console_routes()`` to ``ApiApp``; the
fixture in ``conftest.py`` prefers the real command once it serves ``/console``.
"""

from __future__ import annotations

import os
from pathlib import Path

from imagewarden.api.actions import all_actions
from imagewarden.api.app import ApiApp, ApiSettings
from imagewarden.api.registry import ActionRegistry
from imagewarden.cli.serve import ENV_DB, ENV_KEY, ENV_RATE
from imagewarden.console import console_routes
from imagewarden.server import open_runtime


def create_app() -> ApiApp:
    rt = open_runtime(os.environ[ENV_DB], Path(os.environ[ENV_KEY]), migrate=False)
    return ApiApp(
        ActionRegistry(all_actions(rt.service)),
        rt.service,
        ApiSettings(rate_limits=os.environ.get(ENV_RATE, "1") == "1"),
        extra_routes=console_routes(),
    )
