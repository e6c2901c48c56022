"""``agent.scanning`` without a server: real image files, a transport that answers like the
server (``httpx.MockTransport``), and the ledger on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from imagewarden.agent.collector import ExportError
from imagewarden.agent.model import ImageInfo, Inventory
from imagewarden.agent.scanning import SCAN_ACTION, AgentScanner
from imagewarden.agent.sender import Sender
from imagewarden.agent.state import StateDir
from tests.testdata.images.build import make_image, write_oci_layout

OS_RELEASE = 'VERSION_ID="12"\nID=debian\n'


class Files:
    """An exporter over image files; unknown IDs cannot be exported."""

    def __init__(self, refs: dict[str, str]) -> None:
        self.refs = refs
        self.exported: list[str] = []

    def export(self, image_id: str, workdir: Path) -> str:
        self.exported.append(image_id)
        if image_id not in self.refs:
            raise ExportError(f"{image_id}: gone from the engine")
        return self.refs[image_id]


class FakeServer:
    def __init__(self) -> None:
        self.down = False
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            return httpx.Response(503)
        assert request.headers["X-TC-Action"] == SCAN_ACTION
        body = json.loads(request.content)
        self.bodies.append(body)
        return httpx.Response(200, json={"Response": {"RequestId": "r", "RecordedCount": 1}})


def _setup(tmp_path: Path) -> tuple[AgentScanner, Files, FakeServer, Inventory, list[str]]:
    one = make_image([{"etc/os-release": OS_RELEASE, "app/x.txt": "x"}])
    two = make_image([{"etc/os-release": OS_RELEASE}], created="2025-01-01T00:00:00Z")
    layout = write_oci_layout(tmp_path / "img", [("a:1", one), ("a:2", two)])
    gone = "sha256:" + "e" * 64
    files = Files({one.config_digest: f"oci:{layout}:a:1", two.config_digest: f"oci:{layout}:a:2"})
    server = FakeServer()
    sender = Sender("http://iw.test", "AKIDx", "k", transport=httpx.MockTransport(server))
    clock = [1000.0]
    scanner = AgentScanner(
        files,
        sender,
        StateDir(tmp_path / "state"),
        categories=("vuln", "risk"),
        retry_after=60,
        rescan_after=3600,
        clock=lambda: clock[0],
    )
    ids = [one.config_digest, two.config_digest, gone]
    inv = Inventory(tuple(ImageInfo(i) for i in sorted(ids)))
    return scanner, files, server, inv, ids


def test_a_round_reports_results_and_agent_errors_once(tmp_path: Path) -> None:
    scanner, files, server, inv, (one, _two, gone) = _setup(tmp_path)
    r = scanner.scan("host-1", inv)
    assert (r.scanned, r.failed, r.undelivered, r.skipped) == (2, 1, 0, 0)
    sent = {b["Images"][0]["ImageID"]: b["Images"][0] for b in server.bodies}
    assert all(b["HostID"] == "host-1" and len(b["Images"]) == 1 for b in server.bodies)
    assert sent[gone] == {"ImageID": gone, "AgentError": f"{gone}: gone from the engine"}
    assert sent[one]["OsName"] == "debian:12" and sent[one]["ScanVirus"] is False
    assert sent[one]["ScanRisk"] is True and sent[one]["ScanVul"] is True
    assert "Vulnerabilities" not in sent[one]  # the server matches the components

    # a new scanner (a restarted agent) on the same state: nothing is due
    again = AgentScanner(files, scanner.sender, StateDir(tmp_path / "state"), clock=scanner.clock)
    assert again.scan("host-1", inv).skipped == 3


def test_an_unreachable_server_stops_the_round_and_nothing_is_lost(tmp_path: Path) -> None:
    scanner, files, server, inv, _ = _setup(tmp_path)
    server.down = True
    r = scanner.scan("h", inv)
    assert (r.scanned, r.undelivered) == (0, 1) and len(files.exported) == 1
    server.down = False
    r = scanner.scan("h", inv)
    assert (r.scanned, r.failed, r.skipped) == (2, 1, 0)


def test_failures_are_retried_later_and_removed_images_forgotten(tmp_path: Path) -> None:
    scanner, files, _server, inv, (one, two, gone) = _setup(tmp_path)
    clock = [1000.0]
    scanner.clock = lambda: clock[0]
    scanner.scan("h", inv)
    clock[0] += 61  # past retry_after, not past rescan_after: only the failure is retried
    files.exported.clear()
    scanner.scan("h", inv)
    assert files.exported == [gone]
    clock[0] += 3600  # past rescan_after: everything again
    files.exported.clear()
    smaller = Inventory(tuple(i for i in inv.images if i.image_id != gone))
    scanner.scan("h", smaller)
    assert sorted(files.exported) == sorted([one, two])
    ledger = json.loads((tmp_path / "state" / "scans.json").read_text())
    assert set(ledger["Images"]) == {one, two}
