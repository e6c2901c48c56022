"""The quick start as a user runs it: `demo seed` prints a tccli command that returns the demo."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import _start, free_port
from tests.e2e.test_tccli import TCCLI


def test_printed_tccli_command_returns_the_demo_inventory(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    key = tmp_path / "server.key"  # the key file the test server uses
    servers = _start(db, tmp_path)
    server = next(servers)
    try:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("IMAGEWARDEN_", "TENCENTCLOUD_"))
        }
        seeded = subprocess.run(
            [
                sys.executable,
                "-m",
                "imagewarden",
                "demo",
                "seed",
                "--db",
                db,
                "--key-file",
                str(key),
                "--endpoint",
                f"http://{server.endpoint}",
            ],
            capture_output=True,
            text=True,
            env={**env, "COLUMNS": "400"},
            timeout=120,
            check=True,
        )
        line = next(
            ln for ln in seeded.stdout.splitlines() if "tccli tcss DescribeAssetImageList" in ln
        )
        argv = shlex.split(line)
        assert argv[0].endswith("tccli")
        argv[0] = str(TCCLI)
        out = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env={**env, "HOME": str(tmp_path)},
            timeout=60,
            check=False,
        )
        assert out.returncode == 0, out.stderr
        body = json.loads(out.stdout)
        assert body["TotalCount"] == 8 and len(body["List"]) == 5
        assert all(i["ImageName"].startswith("demo.imagewarden.local/") for i in body["List"])
        # seeding again changes nothing and prints the same key
        again = subprocess.run(
            seeded.args,
            capture_output=True,
            text=True,
            env={**env, "COLUMNS": "400"},
            timeout=120,
            check=True,
        )
        assert again.stdout == seeded.stdout
    finally:
        next(servers, None)
    assert free_port() > 0
