"""DescribeAssetImageList and ReportHostAssets through the official SDK against a real server."""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import datetime

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.tcss.v20201101 import models

from imagewarden.inventory.models import (
    ComponentRecord,
    RiskRecord,
    ScanOutcome,
    ScanStatus,
    VulnerabilityRecord,
)
from tests.e2e.conftest import Server
from tests.e2e.sdk import Pacer, common, list_images, report, tcss

IMAGES_INFO_FIELDS = [
    "ImageID",
    "ImageName",
    "CreateTime",
    "Size",
    "HostCnt",
    "SuperNodeCnt",
    "ContainerCnt",
    "ScanTime",
    "VulCnt",
    "VirusCnt",
    "RiskCnt",
    "IsTrustImage",
    "OsName",
    "AgentError",
    "ScanError",
    "ScanStatus",
    "ScanVirusError",
    "ScanVulError",
    "ScanRiskError",
    "IsSuggest",
    "IsAuthorized",
    "ComponentCnt",
    "CriticalLevelVulCnt",
    "HighLevelVulCnt",
    "MediumLevelVulCnt",
    "LowLevelVulCnt",
    "IsLatestImage",
    "RecommendedFix",
    "Solution",
    "Reason",
]
SORT_FIELDS = [
    "CreateTime",
    "ImageName",
    "Size",
    "HostCnt",
    "SuperNodeCnt",
    "ContainerCnt",
    "ScanTime",
    "VulCnt",
    "VirusCnt",
    "RiskCnt",
    "SensitiveCount",
    "ComponentCnt",
    "CriticalLevelVulCnt",
    "HighLevelVulCnt",
    "MediumLevelVulCnt",
    "LowLevelVulCnt",
    "IsSuggest",
    "IsAuthorized",
]


def iid(label: str) -> str:
    return "sha256:" + hashlib.sha256(label.encode()).hexdigest()


def seed(server: Server, sid: str, skey: str, n: int = 11) -> list[str]:
    """Report two hosts (one a super node) holding n images through the SDK's CommonClient."""
    c = common(server.endpoint, sid, skey)
    imgs = [
        {
            "ImageID": iid(f"{sid}/{i}"),
            "RepoTags": [f"app{i % 3}/svc{i}:v{i}"],
            "RepoDigests": [],
            "Size": 1000 + (i % 4) * 10,
            "CreateTime": f"2024-0{1 + i % 6}-0{1 + i % 7}T10:00:00.123456789Z",
            "OsName": "debian:12",
            "Architecture": "amd64",
        }
        for i in range(n)
    ]
    out = report(
        c,
        {"HostID": "host-a", "HostName": "a", "IPs": ["10.1.0.1"], "IsSuperNode": False},
        imgs[:8],
        [
            {
                "ContainerID": f"c{i}",
                "Name": f"n{i}",
                "ImageID": imgs[i]["ImageID"],
                "State": "running",
            }
            for i in range(0, min(8, n), 2)
        ],
    )
    assert (
        out["ImageCount"] == min(8, n)
        and out["ContainerCount"] == len(range(0, min(8, n), 2))
        and out["RequestId"]
    )
    report(
        c,
        {"HostID": "host-b", "HostName": "b", "IPs": [], "IsSuperNode": True},
        imgs[5:],
        [{"ContainerID": "x", "Name": "x", "ImageID": imgs[-1]["ImageID"], "State": "exited"}],
    )
    return [i["ImageID"] for i in imgs]


def scan(
    server: Server,
    account: int,
    image_id: str,
    sevs: tuple[str, ...],
    status: ScanStatus = ScanStatus.SCANNED,
    risk: int = 0,
) -> None:
    server.service.record_scan(
        account,
        ScanOutcome(
            image_id=image_id,
            status=status,
            scan_time=datetime(2024, 6, 1, 8, 0, 0),
            os_name="debian:12",
            error="" if status is ScanStatus.SCANNED else "digest mismatch",
            components=(ComponentRecord("zlib1g", "1:1.2.13.dfsg-1", "deb"),),
            vulnerabilities=tuple(
                VulnerabilityRecord(
                    f"CVE-2023-{k}", f"CVE-2023-{k}", "zlib1g", "1:1.2.13.dfsg-1", "deb", s
                )
                for k, s in enumerate(sevs)
            ),
            risks=tuple(
                RiskRecord("build", f"rule-{i}", 1, 2, 2, "curl piped into a shell")
                for i in range(risk)
            ),
        ),
    )


def test_empty_request_returns_every_field(server: Server) -> None:
    sid, skey, _ = server.new_account()
    ids = seed(server, sid, skey)
    resp = list_images(tcss(server.endpoint, sid, skey))  # the seed example: {}
    assert resp.TotalCount == len(ids) and len(resp.List) == 10 and resp.RequestId
    for info in resp.List:
        for f in IMAGES_INFO_FIELDS:
            assert getattr(info, f) is not None, f
    first = resp.List[0]
    assert first.CreateTime.endswith("Z") and len(first.CreateTime) == 20
    assert (
        first.ScanStatus == "NOT_SCAN"
        and first.ScanTime == ""
        and first.VulCnt == 0
        and first.OsName == "debian:12"
    )
    by_id = {i.ImageID: i for i in list_images(tcss(server.endpoint, sid, skey), Limit=100).List}
    shared = by_id[ids[6]]  # on both hosts, running on host-a
    assert (shared.HostCnt, shared.SuperNodeCnt, shared.ContainerCnt) == (2, 1, 1)
    assert (by_id[ids[9]].HostCnt, by_id[ids[9]].ContainerCnt) == (1, 0)  # exited does not count


def test_filters_through_the_sdk(server: Server) -> None:
    sid, skey, account = server.new_account()
    ids = seed(server, sid, skey)
    scan(server, account, ids[0], ("CRITICAL", "LOW"))
    scan(server, account, ids[1], ("MEDIUM",), risk=1)
    scan(server, account, ids[2], ("HIGH",), status=ScanStatus.SCAN_ERR)
    server.service.set_trust(account, [ids[3]], True)
    client, pace = tcss(server.endpoint, sid, skey), Pacer()

    def found(*filters: dict) -> set[str]:
        resp = list_images(client, pace, Limit=100, Filters=list(filters))
        assert resp.TotalCount == len(resp.List)
        return {i.ImageID for i in resp.List}

    assert found({"Name": "ImageName", "Values": ["APP1/"]}) == {
        ids[i] for i in range(11) if i % 3 == 1
    }
    assert found({"Name": "ImageName", "Values": ["app1/svc4:v4"], "ExactMatch": True}) == {ids[4]}
    assert found({"Name": "ImageName", "Values": ["app1/svc4"], "ExactMatch": True}) == set()
    assert found({"Name": "ImageID", "Values": [ids[5][:20]]}) == {ids[5]}
    assert found({"Name": "ImageID", "Values": [ids[5][7:]], "ExactMatch": True}) == {ids[5]}
    assert found({"Name": "ScanStatus", "Values": ["scanned"]}) == {ids[0], ids[1]}
    assert found({"Name": "ScanStatus", "Values": ["scanErr", "SCAN_ERR"]}) == {ids[2]}
    assert len(found({"Name": "ScanStatus", "Values": ["notScan"]})) == 8
    assert found({"Name": "SecurityRisk", "Values": ["CriticalLevelVul"]}) == {ids[0]}
    assert found({"Name": "SecurityRisk", "Values": ["HighLevelVul"]}) == set()  # the failed scan
    assert found({"Name": "SecurityRisk", "Values": ["MediumLevelVul", "LowLevelVul"]}) == {
        ids[0],
        ids[1],
    }
    assert found({"Name": "SecurityRisk", "Values": ["RiskCnt"]}) == {ids[1]}
    assert found({"Name": "SecurityRisk", "Values": ["IsTrustImage"]}) == {ids[3]}
    assert found({"Name": "SecurityRisk", "Values": ["VirusCnt"]}) == set()
    # AND across filters
    assert found(
        {"Name": "ScanStatus", "Values": ["scanned"]},
        {"Name": "SecurityRisk", "Values": ["RiskCnt"]},
    ) == {ids[1]}
    info = list_images(client, pace, Filters=[{"Name": "ImageID", "Values": [ids[0]]}]).List[0]
    assert (
        info.VulCnt,
        info.CriticalLevelVulCnt,
        info.LowLevelVulCnt,
        info.ComponentCnt,
        info.ScanTime,
    ) == (2, 1, 1, 1, "2024-06-01T08:00:00Z")


@pytest.mark.parametrize("order", ["asc", "DESC"])
def test_every_sort_field_pages_without_gaps(server: Server, order: str) -> None:
    sid, skey, account = server.new_account()
    ids = seed(server, sid, skey)
    for k, i in enumerate(ids[:6]):
        scan(server, account, i, ("HIGH",) * (k % 3), risk=k % 2)
    client, pace = tcss(server.endpoint, sid, skey), Pacer()
    for field in SORT_FIELDS:
        pages = []
        for offset in range(0, 12, 4):
            resp = list_images(client, pace, Limit=4, Offset=offset, By=field, Order=order)
            assert resp.TotalCount == 11
            pages.extend(i.ImageID for i in resp.List)
        assert sorted(pages) == sorted(ids), field


def test_get_v1_and_unsigned_payload_variants(server: Server) -> None:
    sid, skey, _ = server.new_account()
    ids = seed(server, sid, skey, n=3)
    pace = Pacer()
    filt = [{"Name": "ImageName", "Values": ["app1/svc1:v1", "a b&c"], "ExactMatch": True}]
    for kw in (
        {"method": "GET"},
        {"sign": "HmacSHA256"},
        {"sign": "HmacSHA1"},
        {"sign": "HmacSHA256", "method": "GET"},
        {"unsigned": True},
    ):
        resp = list_images(tcss(server.endpoint, sid, skey, **kw), pace, Limit=5, Filters=filt)
        assert [i.ImageID for i in resp.List] == [ids[1]], kw


def test_async_client(server: Server) -> None:
    from tencentcloud.common import credential
    from tencentcloud.tcss.v20201101 import tcss_client_async

    from tests.e2e.sdk import REGION, profile

    sid, skey, _ = server.new_account()
    seed(server, sid, skey, n=4)

    async def go() -> models.DescribeAssetImageListResponse:
        async with tcss_client_async.TcssClient(
            credential.Credential(sid, skey), REGION, profile(server.endpoint)
        ) as client:
            req = models.DescribeAssetImageListRequest()
            req.Limit = 2
            req.By = "ImageName"
            req.Order = "asc"
            return await client.DescribeAssetImageList(req)

    resp = asyncio.run(go())
    assert resp.TotalCount == 4 and [i.ImageName for i in resp.List] == [
        "app0/svc0:v0",
        "app0/svc3:v3",
    ]


def test_accounts_are_isolated_over_the_api(server: Server) -> None:
    a_sid, a_key, _ = server.new_account()
    b_sid, b_key, _ = server.new_account()
    a_ids = seed(server, a_sid, a_key, n=3)
    assert list_images(tcss(server.endpoint, b_sid, b_key)).TotalCount == 0
    resp = list_images(
        tcss(server.endpoint, b_sid, b_key),
        Filters=[{"Name": "ImageID", "Values": [a_ids[0]], "ExactMatch": True}],
    )
    assert resp.TotalCount == 0 and resp.List == []


def error_code(fn) -> TencentCloudSDKException:  # type: ignore[no-untyped-def]
    with pytest.raises(TencentCloudSDKException) as info:
        fn()
    assert info.value.requestId, "every error carries a RequestId"
    return info.value


def test_error_codes_arrive_as_sdk_exceptions(server: Server) -> None:
    sid, skey, _ = server.new_account()
    ep = server.endpoint
    pace = Pacer()
    cases = {
        "AuthFailure.SecretIdNotFound": lambda: list_images(
            tcss(ep, "AKIDunknownunknownunknownunknown1234", skey)
        ),
        "AuthFailure.SignatureFailure": lambda: list_images(tcss(ep, sid, skey + "x")),
        "InvalidAction": lambda: common(ep, sid, skey).call_json("DescribeNothing", {}),
        "NoSuchVersion": lambda: common(ep, sid, skey, version="2018-01-01").call_json(
            "DescribeAssetImageList", {}
        ),
        "InvalidParameterValue": lambda: list_images(tcss(ep, sid, skey), pace, Limit=101),
        "UnknownParameter": lambda: common(ep, sid, skey).call_json(
            "DescribeAssetImageList", {"Colour": "red"}
        ),
        "InvalidParameter": lambda: common(ep, sid, skey).call_json(
            "DescribeAssetImageList", {"Limit": "ten"}
        ),
        "InvalidParameter.ParsingError": lambda: common(ep, sid, skey).call_json(
            "DescribeAssetImageList", {"Limit": float("nan")}
        ),
        "MissingParameter": lambda: common(ep, sid, skey).call_json(
            "ReportHostAssets", {"Images": []}
        ),
        "RequestSizeLimitExceeded": lambda: common(ep, sid, skey).call_json(
            "DescribeAssetImageList", {"By": "x" * (10 * 1024 * 1024 + 1)}
        ),
    }
    for code, call in cases.items():
        pace.wait()
        exc = error_code(call)
        assert exc.code == code, (code, exc.code, exc.message)
    # an unknown filter value names itself
    exc = error_code(
        lambda: list_images(
            tcss(ep, sid, skey), Filters=[{"Name": "ScanStatus", "Values": ["finished"]}]
        )
    )
    assert (
        exc.code == "InvalidParameterValue"
        and "finished" in exc.message
        and "Filters.0.Values.0" in exc.message
    )
    exc = error_code(lambda: list_images(tcss(ep, sid, skey), Limit=0))
    assert exc.code == "InvalidParameterValue" and "Limit" in exc.message
    exc = error_code(lambda: list_images(tcss(ep, sid, skey), Offset=-1))
    assert exc.code == "InvalidParameterValue"


def test_signature_expiry_and_language(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    import tencentcloud.common.abstract_client as ac

    sid, skey, _ = server.new_account()
    real = ac.time.time
    monkeypatch.setattr(ac.time, "time", lambda: real() - 301)
    exc = error_code(lambda: list_images(tcss(server.endpoint, sid, skey)))
    assert exc.code == "AuthFailure.SignatureExpire"
    monkeypatch.setattr(ac.time, "time", lambda: real() - 200)  # inside the window
    assert list_images(tcss(server.endpoint, sid, skey)).TotalCount == 0
    monkeypatch.setattr(ac.time, "time", real)
    zh = error_code(lambda: list_images(tcss(server.endpoint, sid, skey + "x", language="zh-CN")))
    en = error_code(lambda: list_images(tcss(server.endpoint, sid, skey + "x", language="en-US")))
    assert zh.code == en.code == "AuthFailure.SignatureFailure"
    assert "签名" in zh.message and "signature" in en.message


def test_disabled_key_is_refused(server: Server) -> None:
    sid, skey, _ = server.new_account()
    client = tcss(server.endpoint, sid, skey)
    assert list_images(client).TotalCount == 0
    server.service.disable_key(sid)
    import time

    time.sleep(1.0)  # the server caches a key for at most half a second
    assert error_code(lambda: list_images(client)).code == "AuthFailure.SecretIdNotFound"


def test_rate_limit_is_20_per_second_per_action(server: Server) -> None:
    # a fresh account's first 20 calls pass whatever the timing; when 25 calls fit in one
    # second, the 21st onwards are refused.  On a loaded machine 25 calls can take longer
    # than a second (then nothing need be refused): the burst is tried again, on a new
    # account, until one was fast enough to tell
    for _ in range(5):
        sid, skey, _ = server.new_account()
        client = tcss(server.endpoint, sid, skey)
        codes = []
        started = time.monotonic()
        for _ in range(25):
            try:
                list_images(client, Limit=1)
                codes.append("OK")
            except TencentCloudSDKException as exc:
                codes.append(exc.code)
        elapsed = time.monotonic() - started
        assert codes[:20] == ["OK"] * 20 and set(codes) <= {"OK", "RequestLimitExceeded"}
        if elapsed < 1.0:
            assert "RequestLimitExceeded" in codes
            break
    else:
        pytest.fail("no burst of 25 calls fitted in one second: the machine is too loaded")
    # another action of the same account has its own budget
    out = common(server.endpoint, sid, skey).call_json(
        "ReportHostAssets", {"Host": {"HostID": "h"}}
    )
    assert out["Response"]["ImageCount"] == 0
