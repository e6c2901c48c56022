"""Scan tasks through the official SDK: the server's embedded worker scans real image files."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.tcss.v20201101 import models

from tests.e2e.conftest import Server
from tests.e2e.sdk import list_images, tcss
from tests.e2e.test_scan_to_api import OS_RELEASE, STATUS, run
from tests.testdata.images.build import make_image, write_oci_layout


def _status(client, task_id: str) -> models.DescribeAssetImageScanStatusResponse:  # type: ignore[no-untyped-def]
    req = models.DescribeAssetImageScanStatusRequest()
    req.TaskID = task_id
    return client.DescribeAssetImageScanStatus(req)


def test_create_watch_and_finish_a_scan_task(server: Server, tmp_path: Path) -> None:
    account = f"task-{uuid.uuid4().hex[:8]}"
    sid, skey, _ = server.service.create_key(account)
    good = make_image([{"etc/os-release": OS_RELEASE, "var/lib/dpkg/status": STATUS}])
    bad = make_image([{"etc/os-release": OS_RELEASE, "x": "y" * 5000}])
    good_dir = write_oci_layout(tmp_path / "good", [("good:1", good)])
    bad_dir = write_oci_layout(tmp_path / "bad", [("bad:1", bad)])
    blob = bad_dir / "blobs" / "sha256" / bad.layers[0].digest.split(":", 1)[1]
    blob.write_bytes(blob.read_bytes()[:-30])
    added = run(
        "images",
        "add",
        f"oci:{good_dir}",
        f"oci:{bad_dir}",
        "--account",
        account,
        "--db",
        server.db_url,
        "--key-file",
        str(server.key_file),
    )
    assert added.returncode == 0, added.stdout + added.stderr
    client = tcss(server.endpoint, sid, skey)

    idle = client.DescribeAssetImageScanTask(models.DescribeAssetImageScanTaskRequest())
    assert (idle.TaskID, idle.Status) == ("", "READY")

    req = models.DescribeAssetImageListRequest()
    assert all(i.ScanStatus == "NOT_SCAN" for i in client.DescribeAssetImageList(req).List)

    create = models.CreateAssetImageScanTaskRequest()
    create.All = True
    create.ScanVul = True
    task_id = client.CreateAssetImageScanTask(create).TaskID
    assert task_id

    deadline = time.monotonic() + 120
    while (st := _status(client, task_id)).Status != "END":
        assert time.monotonic() < deadline, "the task did not finish"
        assert 0 <= st.Schedule <= 100 and st.ImageTotal == 2
        time.sleep(0.3)
    assert (st.ImageTotal, st.ImageScanCnt, st.Schedule, st.LeftSeconds) == (2, 2, 100, 0)
    assert st.SuccessCount + st.RiskCount == 1  # the broken image counts as neither

    summary = client.DescribeAssetImageScanTask(models.DescribeAssetImageScanTaskRequest())
    assert (summary.TaskID, summary.Status, summary.SubStatus) == (task_id, "END", "Error")
    rows = {i.ImageID: i for i in list_images(client).List}
    assert (
        rows[good.config_digest].ScanStatus == "SCANNED"
        and rows[good.config_digest].ComponentCnt == 2
    )
    assert rows[bad.config_digest].ScanStatus == "SCAN_ERR" and rows[bad.config_digest].ScanError

    stop = models.ModifyAssetImageScanStopRequest()
    stop.TaskID = task_id
    assert client.ModifyAssetImageScanStop(stop).Status == "SUCCESS"
    other = models.DescribeAssetImageScanStatusRequest()
    other.TaskID = "imagewarden-scan-nope"
    with pytest.raises(TencentCloudSDKException) as info:
        client.DescribeAssetImageScanStatus(other)
    assert info.value.code == "ResourceNotFound"
    nothing = models.CreateAssetImageScanTaskRequest()
    nothing.All = True
    nothing.ScanVul = False
    nothing.ScanVirus = False
    nothing.ScanRisk = False
    with pytest.raises(TencentCloudSDKException) as info:
        client.CreateAssetImageScanTask(nothing)
    assert info.value.code == "InvalidParameterValue"
