"""Image-list exports, image licences and periodic scans through the official SDK."""

from __future__ import annotations

import csv
import io
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import openpyxl
import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.tcss.v20201101 import models

from imagewarden.inventory.exports import UrlSigner
from imagewarden.inventory.models import ScanStatus
from imagewarden.inventory.service import utcnow
from imagewarden.jobs.schedule import ScanSettings, Scheduler
from imagewarden.jobs.tasks import TaskService
from imagewarden.store.engine import make_engine, make_sessionmaker
from imagewarden.store.jobs import SqlJobQueue
from tests.e2e.conftest import Server
from tests.e2e.sdk import Pacer, list_images, tcss
from tests.e2e.test_scan_to_api import OS_RELEASE, STATUS, run
from tests.e2e.test_sdk import scan, seed
from tests.testdata.images.build import make_image, write_oci_layout

FIELDS = [
    "ImageID",
    "ImageName",
    "CreateTime",
    "HostCnt",
    "ScanTime",
    "ScanStatus",
    "VulCnt",
    "HighLevelVulCnt",
    "IsTrustImage",
    "IsAuthorized",
    "ScanError",
]


def _code(fn: Callable[[], Any]) -> str:
    with pytest.raises(TencentCloudSDKException) as info:
        fn()
    return str(info.value.code)


def _req(cls: type, **fields: Any) -> Any:
    r = cls()
    for k, v in fields.items():
        setattr(r, k, v)
    return r


def _wait_export(client: Any, job_id: str) -> models.DescribeExportJobResultResponse:
    deadline = time.monotonic() + 60
    while True:
        res = client.DescribeExportJobResult(
            _req(models.DescribeExportJobResultRequest, JobId=job_id)
        )
        assert res.ExportStatus in ("RUNNING", "SUCCESS"), res.FailureMsg
        assert 0 <= res.ExportProgress <= 100
        if res.ExportStatus == "SUCCESS":
            return res
        assert time.monotonic() < deadline, "the export did not finish"
        time.sleep(0.2)


def _all_list_rows(client: Any, pacer: Pacer, **params: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = list_images(client, pacer, Limit=4, Offset=offset, **params)
        out += [{f: getattr(i, f) for f in FIELDS} for i in page.List]
        offset += 4
        if offset >= page.TotalCount:
            return out


def test_export_job_writes_the_list_as_xlsx_and_csv(server: Server) -> None:
    sid, skey, account = server.new_account()
    ids = seed(server, sid, skey, n=11)
    scan(server, account, ids[1], ("HIGH", "LOW"))
    scan(server, account, ids[2], (), status=ScanStatus.SCAN_ERR)
    scan(server, account, ids[3], ("CRITICAL",))
    client, pacer = tcss(server.endpoint, sid, skey), Pacer()
    filters = [{"Name": "ImageName", "Values": ["app1", "app2"]}]
    expected = _all_list_rows(client, pacer, Filters=filters, By="HostCnt", Order="asc")
    assert 3 < len(expected) < 11  # the filter matters

    create = models.CreateImageExportJobRequest()
    create.from_json_string(
        '{"Filters": [{"Name": "ImageName", "Values": ["app1", "app2"]}], '
        '"By": "hostcnt", "Order": "ASC", "ExportField": ' + str(FIELDS).replace("'", '"') + "}"
    )
    made = client.CreateImageExportJob(create)
    assert made.JobId and made.DownloadUrl.startswith(f"http://{server.endpoint}/exports/download?")
    done = _wait_export(client, made.JobId)
    assert done.ExportProgress == 100 and done.FailureMsg == ""

    xlsx = httpx.get(done.DownloadURL, timeout=30)
    assert xlsx.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == FIELDS
    got = [{f: ("" if v is None else v) for f, v in zip(FIELDS, r, strict=True)} for r in rows[1:]]
    assert got == expected

    url = urlsplit(done.DownloadURL)
    csv_url = done.DownloadURL.replace("format=xlsx", "format=csv")
    text = httpx.get(csv_url, timeout=30).text
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == FIELDS
    as_text = [
        [str(v).lower() if isinstance(v, bool) else str(v) for v in r.values()] for r in expected
    ]
    assert table[1:] == as_text

    # the URL is the authorisation: tampered, expired or another job's token → 403
    q = {k: v[0] for k, v in parse_qs(url.query).items()}
    base = f"{url.scheme}://{url.netloc}{url.path}"
    bad_sig = dict(q, sig="0" * 64)
    assert httpx.get(base, params=bad_sig).status_code == 403
    signer = UrlSigner.from_key_file(server.key_file)
    past = int(time.time()) - 5
    expired = dict(q, expires=str(past), sig=signer.sign(made.JobId, account, past))
    assert httpx.get(base, params=expired).status_code == 403
    future = int(time.time()) + 600
    wrong_account = dict(q, expires=str(future), sig=signer.sign(made.JobId, account + 1, future))
    assert httpx.get(base, params=wrong_account).status_code == 403
    right = dict(q, expires=str(future), sig=signer.sign(made.JobId, account, future))
    assert httpx.get(base, params=right).status_code == 200

    # another account sees neither the job nor, through its own URLs, the file
    osid, oskey, _ = server.new_account()
    other = tcss(server.endpoint, osid, oskey)
    assert (
        _code(
            lambda: other.DescribeExportJobResult(
                _req(models.DescribeExportJobResultRequest, JobId=made.JobId)
            )
        )
        == "ResourceNotFound"
    )
    bad_field = _req(models.CreateImageExportJobRequest, ExportField=["ImageID", "Nope"])
    assert _code(lambda: client.CreateImageExportJob(bad_field)) == "InvalidParameterValue"
    bad_sort = _req(models.CreateImageExportJobRequest, By="Colour")
    assert _code(lambda: client.CreateImageExportJob(bad_sort)) == "InvalidParameterValue"
    assert (
        _code(lambda: client.DescribeExportJobResult(models.DescribeExportJobResultRequest()))
        == "MissingParameter"
    )


def _add_images(server: Server, tmp: Path, account: str, n: int) -> list[str]:
    refs, ids = [], []
    for i in range(n):
        img = make_image(
            [{"etc/os-release": OS_RELEASE, "var/lib/dpkg/status": STATUS, f"f{i}": "x"}]
        )
        refs.append(f"oci:{write_oci_layout(tmp / f'img{i}', [(f'lic{i}:1', img)])}")
        ids.append(img.config_digest)
    added = run(
        "images", "add", *refs, "--account", account, "--db", server.db_url,
        "--key-file", str(server.key_file),
    )  # fmt: skip
    assert added.returncode == 0, added.stdout + added.stderr
    return ids


def _licences(server: Server, *args: str) -> str:
    out = run("licences", *args, "--db", server.db_url, "--key-file", str(server.key_file))
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def _wait_task(client: Any, task_id: str) -> models.DescribeAssetImageScanStatusResponse:
    deadline = time.monotonic() + 120
    while True:
        st = client.DescribeAssetImageScanStatus(
            _req(models.DescribeAssetImageScanStatusRequest, TaskID=task_id)
        )
        if st.Status == "END":
            return st
        assert time.monotonic() < deadline, "the task did not finish"
        time.sleep(0.3)


def test_licences_decide_is_authorized_and_what_is_scanned(server: Server, tmp_path: Path) -> None:
    account = f"lic-{uuid.uuid4().hex[:8]}"
    sid, skey, _ = server.service.create_key(account)
    client, pacer = tcss(server.endpoint, sid, skey), Pacer()
    ids = seed(server, sid, skey, n=6)  # reported, no readable bytes
    info = client.DescribeImageAuthorizedInfo(models.DescribeImageAuthorizedInfoRequest())
    assert (info.TotalAuthorizedCnt, info.UsedAuthorizedCnt, info.NotScannedImageCnt) == (
        1000,
        6,
        0,
    )
    assert "4 licence(s), 2 revoked" in _licences(
        server, "set", "--account", account, "--count", "4"
    )
    real = _add_images(server, tmp_path, account, 2)  # arrive after the quota is used up
    auth = {i.ImageID: i.IsAuthorized for i in list_images(client, pacer, Limit=100).List}
    held = [i for i in ids if auth[i] == 1]  # the four oldest rows (the store's insert order)
    assert len(held) == 4 and set(auth) == {*ids, *real} and [auth[i] for i in real] == [0, 0]
    info = client.DescribeImageAuthorizedInfo(models.DescribeImageAuthorizedInfoRequest())
    assert (info.TotalAuthorizedCnt, info.UsedAuthorizedCnt, info.ScannedImageCnt) == (4, 4, 4)
    assert (info.NotScannedImageCnt, info.ImageScanInquireInfo.Capcity) == (4, 4)

    def modify(**fields: Any) -> None:
        base = {
            "AllLocalImages": False,
            "AllRegistryImages": False,
            "UpdatedLocalImageCnt": 1,
            "UpdatedRegistryImageCnt": 0,
            "ImageSourceType": "ASSETIMAGE",
        }
        client.ModifyImageAuthorized(_req(models.ModifyImageAuthorizedRequest, **(base | fields)))

    assert _code(lambda: modify(LocalImageIds=[real[0]])) == "FailedOperation.AuthorizedNotEnough"
    assert _code(lambda: modify(AllLocalImages=True, UpdatedLocalImageCnt=0)) == (
        "InvalidParameterValue"
    )
    assert _code(lambda: modify(ImageSourceType="ELSEWHERE")) == "InvalidParameterValue"
    assert _code(lambda: client.ModifyImageAuthorized(models.ModifyImageAuthorizedRequest())) == (
        "MissingParameter"
    )
    _licences(server, "revoke", held[0], held[1], "--account", account)
    modify(LocalImageIds=[real[0], real[1]], UpdatedLocalImageCnt=1)  # the count wins
    modify(LocalImageFilter=[{"Name": "ImageName", "Values": ["lic1"]}], UpdatedLocalImageCnt=5)
    auth = {i.ImageID: i.IsAuthorized for i in list_images(client, pacer, Limit=100).List}
    assert {i for i in ids if auth[i]} == set(held[2:]) and [auth[i] for i in real] == [1, 1]

    # only licensed images are scanned: revoke one of the two readable images
    _licences(server, "revoke", real[1], "--account", account)
    task = client.CreateAssetImageScanTask(
        _req(models.CreateAssetImageScanTaskRequest, All=True, ScanVul=True)
    ).TaskID
    st = _wait_task(client, task)
    assert st.ImageTotal == 3  # real[0] plus the two licensed images without bytes
    rows = {i.ImageID: i for i in list_images(client, pacer, Limit=100).List}
    assert rows[real[0]].ScanStatus == "SCANNED" and rows[real[1]].ScanStatus == "NOT_SCAN"


def test_periodic_scan_fires_at_its_time(server: Server, tmp_path: Path) -> None:
    account = f"sched-{uuid.uuid4().hex[:8]}"
    sid, skey, account_id = server.service.create_key(account)
    client = tcss(server.endpoint, sid, skey)
    ids = _add_images(server, tmp_path, account, 2)
    off = client.DescribeAssetImageScanSetting(models.DescribeAssetImageScanSettingRequest())
    assert (off.Enable, off.ScanTime, off.LastScanTime) == (False, "", "")

    # hours away from the real clock: the server's own scheduler cannot fire it in this test
    at = (utcnow() + timedelta(hours=6)).strftime("%H:%M")
    setting = _req(
        models.CreateAssetImageScanSettingRequest,
        Enable=True, ScanTime=at, ScanPeriod=1, ScanVul=True, ScanVirus=False, ScanRisk=False,
        ScanEndTime="23:59", ExcludeImages=[ids[1]],
    )  # fmt: skip
    client.CreateAssetImageScanSetting(setting)
    got = client.DescribeAssetImageScanSetting(models.DescribeAssetImageScanSettingRequest())
    assert (got.Enable, got.ScanTime, got.ScanPeriod, got.ScanVul, got.ScanRisk) == (
        True, at, 1, True, False,
    )  # fmt: skip
    assert got.ExcludeImages == [ids[1]] and got.ScanScope == 0

    engine = make_engine(server.db_url)
    try:
        sessions = make_sessionmaker(engine)
        now = [utcnow()]

        def clock() -> datetime:
            return now[0]

        tasks = TaskService(sessions, SqlJobQueue(sessions, clock), clock)
        first, second = Scheduler(sessions, tasks, clock), Scheduler(sessions, tasks, clock)
        st = ScanSettings(sessions, clock).get(account_id)
        assert st is not None and st.next_run is not None
        fire_at = st.next_run
        assert fire_at.strftime("%H:%M") == at and timedelta(0) < fire_at - utcnow() <= timedelta(
            days=1
        )

        now[0] = fire_at - timedelta(seconds=1)
        assert first.tick() == [] and second.tick() == []
        idle = client.DescribeAssetImageScanTask(models.DescribeAssetImageScanTaskRequest())
        assert idle.Status == "READY"

        now[0] = fire_at
        fired = first.tick() + second.tick()  # two processes, one firing
        assert len(fired) == 1
        now[0] = fire_at + timedelta(minutes=5)
        assert second.tick() == []
        latest = client.DescribeAssetImageScanTask(models.DescribeAssetImageScanTaskRequest())
        assert latest.TaskID == fired[0]
        status = _wait_task(client, fired[0])
        assert status.ImageTotal == 1
        rows = {i.ImageID: i.ScanStatus for i in list_images(client).List}
        assert rows == {ids[0]: "SCANNED", ids[1]: "NOT_SCAN"}
        after = client.DescribeAssetImageScanSetting(models.DescribeAssetImageScanSettingRequest())
        assert after.LastScanTime == fire_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert after.ScanResult == "Success"
        st = ScanSettings(sessions, clock).get(account_id)
        assert st is not None and st.next_run == fire_at + timedelta(days=1)
    finally:
        engine.dispose()

    bad = _req(
        models.CreateAssetImageScanSettingRequest,
        Enable=True, ScanTime="25:00", ScanPeriod=1, ScanVul=True, ScanVirus=False, ScanRisk=False,
    )  # fmt: skip
    assert _code(lambda: client.CreateAssetImageScanSetting(bad)) == "InvalidParameterValue"
    bad.ScanTime, bad.ScanPeriod = "01:00", 0
    assert _code(lambda: client.CreateAssetImageScanSetting(bad)) == "InvalidParameterValue"
    assert (
        _code(
            lambda: client.CreateAssetImageScanSetting(models.CreateAssetImageScanSettingRequest())
        )
        == "MissingParameter"
    )
