"""The ASGI factory uvicorn workers import (settings travel through the environment)."""

from __future__ import annotations

import os
from pathlib import Path

from imagewarden.api.app import ApiApp
from imagewarden.cli.worker_cmd import ENV_QUEUE, ENV_QUEUE_NAME
from imagewarden.server import build_app, open_runtime

ENV_DB = "IMAGEWARDEN_DB"
ENV_KEY = "IMAGEWARDEN_KEY_FILE"
ENV_RATE = "IMAGEWARDEN_RATE_LIMITS"
ENV_SCAN_WORKERS = "IMAGEWARDEN_SCAN_WORKERS"
ENV_CACHE = "IMAGEWARDEN_CACHE_DIR"
ENV_CLAMD = "IMAGEWARDEN_CLAMD"
ENV_PULL = "IMAGEWARDEN_PULL_REGISTRIES"


def create_app() -> ApiApp:
    queue = os.environ.get(ENV_QUEUE) or None
    rt = open_runtime(
        os.environ[ENV_DB],
        Path(os.environ[ENV_KEY]),
        migrate=False,
        queue_url=queue,
        queue_name=os.environ.get(ENV_QUEUE_NAME) or None,
        pull_registries=os.environ.get(ENV_PULL, "").split(","),
    )
    from imagewarden.cli.rules import resolve_rules_dir

    cache = os.environ.get(ENV_CACHE)
    return build_app(
        rt,
        rate_limits=os.environ.get(ENV_RATE, "1") == "1",
        scan_workers=0 if queue else int(os.environ.get(ENV_SCAN_WORKERS, "1")),
        cache_dir=Path(cache) if cache else None,
        rules_dir=resolve_rules_dir(None, os.environ[ENV_DB]),
        clamd=os.environ.get(ENV_CLAMD) or None,
    )
