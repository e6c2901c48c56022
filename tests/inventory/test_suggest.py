"""Key-focus images (IsSuggest, Reason, Solution): computed when read from the latest scan
and the latest host reports, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

from imagewarden.inventory.filters import build_image_query
from imagewarden.inventory.models import ScanOutcome, ScanStatus, VirusRecord, VulnerabilityRecord
from imagewarden.inventory.service import InventoryService
from tests.factories import container, host, image, image_id

T = datetime(2026, 3, 1, 8, 0, 0)


def vuln(severity: str, fixed: tuple[str, ...] = ()) -> VulnerabilityRecord:
    return VulnerabilityRecord(
        f"CVE-2026-{len(severity)}{len(fixed)}", "", "openssl", "3.0.1", "deb", severity,
        fixed_versions=fixed,
    )  # fmt: skip


def rows(service: InventoryService, acct: int) -> dict[str, tuple[int, str]]:
    query = build_image_query([], by=None, order=None, limit=100, offset=0)
    listed, _ = service.list_images(acct, query)
    return {r.image_name: (r.is_suggest, r.reason) for r in listed}


def test_key_focus_follows_scans_and_running_containers(service: InventoryService) -> None:
    acct = service.account_id("suggest")
    labels = ["crit-running", "crit-idle", "high-fix", "high-nofix", "virus", "clean", "unscanned"]
    running = [lbl for lbl in labels if lbl != "crit-idle"]
    service.report_host(
        acct,
        host(
            "h1",
            [image(lbl, f"{lbl}:1") for lbl in labels],
            [container(f"c-{lbl}", lbl) for lbl in running],
        ),
    )
    scans = {
        "crit-running": {"vulnerabilities": (vuln("CRITICAL"),)},
        "crit-idle": {"vulnerabilities": (vuln("CRITICAL"),)},
        "high-fix": {"vulnerabilities": (vuln("HIGH", ("3.0.2",)),)},
        "high-nofix": {"vulnerabilities": (vuln("HIGH"),)},
        "virus": {"viruses": (VirusRecord("/x", "x", "EICAR", 3),)},
        "clean": {},
    }
    for label, kw in scans.items():
        service.record_scan(
            acct,
            ScanOutcome(image_id(label), ScanStatus.SCANNED, T, **kw),  # type: ignore[arg-type]
        )

    got = rows(service, acct)
    suggested = {name for name, (flag, _) in got.items() if flag}
    assert suggested == {"crit-running:1", "high-fix:1", "virus:1"}
    assert got["crit-running:1"][1] == "running containers; critical vulnerabilities"
    assert "fix available" in got["high-fix:1"][1] and "malware" in got["virus:1"][1]
    assert got["crit-idle:1"] == (0, "") and got["unscanned:1"] == (0, "")

    query = build_image_query([], by="IsSuggest", order="DESC", limit=3, offset=0)
    by_suggest = service.list_images(acct, query)[0]
    assert {r.image_name for r in by_suggest} == suggested

    # the idle image's container starts: it becomes key-focus without a re-scan
    service.report_host(
        acct,
        host(
            "h1",
            [image(lbl, f"{lbl}:1") for lbl in labels],
            [container(f"c-{lbl}", lbl) for lbl in labels],
        ),
    )
    assert rows(service, acct)["crit-idle:1"][0] == 1
    # a failed re-scan never reads as key-focus (nor as clean)
    service.record_scan(
        acct, ScanOutcome(image_id("crit-running"), ScanStatus.SCAN_ERR, T, error="boom")
    )
    assert rows(service, acct)["crit-running:1"][0] == 0
