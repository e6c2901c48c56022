"""Per-account isolation across every registered action, through the official SDK.

Two accounts hold hosts, images, scan results and a scan task, including a host ID and an
image ID they share (IDs are content digests and host names: they collide in real life).
For every action in ``all_actions()`` a probe drives account B at account A's data; an
action without a probe fails the test, so a new action cannot go unchecked.
"""

from __future__ import annotations

import hashlib
import io
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from imagewarden.inventory.models import (
    ComponentRecord,
    ImageReport,
    ScanOutcome,
    ScanStatus,
    VulnerabilityRecord,
)
from imagewarden.server import build_app, open_runtime
from tests.e2e.sdk import Pacer, common
from tests.hardening.proc import ServerProcess


def iid(label: str) -> str:
    return "sha256:" + hashlib.sha256(label.encode()).hexdigest()


SHARED_IMAGE = iid("shared-base-image")
SHARED_HOST = "node-shared"


@dataclass
class Tenant:
    name: str
    client: CommonClient
    account_id: int
    images: list[str]  # its own images, SHARED_IMAGE last
    only_host: str
    registered: set[str]
    task_id: str = ""
    export_id: str = ""
    #: one pacer per action: the server's 20/s budget is per (account, action)
    pacers: dict[str, Pacer] = field(default_factory=dict)

    def pace(self, action: str) -> None:
        self.pacers.setdefault(action, Pacer(per_second=15)).wait()

    def call(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        self.pace(action)
        out: dict[str, Any] = self.client.call_json(action, params)["Response"]
        return out

    def error(self, action: str, params: dict[str, Any]) -> str:
        self.pace(action)
        with pytest.raises(TencentCloudSDKException) as info:
            self.client.call_json(action, params)
        return str(info.value.code)

    @property
    def own(self) -> list[str]:
        return self.images[:-1]

    def tag(self, i: int) -> str:
        return f"{self.name}/app{i}:v{i}"


def _populate(srv: ServerProcess, t: Tenant) -> None:
    imgs = [
        {"ImageID": image_id, "RepoTags": [t.tag(i)], "Size": 100 + i}
        for i, image_id in enumerate(t.images)
    ]
    for host, chosen in ((SHARED_HOST, imgs), (t.only_host, imgs[:2])):
        out = t.call(
            "ReportHostAssets",
            {
                "Host": {"HostID": host, "HostName": f"{t.name}-{host}"},
                "Images": chosen,
                "Containers": [
                    {
                        "ContainerID": f"{t.name}-c0",
                        "ImageID": chosen[0]["ImageID"],
                        "State": "running",
                    }
                ],
            },
        )
        assert out["ImageCount"] == len(chosen)
    for i, image_id in enumerate(t.images):
        srv.service.register_image(
            t.account_id, ImageReport(image_id, (t.tag(i),)), f"oci:/nonexistent/{t.name}/{i}"
        )
        srv.service.record_scan(
            t.account_id,
            ScanOutcome(
                image_id=image_id,
                status=ScanStatus.SCANNED,
                scan_time=datetime(2024, 6, 1, 8, 0, 0),
                os_name="debian:12",
                components=(ComponentRecord(f"{t.name}-lib", "1.0", "deb"),),
                vulnerabilities=(
                    VulnerabilityRecord(
                        f"CVE-2099-{t.name}{i}",
                        f"CVE-2099-{t.name}{i}",
                        f"{t.name}-lib",
                        "1.0",
                        "deb",
                        "HIGH",
                    ),
                ),
            ),
        )


def _view(t: Tenant) -> dict[str, Any]:
    """Everything an account can read about itself (minus RequestIds)."""

    def strip(d: dict[str, Any]) -> dict[str, Any]:
        # LeftSeconds is an estimate that counts down with the clock
        return {k: v for k, v in d.items() if k not in ("RequestId", "LeftSeconds")}

    view: dict[str, Any] = {
        "list": strip(t.call("DescribeAssetImageList", {"Limit": 100, "By": "ImageName"})),
        "hosts": strip(t.call("DescribeAssetImageHostList", {})),
        "task": strip(t.call("DescribeAssetImageScanTask", {})),
        "status": strip(t.call("DescribeAssetImageScanStatus", {"TaskID": t.task_id})),
    }
    for image_id in t.images:
        view[f"vul {image_id}"] = strip(
            t.call("DescribeAssetImageVulList", {"ImageID": image_id, "Limit": 100})
        )
        view[f"comp {image_id}"] = strip(
            t.call("DescribeImageComponentList", {"ImageID": image_id, "Limit": 100})
        )
        for action in ("DescribeAssetImageVirusList", "DescribeAssetImageRiskList"):
            if action in t.registered:
                view[f"{action} {image_id}"] = strip(
                    t.call(action, {"ImageID": image_id, "Limit": 100})
                )
        if "DescribeAssetImageDetail" in t.registered:
            view[f"detail {image_id}"] = strip(
                t.call("DescribeAssetImageDetail", {"ImageID": image_id})
            )
    for action in (
        "DescribeAssetImageSimpleList",
        "DescribeImageAuthorizedInfo",
        "DescribeAssetImageScanSetting",
    ):
        if action in t.registered:
            view[action] = strip(t.call(action, {"Limit": 100} if "List" in action else {}))
    if t.export_id:
        out = strip(t.call("DescribeExportJobResult", {"JobId": t.export_id}))
        view["export"] = {k: v for k, v in out.items() if k != "DownloadURL"}  # a fresh expiry
    return view


# --- one probe per action: B acts on A's data ----------------------------------------------------

Probe = Callable[[Tenant, Tenant], None]


def _list_ids(out: dict[str, Any]) -> set[str]:
    return {row["ImageID"] for row in out["List"]}


def p_image_list(a: Tenant, b: Tenant) -> None:
    out = b.call("DescribeAssetImageList", {"Limit": 100})
    assert _list_ids(out) == set(b.images) and out["TotalCount"] == len(b.images)
    for flt in (
        {"Name": "ImageID", "Values": [a.own[0]], "ExactMatch": True},
        {"Name": "ImageID", "Values": [a.own[0][:20]]},
        {"Name": "ImageName", "Values": [a.tag(0)]},
        {"Name": "ImageName", "Values": [a.name]},
    ):
        out = b.call("DescribeAssetImageList", {"Filters": [flt]})
        assert out["TotalCount"] == 0 and out["List"] == [], flt
    shared = b.call(
        "DescribeAssetImageList",
        {"Filters": [{"Name": "ImageID", "Values": [SHARED_IMAGE], "ExactMatch": True}]},
    )
    (row,) = shared["List"]
    assert row["ImageName"] == b.tag(len(b.images) - 1) and row["HostCnt"] == 1


def p_vul_list(a: Tenant, b: Tenant) -> None:
    for image_id in a.own:
        assert b.error("DescribeAssetImageVulList", {"ImageID": image_id}) == "ResourceNotFound"
    out = b.call("DescribeAssetImageVulList", {"ImageID": SHARED_IMAGE, "Limit": 100})
    assert [v["CVEID"] for v in out["List"]] == [f"CVE-2099-{b.name}{len(b.images) - 1}"]


def p_component_list(a: Tenant, b: Tenant) -> None:
    for image_id in a.own:
        assert b.error("DescribeImageComponentList", {"ImageID": image_id}) == "ResourceNotFound"
    out = b.call("DescribeImageComponentList", {"ImageID": SHARED_IMAGE})
    assert [c["Name"] for c in out["List"]] == [f"{b.name}-lib"]


def p_host_list(a: Tenant, b: Tenant) -> None:
    out = b.call("DescribeAssetImageHostList", {})
    pairs = {(p["ImageID"], p["HostID"]) for p in out["List"]}
    assert {i for i, _ in pairs} == set(b.images)
    assert {h for _, h in pairs} == {SHARED_HOST, b.only_host}
    for flt in (
        {"Name": "ImageID", "Values": [a.own[0]]},
        {"Name": "HostID", "Values": [a.only_host]},
    ):
        out = b.call("DescribeAssetImageHostList", {"Filters": [flt]})
        assert out["TotalCount"] == 0 and out["List"] == [], flt


def p_report(a: Tenant, b: Tenant) -> None:
    # B reports the host ID A also uses, with fewer images: only B's host changes
    out = b.call(
        "ReportHostAssets",
        {"Host": {"HostID": SHARED_HOST}, "Images": [{"ImageID": b.own[0]}], "Containers": []},
    )
    assert out["ImageCount"] == 1 and out["RemovedImageCount"] == len(b.images) - 1
    # and a host ID only A uses: a new, separate host of B
    out = b.call("ReportHostAssets", {"Host": {"HostID": a.only_host}, "Images": []})
    assert out["RemovedImageCount"] == 0 and out["RemovedContainerCount"] == 0


def p_create_task(a: Tenant, b: Tenant) -> None:
    for ids in ([a.own[0]], [b.own[0], a.own[1]]):
        assert b.error("CreateAssetImageScanTask", {"Images": ids}) == "ResourceNotFound"
    # A's running task does not block B (one running task per *account*)
    b.task_id = b.call("CreateAssetImageScanTask", {"All": True})["TaskID"]
    assert b.task_id and b.task_id != a.task_id
    st = b.call("DescribeAssetImageScanStatus", {"TaskID": b.task_id})
    assert st["ImageTotal"] == len(b.images) and st["Status"] == "SCANNING"


def p_scan_status(a: Tenant, b: Tenant) -> None:
    assert b.error("DescribeAssetImageScanStatus", {"TaskID": a.task_id}) == "ResourceNotFound"
    st = b.call("DescribeAssetImageScanStatus", {})
    assert st["ImageTotal"] == len(b.images)


def p_scan_task(a: Tenant, b: Tenant) -> None:
    out = b.call("DescribeAssetImageScanTask", {})
    assert out["TaskID"] == b.task_id != a.task_id


def p_scan_stop(a: Tenant, b: Tenant) -> None:
    assert b.error("ModifyAssetImageScanStop", {"TaskID": a.task_id}) == "ResourceNotFound"
    for ids in ([a.own[0]], [b.own[1], a.own[1]]):
        assert b.error("ModifyAssetImageScanStop", {"Images": ids}) == "ResourceNotFound"
    # filters select among B's images only: A's tag matches nothing of B's
    try:
        b.call(
            "ModifyAssetImageScanStop", {"Filters": [{"Name": "ImageName", "Values": [a.tag(0)]}]}
        )
    except TencentCloudSDKException as exc:
        assert exc.code == "InvalidParameterValue", exc
    # the shared image: B stops its own scan of it, A's scan of the same digest goes on
    assert b.call("ModifyAssetImageScanStop", {"Images": [SHARED_IMAGE]})["Status"] == "SUCCESS"
    st = b.call("DescribeAssetImageScanStatus", {"TaskID": b.task_id})
    assert st["ImageScanCnt"] == 1  # the cancelled job is finished; B's others still queued


def _not_found_for_a(action: str) -> Probe:
    def probe(a: Tenant, b: Tenant) -> None:
        for image_id in a.own:
            assert b.error(action, {"ImageID": image_id}) == "ResourceNotFound", action
        b.call(action, {"ImageID": SHARED_IMAGE})  # B's own copy of the shared digest

    return probe


def p_detail(a: Tenant, b: Tenant) -> None:
    _not_found_for_a("DescribeAssetImageDetail")(a, b)
    out = b.call("DescribeAssetImageDetail", {"ImageID": SHARED_IMAGE})
    assert out["ImageName"] == b.tag(len(b.images) - 1) and out["HostCnt"] == 1


def p_simple_list(a: Tenant, b: Tenant) -> None:
    out = b.call("DescribeAssetImageSimpleList", {"Limit": 100})
    assert _list_ids(out) == set(b.images) and out["TotalCount"] == len(b.images)
    for words in (a.tag(0), a.name, a.own[0]):
        flt = {"Name": "Keywords", "Values": [words]}
        out = b.call("DescribeAssetImageSimpleList", {"Filters": [flt]})
        assert out["TotalCount"] == 0 and out["List"] == [], words


def p_modify_authorized(a: Tenant, b: Tenant) -> None:
    base = {
        "AllLocalImages": False,
        "AllRegistryImages": False,
        "UpdatedRegistryImageCnt": 0,
        "ImageSourceType": "ASSETIMAGE",
    }
    for ids in ([a.own[0]], [b.own[0], a.own[1]]):
        code = b.error(
            "ModifyImageAuthorized",
            {**base, "UpdatedLocalImageCnt": len(ids), "LocalImageIds": ids},
        )
        assert code == "ResourceNotFound", code
    # all of B's images: whatever B's licences allow, A's authorisations do not move
    try:
        b.call(
            "ModifyImageAuthorized", {**base, "AllLocalImages": True, "UpdatedLocalImageCnt": 100}
        )
    except TencentCloudSDKException as exc:
        assert exc.code.startswith("FailedOperation"), exc


def p_authorized_info(a: Tenant, b: Tenant) -> None:
    out = b.call("DescribeImageAuthorizedInfo", {})
    assert out["UsedAuthorizedCnt"] + out["NotScannedImageCnt"] <= len(b.images), out


def _export_text(url: str) -> str:
    data = httpx.get(url, timeout=60).content
    if data[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
    return data.decode("utf-8", "replace")


def _export_done(t: Tenant, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        out = t.call("DescribeExportJobResult", {"JobId": job_id})
        if out["ExportStatus"] != "RUNNING":
            return out
        assert time.monotonic() < deadline, "export never finished"
        time.sleep(0.2)


def p_create_export(a: Tenant, b: Tenant) -> None:
    job = b.call("CreateImageExportJob", {})["JobId"]
    out = _export_done(b, job)
    assert out["ExportStatus"] == "SUCCESS", out
    text = _export_text(out["DownloadURL"])
    bare = [i.split(":", 1)[1] for i in (*a.own, *b.own)]
    assert all(x in text for x in bare[len(a.own) :]), "B's export misses B's images"
    assert not any(x in text for x in bare[: len(a.own)]), "B's export holds A's images"
    assert a.tag(0) not in text


def p_export_result(a: Tenant, b: Tenant) -> None:
    assert b.error("DescribeExportJobResult", {"JobId": a.export_id}) == "ResourceNotFound"
    # A's download link, handed to B, is bound to A's job: tampering with it opens nothing
    url = _export_done(a, a.export_id)["DownloadURL"]
    forged = url.replace("sig=", "sig=0")
    assert httpx.get(forged, timeout=60).status_code != 200


def p_scan_setting(a: Tenant, b: Tenant) -> None:
    base = {
        "Enable": True,
        "ScanTime": "03:00",
        "ScanPeriod": 1,
        "ScanVirus": True,
        "ScanRisk": True,
        "ScanVul": True,
    }
    # a schedule is a standing selection, evaluated inside B's account when it runs: naming
    # A's image may be refused, or stored as B's own (it can only ever match B's copy)
    try:
        b.call("CreateAssetImageScanSetting", {**base, "Images": [a.own[0]]})
    except TencentCloudSDKException as exc:
        assert exc.code == "ResourceNotFound", exc
    b.call("CreateAssetImageScanSetting", {**base, "ScanTime": "04:30", "All": True})
    assert b.call("DescribeAssetImageScanSetting", {})["ScanTime"] == "04:30"


def p_scan_setting_describe(a: Tenant, b: Tenant) -> None:
    mine = b.call("DescribeAssetImageScanSetting", {})
    theirs = a.call("DescribeAssetImageScanSetting", {})
    assert mine["ScanTime"] == "04:30" and theirs["ScanTime"] == "01:15"


def p_agent_scan_results(a: Tenant, b: Tenant) -> None:
    own = {"OsName": "debian:12", "Components": [{"Name": "x", "Version": "1", "Type": "deb"}]}
    for ids in ([a.own[0]], [b.own[0], a.own[1]]):
        results = [{"ImageID": i, **own} for i in ids]
        assert b.error("ReportImageScanResults", {"Images": results}) == "ResourceNotFound"
    assert (
        b.error("ReportImageScanResults", {"Images": [{"ImageID": a.own[0], "AgentError": "x"}]})
        == "ResourceNotFound"
    )
    # the shared digest: B's copy takes B's result and AgentError, A's keeps its own
    out = b.call("ReportImageScanResults", {"Images": [{"ImageID": SHARED_IMAGE, **own}]})
    assert out["RecordedCount"] == 1
    out = b.call(
        "ReportImageScanResults", {"Images": [{"ImageID": SHARED_IMAGE, "AgentError": "gone"}]}
    )
    assert out["AgentErrorCount"] == 1


PROBES: dict[str, Probe] = {
    "DescribeAssetImageVirusList": _not_found_for_a("DescribeAssetImageVirusList"),
    "DescribeAssetImageRiskList": _not_found_for_a("DescribeAssetImageRiskList"),
    "DescribeAssetImageDetail": p_detail,
    "DescribeAssetImageSimpleList": p_simple_list,
    "ModifyImageAuthorized": p_modify_authorized,
    "DescribeImageAuthorizedInfo": p_authorized_info,
    "CreateImageExportJob": p_create_export,
    "DescribeExportJobResult": p_export_result,
    "CreateAssetImageScanSetting": p_scan_setting,
    "DescribeAssetImageScanSetting": p_scan_setting_describe,
    "DescribeAssetImageList": p_image_list,
    "DescribeAssetImageVulList": p_vul_list,
    "DescribeImageComponentList": p_component_list,
    "DescribeAssetImageHostList": p_host_list,
    "CreateAssetImageScanTask": p_create_task,
    "DescribeAssetImageScanStatus": p_scan_status,
    "DescribeAssetImageScanTask": p_scan_task,
    "ModifyAssetImageScanStop": p_scan_stop,
    "ReportImageScanResults": p_agent_scan_results,
    "ReportHostAssets": p_report,  # last: it changes B's own data the other probes read
}


@pytest.fixture
def srv(db_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    # no scan workers: A's scan task stays SCANNING, so B has something to try to stop
    s = ServerProcess(db_url, tmp_path, extra=("--scan-workers", "0"))
    s.start()
    try:
        yield s
    finally:
        s.close()


def registered_actions(db_url: str, key_file: Path) -> set[str]:
    """The actions a real server registers (``build_app`` → ``all_actions`` with features)."""
    rt = open_runtime(db_url, key_file)
    try:
        return set(build_app(rt).registry.names())
    finally:
        rt.engine.dispose()


def test_every_action_is_covered_by_a_probe(tmp_path: Path) -> None:
    names = registered_actions(f"sqlite:///{tmp_path / 'x.db'}", tmp_path / "k")
    missing = names - set(PROBES)
    assert not missing, f"actions without an isolation probe (add one to PROBES): {missing}"
    assert not set(PROBES) - names, "a probe for an action that no longer exists"


def test_account_b_never_reaches_account_a(srv: ServerProcess) -> None:
    registered = registered_actions(srv.db_url, srv.key_file)
    tenants = []
    for name in ("alpha", "beta"):
        sid, skey, acct = srv.new_account()
        images = [iid(f"{name}/{i}") for i in range(3)] + [SHARED_IMAGE]
        tenants.append(
            Tenant(
                name, common(srv.endpoint, sid, skey), acct, images, f"node-{name}-only", registered
            )
        )
    a, b = tenants
    for t in tenants:
        _populate(srv, t)
    a.task_id = a.call("CreateAssetImageScanTask", {"All": True})["TaskID"]
    if "CreateAssetImageScanSetting" in registered:
        a.call(
            "CreateAssetImageScanSetting",
            {
                "Enable": True,
                "ScanTime": "01:15",
                "ScanPeriod": 7,
                "ScanVirus": True,
                "ScanRisk": False,
                "ScanVul": True,
                "All": True,
            },
        )
    if "CreateImageExportJob" in registered:
        a.export_id = a.call("CreateImageExportJob", {})["JobId"]
        assert _export_done(a, a.export_id)["ExportStatus"] == "SUCCESS"
    before = _view(a)
    assert before["status"]["Status"] == "SCANNING" and before["status"]["ImageTotal"] == 4
    assert before["list"]["TotalCount"] == 4

    order = [n for n in PROBES if n in registered]
    assert sorted(order) == sorted(registered)
    for name in order:
        PROBES[name](a, b)
        assert _view(a) == before, f"{name} by account B changed what account A sees"
