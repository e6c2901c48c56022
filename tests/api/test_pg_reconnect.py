"""The server's PostgreSQL backends terminated between two requests (a database restart, an
operator's ``pg_terminate_backend``): the next requests still answer, correctly.

A listing checks its pooled connection out without a ping and, finding it dead, reads again
on a fresh one; a write's checkout is pinged, so it starts on a live connection and runs
once.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.factories import image_id
from tests.hardening.proc import ServerProcess, post
from tests.inventory.test_listing_round_trips import _terminate


@pytest.mark.postgres
def test_requests_after_the_backends_were_terminated(pg_migrated: str, tmp_path: Path) -> None:
    from tests.conftest import _truncate_all

    _truncate_all(pg_migrated)
    srv = ServerProcess(
        pg_migrated, tmp_path, log_level="info", extra=("--scan-workers", "0", "--no-rate-limits")
    )
    srv.start()
    try:
        sid, skey, _ = srv.new_account()
        ep = srv.endpoint
        report = {
            "Host": {"HostID": "h1"},
            "Images": [{"ImageID": image_id(f"r{i}"), "RepoTags": [f"r/{i}:1"]} for i in range(12)],
        }
        with httpx.Client(timeout=60) as c:
            assert post(c, ep, sid, skey, "ReportHostAssets", report)["ImageCount"] == 12
            first = post(c, ep, sid, skey, "DescribeAssetImageList", {"Limit": 5})
            assert first["TotalCount"] == 12 and len(first["List"]) == 5
            time.sleep(0.6)  # past the key cache: the SecretId lookup meets a dead connection too
            assert _terminate(pg_migrated) >= 1
            second = post(c, ep, sid, skey, "DescribeAssetImageList", {"Limit": 5})
            assert second["List"] == first["List"] and second["TotalCount"] == 12

            # a write right after the same: pinged at checkout, applied once
            assert _terminate(pg_migrated) >= 1
            more = {"Host": {"HostID": "h2"}, "Images": [{"ImageID": image_id("new")}]}
            assert post(c, ep, sid, skey, "ReportHostAssets", more)["ImageCount"] == 1
            third = post(c, ep, sid, skey, "DescribeAssetImageList", {"Limit": 100})
            assert third["TotalCount"] == 13
            assert sum(1 for r in third["List"] if r["ImageID"] == image_id("new")) == 1
        srv.stop()
        logs = srv.logs()
        assert "Traceback" not in logs, logs[-3000:]
        assert "MainDBFail" not in logs
        assert "reading again" in logs  # the listing did meet a dead connection
    finally:
        srv.close()
