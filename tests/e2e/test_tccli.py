"""tccli, unchanged, pointed at the server with --endpoint http://127.0.0.1:PORT."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import Server
from tests.e2e.sdk import common, report

TCCLI = shutil.which("tccli", path=str(Path(sys.executable).parent)) or shutil.which("tccli")


def run_tccli(
    server: Server, home: Path, sid: str, skey: str, *args: str
) -> subprocess.CompletedProcess[str]:
    assert TCCLI, "tccli is installed with the test extras"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENCENTCLOUD_")}
    env["HOME"] = str(home)  # tccli writes ~/.tccli on first run
    return subprocess.run(
        [
            TCCLI,
            "tcss",
            "DescribeAssetImageList",
            "--endpoint",
            f"http://{server.endpoint}",
            "--secretId",
            sid,
            "--secretKey",
            skey,
            "--region",
            "ap-guangzhou",
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_tccli_lists_filters_and_reports_errors(server: Server, tmp_path: Path) -> None:
    sid, skey, _ = server.new_account()
    images = [
        {"ImageID": f"sha256:{n:064x}", "RepoTags": [f"web/nginx:{n}"], "Size": n}
        for n in range(1, 4)
    ]
    report(common(server.endpoint, sid, skey), {"HostID": "h1"}, images)

    out = run_tccli(server, tmp_path, sid, skey)
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["TotalCount"] == 3 and len(body["List"]) == 3 and body["RequestId"]

    out = run_tccli(
        server,
        tmp_path,
        sid,
        skey,
        "--Limit",
        "1",
        "--By",
        "Size",
        "--Order",
        "ASC",
        "--Filters",
        json.dumps([{"Name": "ImageName", "Values": ["nginx"], "ExactMatch": False}]),
    )
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["TotalCount"] == 3 and [i["ImageName"] for i in body["List"]] == ["web/nginx:1"]

    out = run_tccli(
        server,
        tmp_path,
        sid,
        skey,
        "--cli-unfold-argument",
        "--Filters.0.Name",
        "ImageName",
        "--Filters.0.Values",
        "web/nginx:2",
        "web/nginx:3",
        "--Filters.0.ExactMatch",
        "true",
    )
    assert out.returncode == 0, out.stderr
    assert {i["ImageName"] for i in json.loads(out.stdout)["List"]} == {
        "web/nginx:2",
        "web/nginx:3",
    }

    out = run_tccli(server, tmp_path, sid, skey, "--Limit", "500")
    assert out.returncode == 255
    assert "code:InvalidParameterValue" in out.stderr and "requestId:" in out.stderr


@pytest.mark.parametrize("bad", ["wrong-key"])
def test_tccli_bad_signature(server: Server, tmp_path: Path, bad: str) -> None:
    sid, _, _ = server.new_account()
    out = run_tccli(server, tmp_path, sid, bad)
    assert out.returncode == 255 and "code:AuthFailure.SignatureFailure" in out.stderr
