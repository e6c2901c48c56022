"""DescribeAssetImageVirusList, DescribeAssetImageRiskList, DescribeAssetImageDetail and
DescribeAssetImageSimpleList through the official SDK against a real server.

The findings are recorded with ``InventoryService.record_scan`` from records built here (the
seam the detectors feed); the server process reads them from the shared database.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.tcss.v20201101 import models, tcss_client

from imagewarden.inventory.models import (
    ComponentRecord,
    HistoryStep,
    RiskRecord,
    ScanOutcome,
    ScanStatus,
    VirusRecord,
    VulnerabilityRecord,
)
from tests.e2e.conftest import Server
from tests.e2e.sdk import Pacer, common, list_images, report, tcss
from tests.factories import image_id

T1 = datetime(2026, 3, 1, 8, 0, 0)
T2 = datetime(2026, 3, 2, 9, 30, 0)


def virus(name: str, path: str, level: int, engine: str = "yara", size: int = 100) -> VirusRecord:
    return VirusRecord(
        path=path,
        file_name=path.rsplit("/", 1)[1],
        virus_name=name,
        risk_level=level,
        md5="44d88612fea8a8f36de82e1278abb02f",
        size=size,
        tags=("malware",),
        desc=f"{name} found",
        solution="Delete the file and rebuild the image",
        engine=engine,
    )


VIRUSES = (
    virus("EICAR-Test-File", "/opt/app/eicar.com", 3, "yara", 68),
    virus("Linux.Miner.XMRig", "/usr/local/bin/xmrig", 4, "hash", 4_000_000),
    virus("Webshell.PHP.Generic", "/var/www/shell.php", 2, "clamav", 900),
)
RISKS = (
    RiskRecord(
        "sensitive",
        "aws-access-key-id",
        4,
        1,
        4,
        "AWS access key ID in /app/.env:3",
        "AWS_ACCESS_KEY_ID=AKIA************",
        path="/app/.env",
        line=3,
        excerpt="AWS_ACCESS_KEY_ID=AKIA************",
    ),
    RiskRecord("build", "run-as-root", 2, 2, 2, "The image runs as root", "USER root"),
    RiskRecord(
        "build", "curl-pipe-shell", 3, 2, 3, "A script is piped into a shell", "RUN curl x|sh"
    ),
    RiskRecord("build", "add-remote", 3, 1, 1, "ADD fetches a remote URL", "ADD http://x /y"),
)


def call(client: tcss_client.TcssClient, pacer: Pacer, action: str, **params: Any) -> Any:
    pacer.wait()
    req = getattr(models, f"{action}Request")()
    req.from_json_string(json.dumps(params))
    return getattr(client, action)(req)


def code_of(client: tcss_client.TcssClient, pacer: Pacer, action: str, **params: Any) -> str:
    with pytest.raises(TencentCloudSDKException) as info:
        call(client, pacer, action, **params)
    return str(info.value.code)


def seed(server: Server, label: str) -> tuple[tcss_client.TcssClient, int, str, str]:
    sid, skey, acct = server.new_account()
    app, db = image_id(f"{label}-app"), image_id(f"{label}-db")
    report(
        common(server.endpoint, sid, skey),
        {"HostID": "node-1"},
        [
            {
                "ImageID": app,
                "RepoTags": ["shop/app:1.0"],
                "RepoDigests": ["shop/app@sha256:" + "d" * 64],
                "Size": 5000,
            },
            {"ImageID": db, "RepoTags": ["shop/db:2"], "Size": 900},
        ],
        [  # ContainerCnt counts running containers
            {"ContainerID": "c1", "ImageID": app, "State": "running"},
            {"ContainerID": "c2", "ImageID": app, "State": "running"},
        ],
    )
    server.service.record_scan(
        acct,
        ScanOutcome(
            image_id=app,
            status=ScanStatus.SCANNED,
            scan_time=T1,
            os_name="debian:12",
            components=(ComponentRecord("zlib1g", "1:1.2.13.dfsg-1", "deb"),),
            vulnerabilities=(
                VulnerabilityRecord("CVE-2023-1", "CVE-2023-1", "zlib1g", "1", "deb", "HIGH"),
            ),
            viruses=VIRUSES,
            risks=RISKS,
            author="ops@example.com",
            build_history=(HistoryStep("2026-01-01T00:00:00Z", "ENV DB_PASSWORD=******", True),),
        ),
    )
    return tcss(server.endpoint, sid, skey), acct, app, db


def test_virus_list(server: Server) -> None:
    client, _, app, db = seed(server, "virus")
    p = Pacer()
    r = call(client, p, "DescribeAssetImageVirusList", ImageID=app)
    assert r.TotalCount == 3 and r.VirusScanStatus == 2
    assert [v.RiskLevel for v in r.List] == [4, 3, 2]  # default: RiskLevel descending
    eicar = next(v for v in r.List if v.VirusName == "EICAR-Test-File")
    assert (eicar.Path, eicar.FileName, eicar.Size, eicar.Md5) == (
        "/opt/app/eicar.com",
        "eicar.com",
        68,
        "44d88612fea8a8f36de82e1278abb02f",
    )
    assert eicar.Tags == ["malware"] and eicar.Solution.startswith("Delete")
    assert eicar.FirstScanTime == eicar.LatestScanTime == "2026-03-01T08:00:00Z"
    assert {v.VirusName: v.CheckPlatform for v in r.List} == {
        "EICAR-Test-File": ["1"],
        "Linux.Miner.XMRig": ["5"],
        "Webshell.PHP.Generic": ["2"],
    }
    named = call(
        client,
        p,
        "DescribeAssetImageVirusList",
        ImageID=app,
        Filters=[{"Name": "Name", "Values": ["miner", "webshell"]}],
        By="Size",
        Order="asc",
    )
    assert [v.VirusName for v in named.List] == ["Webshell.PHP.Generic", "Linux.Miner.XMRig"]
    level = call(
        client,
        p,
        "DescribeAssetImageVirusList",
        ImageID=app,
        Filters=[{"Name": "RiskLevel", "Values": ["3", "4"]}],
    )
    assert level.TotalCount == 2 and {v.RiskLevel for v in level.List} == {3, 4}
    paged = [
        call(client, p, "DescribeAssetImageVirusList", ImageID=app, Limit=1, Offset=i, Order="asc")
        for i in range(3)
    ]
    assert [x.List[0].RiskLevel for x in paged] == [2, 3, 4] and paged[0].TotalCount == 3
    # the other image was never scanned: empty list, status 0 (not "clean")
    none = call(client, p, "DescribeAssetImageVirusList", ImageID=db)
    assert (none.TotalCount, none.List, none.VirusScanStatus) == (0, [], 0)


def test_risk_list(server: Server) -> None:
    client, _, app, _ = seed(server, "risk")
    p = Pacer()
    r = call(client, p, "DescribeAssetImageRiskList", ImageID=app, Limit=100)
    assert r.TotalCount == 4 and [x.Level for x in r.List] == [4, 3, 2, 1]
    aws = r.List[0]
    assert (aws.Behavior, aws.Type, aws.Desc, aws.InstructionContent) == (
        4,
        1,
        "AWS access key ID in /app/.env:3",
        "AWS_ACCESS_KEY_ID=AKIA************",
    )
    behavior = call(
        client,
        p,
        "DescribeAssetImageRiskList",
        ImageID=app,
        Filters=[{"Name": "Behavior", "Values": ["3"]}],
        By="Level",
        Order="asc",
    )
    assert [x.InstructionContent for x in behavior.List] == ["ADD http://x /y", "RUN curl x|sh"]
    typed = call(
        client,
        p,
        "DescribeAssetImageRiskList",
        ImageID=app,
        Filters=[{"Name": "Type", "Values": ["2"]}, {"Name": "Level", "Values": ["HIGH"]}],
    )
    assert typed.TotalCount == 1 and typed.List[0].InstructionContent == "RUN curl x|sh"
    page = call(client, p, "DescribeAssetImageRiskList", ImageID=app, Limit=2, Offset=2)
    assert page.TotalCount == 4 and [x.Level for x in page.List] == [2, 1]


def test_detail(server: Server) -> None:
    client, acct, app, db = seed(server, "detail")
    p = Pacer()
    d = call(client, p, "DescribeAssetImageDetail", ImageID=app)
    assert (d.ImageID, d.ImageName, d.ImageDigest) == (app, "shop/app:1.0", "sha256:" + "d" * 64)
    assert d.RepoDigests == ["shop/app@sha256:" + "d" * 64]
    assert (d.HostCnt, d.ContainerCnt, d.SuperNodeCnt, d.Size) == (1, 2, 0, 5000)
    assert (d.VulCnt, d.VirusCnt, d.RiskCnt, d.SensitiveInfoCnt) == (1, 3, 3, 1)
    assert (d.ScanStatus, d.Status, d.ScanTime, d.OsName) == (
        "SCANNED",
        2,
        "2026-03-01T08:00:00Z",
        "debian:12",
    )
    assert (d.ScanVulProgress, d.ScanVirusProgress, d.ScanRiskProgress) == (100, 100, 100)
    assert (d.ScanVulError, d.ScanVirusError, d.ScanRiskError, d.ScanError) == ("", "", "", "")
    assert d.Author == "ops@example.com" and d.RemainScanTime == 0
    assert json.loads(d.BuildHistory) == [
        {
            "Created": "2026-01-01T00:00:00Z",
            "CreatedBy": "ENV DB_PASSWORD=******",
            "EmptyLayer": True,
            "Comment": "",
        }
    ]
    # the list agrees: ImagesInfo.RiskCnt = sensitive + build-step risks
    row = list_images(client, p, Filters=[{"Name": "ImageID", "Values": [app]}]).List[0]
    assert (row.VirusCnt, row.RiskCnt) == (3, 4)
    assert (d.IsAuthorized, d.IsTrustImage) == (row.IsAuthorized, row.IsTrustImage)

    fresh = call(client, p, "DescribeAssetImageDetail", ImageID=db)
    assert (fresh.ScanStatus, fresh.Status, fresh.ScanTime, fresh.ScanVirusProgress) == (
        "NOT_SCAN",
        0,
        "",
        0,
    )
    assert (fresh.VirusCnt, fresh.RiskCnt, fresh.SensitiveInfoCnt, fresh.BuildHistory) == (
        0,
        0,
        0,
        "",
    )

    # a category error on a finished scan
    server.service.record_scan(
        acct,
        ScanOutcome(
            db, ScanStatus.SCANNED, T2, virus_error="clamd is not reachable", risks=RISKS[1:2]
        ),
    )
    e = call(client, p, "DescribeAssetImageDetail", ImageID=db)
    assert (e.ScanVirusError, e.ScanVirusProgress, e.RiskCnt, e.Status) == (
        "clamd is not reachable",
        100,
        1,
        2,
    )
    assert call(client, p, "DescribeAssetImageVirusList", ImageID=db).VirusScanStatus == 3


def test_rescan_replaces_findings(server: Server) -> None:
    client, acct, app, _ = seed(server, "rescan")
    p = Pacer()
    server.service.record_scan(
        acct, ScanOutcome(app, ScanStatus.SCANNED, T2, viruses=VIRUSES[:1], risks=RISKS[2:3])
    )
    v = call(client, p, "DescribeAssetImageVirusList", ImageID=app)
    assert [x.VirusName for x in v.List] == ["EICAR-Test-File"] and v.TotalCount == 1
    assert (v.List[0].FirstScanTime, v.List[0].LatestScanTime) == (
        "2026-03-01T08:00:00Z",
        "2026-03-02T09:30:00Z",
    )
    r = call(client, p, "DescribeAssetImageRiskList", ImageID=app)
    assert [x.InstructionContent for x in r.List] == ["RUN curl x|sh"]
    d = call(client, p, "DescribeAssetImageDetail", ImageID=app)
    assert (d.VirusCnt, d.RiskCnt, d.SensitiveInfoCnt) == (1, 1, 0)
    # a failed scan shows no findings at all
    server.service.record_scan(
        acct, ScanOutcome(app, ScanStatus.SCAN_ERR, T2, error="layer truncated", viruses=VIRUSES)
    )
    v = call(client, p, "DescribeAssetImageVirusList", ImageID=app)
    assert (v.TotalCount, v.VirusScanStatus) == (0, 3)
    d = call(client, p, "DescribeAssetImageDetail", ImageID=app)
    assert (d.ScanStatus, d.Status, d.VirusCnt, d.ScanError) == (
        "SCAN_ERR",
        3,
        0,
        "layer truncated",
    )


def test_simple_list(server: Server) -> None:
    client, _, app, db = seed(server, "simple")
    p = Pacer()
    r = call(client, p, "DescribeAssetImageSimpleList")
    assert r.TotalCount == 2 and {x.ImageID for x in r.List} == {app, db}
    by = call(client, p, "DescribeAssetImageSimpleList", By="ContainerCnt", Order="desc")
    first = by.List[0]
    assert (first.ImageID, first.ImageName, first.ContainerCnt, first.Size, first.ScanTime) == (
        app,
        "shop/app:1.0",
        2,
        5000,
        "2026-03-01T08:00:00Z",
    )
    assert by.List[1].ScanTime == ""
    kw = call(
        client, p, "DescribeAssetImageSimpleList", Filters=[{"Name": "Keywords", "Values": ["DB"]}]
    )
    assert [x.ImageID for x in kw.List] == [db]
    by_id = call(
        client,
        p,
        "DescribeAssetImageSimpleList",
        Filters=[{"Name": "Keywords", "Values": [app[7:19]]}],
    )
    assert [x.ImageID for x in by_id.List] == [app]
    page = call(
        client, p, "DescribeAssetImageSimpleList", By="Size", Order="asc", Limit=1, Offset=1
    )
    assert page.TotalCount == 2 and [x.Size for x in page.List] == [5000]


def test_errors_and_account_isolation(server: Server) -> None:
    client, _, app, _ = seed(server, "errors")
    other, _, _, _ = seed(server, "errors-other")
    p = Pacer()
    for action in (
        "DescribeAssetImageVirusList",
        "DescribeAssetImageRiskList",
        "DescribeAssetImageDetail",
    ):
        # another account's image, and an image nobody has, are not found
        assert code_of(other, p, action, ImageID=app) == "ResourceNotFound"
        assert code_of(client, p, action, ImageID="sha256:" + "0" * 64) == "ResourceNotFound"
        assert code_of(client, p, action) == "MissingParameter"
        assert code_of(client, p, action, ImageID="nginx") == "InvalidParameterValue"
    for action, params in (
        ("DescribeAssetImageVirusList", {"By": "Colour"}),
        ("DescribeAssetImageVirusList", {"Filters": [{"Name": "Colour", "Values": ["x"]}]}),
        ("DescribeAssetImageVirusList", {"Filters": [{"Name": "RiskLevel", "Values": ["9"]}]}),
        ("DescribeAssetImageRiskList", {"Order": "sideways"}),
        ("DescribeAssetImageRiskList", {"Filters": [{"Name": "Behavior", "Values": ["x"]}]}),
        ("DescribeAssetImageVirusList", {"Limit": 101}),
    ):
        assert code_of(client, p, action, ImageID=app, **params).startswith("InvalidParameter"), (
            action,
            params,
        )
    assert code_of(client, p, "DescribeAssetImageSimpleList", By="Colour") == (
        "InvalidParameterValue"
    )
    assert code_of(
        client, p, "DescribeAssetImageSimpleList", Filters=[{"Name": "Colour", "Values": ["x"]}]
    ) == ("InvalidParameterValue")
    # the other account's simple list holds only its own images
    mine = {x.ImageID for x in call(other, p, "DescribeAssetImageSimpleList").List}
    assert app not in mine and len(mine) == 2
