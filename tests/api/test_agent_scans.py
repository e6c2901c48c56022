"""ReportImageScanResults in process: the real request pipeline (TC3 signing, decoding,
error envelopes), the real inventory on SQLite and PostgreSQL, and a matcher that stands in
for the server's vulnerability database (the e2e test uses the real one)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest

from imagewarden.api.actions import agent_scans
from imagewarden.api.app import ApiApp, ApiSettings
from imagewarden.api.registry import ActionRegistry
from imagewarden.api.signing import tc3_sign_request
from imagewarden.inventory.agent_scans import AgentScanService
from imagewarden.inventory.models import (
    ComponentRecord,
    ImageQuery,
    ImageRow,
    ScanOutcome,
    ScanStatus,
    VulnerabilityRecord,
)
from imagewarden.inventory.service import InventoryService
from imagewarden.jobs.scanning import redact_instruction
from tests.factories import host, image, image_id

APP_ID, WEB_ID, GONE_ID = image_id("app"), image_id("web"), image_id("gone")
T0 = datetime(2026, 1, 1)


@dataclass
class FakeMatcher:
    """A vulnerability database with one advisory: openssl < 3.0.12 (a real call log)."""

    calls: list[tuple[str, tuple[ComponentRecord, ...]]] = field(default_factory=list)

    def __call__(
        self, os_name: str, components: Sequence[ComponentRecord]
    ) -> tuple[tuple[VulnerabilityRecord, ...], str]:
        self.calls.append((os_name, tuple(components)))
        return (
            tuple(
                VulnerabilityRecord(
                    "DSA-1",
                    "CVE-2023-5363",
                    c.name,
                    c.version,
                    c.type,
                    "HIGH",
                    7.5,
                    None,
                    ("3.0.12",),
                )
                for c in components
                if c.source_name == "openssl" and c.version < "3.0.12"
            ),
            "",
        )


@dataclass
class Client:
    app: ApiApp
    secret_id: str
    secret_key: str

    def call(self, params: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(params).encode()
        headers = tc3_sign_request(
            secret_id=self.secret_id,
            secret_key=self.secret_key,
            action="ReportImageScanResults",
            version="2020-11-01",
            host="iw.test",
            body=body,
        )

        async def go() -> httpx.Response:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=self.app), base_url="http://iw.test"
            ) as c:
                return await c.post("/", content=body, headers=headers)

        with ThreadPoolExecutor(1) as pool:
            resp = pool.submit(asyncio.run, go()).result()
        assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
        out: dict[str, Any] = resp.json()["Response"]
        return out

    def error(self, params: dict[str, Any]) -> str:
        out = self.call(params)
        assert "Error" in out, out
        return str(out["Error"]["Code"])


@dataclass
class World:
    service: InventoryService
    matcher: FakeMatcher
    a: Client
    b: Client
    a_id: int
    b_id: int

    def row(self, account: int, iid: str) -> ImageRow:
        rows, _ = self.service.list_images(account, ImageQuery(limit=100))
        return next(r for r in rows if r.image_id == iid)


@pytest.fixture
def world(service: InventoryService) -> World:
    matcher = FakeMatcher()
    app = ApiApp(
        ActionRegistry(agent_scans.actions(AgentScanService(service, matcher, redact_instruction))),
        service,
        ApiSettings(rate_limits=False),
    )
    sa, ka, a_id = service.create_key("alpha")
    sb, kb, b_id = service.create_key("beta")
    service.report_host(a_id, host("h1", [image("app", "shop/app:1"), image("web", "shop/web:1")]))
    service.report_host(b_id, host("h1", [image("gone", "other/x:1")]))
    return World(service, matcher, Client(app, sa, ka), Client(app, sb, kb), a_id, b_id)


COMPONENTS = [
    {"Name": "libssl3", "Version": "3.0.11", "Type": "deb", "SourceName": "openssl"},
    {"Name": "zlib1g", "Version": "1.2.13", "Type": "deb", "SourceName": "zlib"},
    {"Name": "urllib3", "Version": "1.26.16", "Type": "pypi", "Path": "/usr/lib/python3"},
]
SCAN = {
    "ImageID": APP_ID,
    "ScanTime": "2026-03-01T08:00:00Z",
    "OsName": "debian:12",
    "Components": COMPONENTS,
    "Viruses": [
        {
            "Path": "/opt/eicar.com",
            "VirusName": "EICAR-Test-File",
            "RiskLevel": 3,
            "Md5": "44d88612fea8a8f36de82e1278abb02f",
            "Size": 68,
            "Engine": "yara",
        }
    ],
    "Risks": [
        {
            "Kind": "sensitive",
            "RuleID": "aws-access-key-id",
            "Behavior": 4,
            "Type": 1,
            "Level": 4,
            "Desc": "AWS access key ID in /app/.env:3",
            "Path": "/app/.env",
            "Line": 3,
            # an agent that forgot to redact: the server redacts again
            "Excerpt": "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
        },
        {"Kind": "build", "RuleID": "run-as-root", "Behavior": 2, "Type": 2, "Level": 2,
         "Desc": "The image runs as root", "Instruction": "USER root"},
    ],
    "BuildHistory": [{"Created": "2026-01-01T00:00:00Z", "CreatedBy": "ENV API_TOKEN=hunter2"}],
}  # fmt: skip


def test_results_are_stored_as_a_scan_matched_by_the_server(world: World) -> None:
    out = world.a.call({"HostID": "h1", "Images": [SCAN]})
    assert (out["RecordedCount"], out["AgentErrorCount"]) == (1, 0)
    (os_name, comps) = world.matcher.calls[0]
    assert os_name == "debian:12" and [c.name for c in comps] == ["libssl3", "zlib1g", "urllib3"]
    row = world.row(world.a_id, APP_ID)
    assert row.scan_status == "SCANNED" and row.os_name == "debian:12"
    assert (row.component_cnt, row.vul_cnt, row.high_level_vul_cnt) == (3, 1, 1)
    assert (row.virus_cnt, row.risk_cnt, row.recommended_fix) == (1, 2, True)
    assert row.scan_time is not None and row.scan_time.isoformat() == "2026-03-01T08:00:00"
    assert row.agent_error == ""
    vulns = world.service.image_vulnerabilities(world.a_id, APP_ID)
    assert [v["cve_id"] for v in vulns] == ["CVE-2023-5363"]
    viruses = world.service.image_viruses(world.a_id, APP_ID)
    assert [(v["virus_name"], v["file_name"]) for v in viruses.rows] == [
        ("EICAR-Test-File", "eicar.com")
    ]
    risks = world.service.image_risks(world.a_id, APP_ID)
    stored = json.dumps(risks) + json.dumps(
        world.service.image_detail(world.a_id, APP_ID).build_history, default=str
    )
    assert "AKIAIOSFODNN7EXAMPLE" not in stored and "hunter2" not in stored
    assert world.row(world.a_id, WEB_ID).scan_status == "NOT_SCAN"  # not reported: untouched


def test_replaying_a_report_stores_the_same_thing(world: World) -> None:
    world.a.call({"Images": [SCAN]})
    first = (
        world.row(world.a_id, APP_ID),
        world.service.image_vulnerabilities(world.a_id, APP_ID),
        world.service.image_viruses(world.a_id, APP_ID).rows,
        world.service.image_risks(world.a_id, APP_ID),
        world.service.image_components(world.a_id, APP_ID),
    )
    world.a.call({"Images": [SCAN]})
    again = (
        world.row(world.a_id, APP_ID),
        world.service.image_vulnerabilities(world.a_id, APP_ID),
        world.service.image_viruses(world.a_id, APP_ID).rows,
        world.service.image_risks(world.a_id, APP_ID),
        world.service.image_components(world.a_id, APP_ID),
    )
    assert again == first


def test_an_agent_error_keeps_the_previous_results(world: World) -> None:
    world.a.call({"Images": [SCAN]})
    before = world.row(world.a_id, APP_ID)
    out = world.a.call(
        {"Images": [{"ImageID": APP_ID, "AgentError": "docker save: No such image"},
                    {"ImageID": WEB_ID, "AgentError": "layer truncated"}]}
    )  # fmt: skip
    assert (out["RecordedCount"], out["AgentErrorCount"]) == (0, 2)
    after = world.row(world.a_id, APP_ID)
    assert after.agent_error == "docker save: No such image"
    assert after == ImageRow(**{**before.__dict__, "agent_error": after.agent_error})
    web = world.row(world.a_id, WEB_ID)
    assert (web.agent_error, web.scan_status, web.vul_cnt) == ("layer truncated", "NOT_SCAN", 0)
    assert world.service.image_detail(world.a_id, WEB_ID).agent_error == "layer truncated"
    # the next successful agent scan clears it
    world.a.call({"Images": [SCAN]})
    assert world.row(world.a_id, APP_ID).agent_error == ""


def test_categories_the_agent_did_not_scan_are_not_clean(world: World) -> None:
    world.a.call(
        {"Images": [{"ImageID": APP_ID, "OsName": "debian:12", "Components": COMPONENTS,
                     "ScanVirus": False, "ScanRisk": True, "RiskError": "secrets: rule file"}]}
    )  # fmt: skip
    detail = world.service.image_detail(world.a_id, APP_ID)
    assert (
        detail.virus_state.name == "NOT_SCANNED" and detail.scan_risk_error == "secrets: rule file"
    )
    assert world.row(world.a_id, APP_ID).vul_cnt == 1


def test_a_server_scan_outcome_is_not_an_agent_error(world: World) -> None:
    """A later server-side scan replaces the agent's results but not its AgentError."""
    world.a.call({"Images": [{"ImageID": APP_ID, "AgentError": "cannot read"}]})
    world.service.record_scan(world.a_id, ScanOutcome(APP_ID, ScanStatus.SCANNED, T0))
    assert world.row(world.a_id, APP_ID).agent_error == "cannot read"


def test_images_of_another_account_are_not_found_and_nothing_is_stored(world: World) -> None:
    # B holds GONE_ID; A does not.  A mixed request stores nothing at all.
    assert world.a.error({"Images": [SCAN, {**SCAN, "ImageID": GONE_ID}]}) == "ResourceNotFound"
    assert world.a.error({"Images": [{"ImageID": GONE_ID, "AgentError": "x"}]}) == (
        "ResourceNotFound"
    )
    assert world.row(world.a_id, APP_ID).scan_status == "NOT_SCAN"
    assert world.row(world.b_id, GONE_ID).agent_error == ""
    assert world.b.error({"Images": [SCAN]}) == "ResourceNotFound"  # A's image, B's key
    assert world.matcher.calls == []


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"ImageID": "nginx:1"}, "InvalidParameterValue"),
        ({"Components": [{"Name": "x", "Version": "1", "Type": "Deb Package"}]}, "InvalidParameterValue"),
        ({"Viruses": [{"Path": "/x", "VirusName": "v", "RiskLevel": 9}]}, "InvalidParameterValue"),
        ({"Viruses": [{"Path": "/x", "VirusName": "v", "RiskLevel": 3, "Md5": "nope"}]}, "InvalidParameterValue"),
        ({"Risks": [{"Kind": "other", "RuleID": "r", "Behavior": 1, "Type": 1, "Level": 1, "Desc": "d"}]}, "InvalidParameterValue"),
        ({"Risks": [{"RuleID": "r", "Behavior": 1, "Type": 1, "Level": 1, "Desc": "d"}]}, "MissingParameter"),
        ({"Secret": "x"}, "UnknownParameter"),
        ({"Components": "deb"}, "InvalidParameter"),
        ({"ScanTime": "yesterday"}, "InvalidParameterValue"),
        ({"ScanTime": "2999-01-01T00:00:00Z"}, "InvalidParameterValue"),
        ({"AgentError": "cannot read"}, "InvalidParameterValue"),  # with findings: ambiguous
        ({"Risks": [{"Kind": "build", "RuleID": "r", "Behavior": 1, "Type": 1, "Level": 1, "Desc": "d", "Excerpt": "x" * 2000}]}, "InvalidParameterValue"),
    ],
)  # fmt: skip
def test_validation(world: World, change: dict[str, Any], code: str) -> None:
    assert world.a.error({"Images": [{**SCAN, **change}]}) == code
    assert world.row(world.a_id, APP_ID).scan_status == "NOT_SCAN"


def test_request_shape_limits(world: World) -> None:
    assert world.a.error({"Images": []}) == "InvalidParameterValue"
    assert world.a.error({}) == "MissingParameter"
    many = [{"ImageID": image_id(f"n{i}"), "AgentError": "x"} for i in range(101)]
    assert world.a.error({"Images": many}) == "InvalidParameterValue"
    twice = {"Images": [SCAN, SCAN]}
    assert world.a.error(twice) == "InvalidParameterValue"
    assert world.row(world.a_id, APP_ID).scan_status == "NOT_SCAN"
