"""The whole loop through the official SDK only, as an operator runs it: hosts report their
images (ReportHostAssets, with the repo digests the engines know), the server pulls them
from an allowed registry (``serve --pull-registry``), a CreateAssetImageScanTask scans
them, and every drill-down plus an XLSX export shows the results.  The only non-SDK steps
are the operator's (``db import`` of advisories, pushing images to the registry)."""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openpyxl
import pytest
from tencentcloud.tcss.v20201101 import models

from tests.e2e.conftest import Server, _start
from tests.e2e.sdk import common, list_images, report, tcss
from tests.e2e.test_scan_to_api import OS_RELEASE, OSV, STATUS, run
from tests.scan.source.registry_fixtures import (
    Pusher,
    RegistryServer,
    build_image,
    registry_available,
    tar_gz_layer,
)

pytestmark = pytest.mark.skipif(
    not registry_available() and not os.environ.get("IMAGEWARDEN_REQUIRE_REGISTRY"),
    reason="needs /usr/bin/docker-registry (Debian package docker-registry)",
)

# the EICAR anti-malware test string, in two halves so this file is not itself flagged
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
FAKE_AWS = b"AWS_ACCESS_KEY_ID=AKIAQWERTYUIOPASDFGH\nAWS_SECRET_ACCESS_KEY=Zx81kLmN0pQrStUvWxYz1234567890abcdEFGHIJ\n"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    reg = RegistryServer(tmp_path_factory.mktemp("loop-registry"))
    yield reg
    reg.stop()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def puller(
    request: pytest.FixtureRequest,
    registry: RegistryServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp(f"loop-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'iw.db'}"
    else:
        from tests.conftest import fresh_pg_database

        gen = fresh_pg_database("loop")
        url = next(gen)
        request.addfinalizer(lambda: next(gen, None))
    yield from _start(url, tmp, ["--pull-registry", registry.host])


def _wait_task(client: Any, task_id: str) -> models.DescribeAssetImageScanStatusResponse:
    req = models.DescribeAssetImageScanStatusRequest()
    req.TaskID = task_id
    deadline = time.monotonic() + 180
    while (st := client.DescribeAssetImageScanStatus(req)).Status != "END":
        assert time.monotonic() < deadline, "the scan task did not finish"
        time.sleep(0.3)
    return st


def _req(cls: type, **fields: Any) -> Any:
    r = cls()
    r.from_json_string(json.dumps(fields))
    return r


def test_report_pull_scan_drill_down_export(puller: Server, registry: RegistryServer) -> None:
    server = puller
    assert run("db", "import", str(OSV), "--db", server.db_url).returncode == 0
    sid, skey, _ = server.new_account()
    pusher = Pusher(registry.base)
    try:
        app = build_image(
            "app",
            layers=[
                tar_gz_layer(
                    {"etc/os-release": OS_RELEASE.encode(), "var/lib/dpkg/status": STATUS.encode()}
                ),
                tar_gz_layer({"srv/tool.com": EICAR, "app/.env": FAKE_AWS}),
            ],
        )
        app_digest = pusher.image("loop/app", app, tag="1.0")
        other = build_image("other")  # pushed, but reported from a registry we do not allow
        other_digest = pusher.image("loop/other", other, tag="2.0")
    finally:
        pusher.close()
    app_id, other_id = app.config.digest, other.config.digest

    out = report(
        common(server.endpoint, sid, skey),
        {"HostID": "node-1", "HostName": "node-1", "IPs": ["10.0.0.7"]},
        [
            {
                "ImageID": app_id,
                "RepoTags": [f"{registry.host}/loop/app:1.0"],
                "RepoDigests": [f"{registry.host}/loop/app@{app_digest}"],
            },
            {
                "ImageID": other_id,
                "RepoTags": ["elsewhere.example/loop/other:2.0"],
                "RepoDigests": [f"elsewhere.example/loop/other@{other_digest}"],
            },
        ],
        [{"ContainerID": "c1", "Name": "web", "ImageID": app_id, "State": "running"}],
    )
    assert out["ImageCount"] == 2

    client = tcss(server.endpoint, sid, skey)
    task = client.CreateAssetImageScanTask(
        _req(
            models.CreateAssetImageScanTaskRequest,
            All=True,
            ScanVul=True,
            ScanVirus=True,
            ScanRisk=True,
        )
    )
    st = _wait_task(client, task.TaskID)
    assert (st.ImageTotal, st.ImageScanCnt) == (2, 2)

    rows = {i.ImageID: i for i in list_images(client).List}
    app_row, other_row = rows[app_id], rows[other_id]
    assert app_row.ScanStatus == "SCANNED" and app_row.OsName == "debian:12"
    assert app_row.ComponentCnt == 2 and app_row.VulCnt > 0 and app_row.VirusCnt == 1
    assert app_row.RiskCnt >= 2 and app_row.IsSuggest == 1  # running + malware
    # not pulled from a registry the operator did not allow: never scanned, never "clean"
    assert other_row.ScanStatus == "NOT_SCAN" and other_row.VulCnt == 0

    vulns = client.DescribeAssetImageVulList(
        _req(models.DescribeAssetImageVulListRequest, ImageID=app_id, Limit=100)
    )
    assert vulns.TotalCount == app_row.VulCnt and {v.Component for v in vulns.List} <= {
        "libssl3",
        "zlib1g",
    }
    comps = client.DescribeImageComponentList(
        _req(models.DescribeImageComponentListRequest, ImageID=app_id)
    )
    assert {c.Name for c in comps.List} == {"libssl3", "zlib1g"}
    hosts = client.DescribeAssetImageHostList(
        _req(
            models.DescribeAssetImageHostListRequest,
            Filters=[{"Name": "ImageID", "Values": [app_id]}],
        )
    )
    assert [h.HostID for h in hosts.List] == ["node-1"]
    virus = client.DescribeAssetImageVirusList(
        _req(models.DescribeAssetImageVirusListRequest, ImageID=app_id)
    )
    assert [v.Path for v in virus.List] == ["/srv/tool.com"]
    risks = client.DescribeAssetImageRiskList(
        _req(models.DescribeAssetImageRiskListRequest, ImageID=app_id, Limit=100)
    )
    wire = json.dumps([r._serialize() for r in risks.List])
    assert "/app/.env" in wire and "AKIAQWERTYUIOPASDFGH" not in wire
    detail = client.DescribeAssetImageDetail(
        _req(models.DescribeAssetImageDetailRequest, ImageID=app_id)
    )
    assert detail.VirusCnt == 1 and detail.SensitiveInfoCnt >= 1 and detail.HostCnt == 1

    job = client.CreateImageExportJob(
        _req(
            models.CreateImageExportJobRequest,
            ExportField=["ImageID", "ImageName", "VulCnt", "VirusCnt", "ScanStatus"],
        )
    )
    deadline = time.monotonic() + 60
    while (
        res := client.DescribeExportJobResult(
            _req(models.DescribeExportJobResultRequest, JobId=job.JobId)
        )
    ).ExportStatus != "SUCCESS":
        assert res.ExportStatus == "RUNNING" and time.monotonic() < deadline, res.FailureMsg
        time.sleep(0.2)
    book = openpyxl.load_workbook(io.BytesIO(httpx.get(res.DownloadURL, timeout=30).content))
    table = list(book.active.iter_rows(values_only=True))
    assert table[0] == ("ImageID", "ImageName", "VulCnt", "VirusCnt", "ScanStatus")
    by_id = {r[0]: r for r in table[1:]}
    assert by_id[app_id][2:] == (app_row.VulCnt, 1, "SCANNED")
    assert by_id[other_id][4] == "NOT_SCAN"


def test_reported_images_are_not_pulled_without_an_allowed_registry(
    server: Server, registry: RegistryServer
) -> None:
    """The default server (no --pull-registry): a host report cannot make it fetch anything."""
    sid, skey, _ = server.new_account()
    pusher = Pusher(registry.base)
    try:
        img = build_image("unallowed")
        digest = pusher.image("loop/unallowed", img, tag="1")
    finally:
        pusher.close()
    report(
        common(server.endpoint, sid, skey),
        {"HostID": "n"},
        [
            {
                "ImageID": img.config.digest,
                "RepoDigests": [f"{registry.host}/loop/unallowed@{digest}"],
            }
        ],
    )
    client = tcss(server.endpoint, sid, skey)
    task = client.CreateAssetImageScanTask(_req(models.CreateAssetImageScanTaskRequest, All=True))
    _wait_task(client, task.TaskID)
    (row,) = list_images(client).List
    assert row.ScanStatus == "NOT_SCAN"
    summary = client.DescribeAssetImageScanTask(models.DescribeAssetImageScanTaskRequest())
    assert summary.SubStatus == "Error"  # the image counts as failed: no source to read
