"""A real server with the console, a seeded account, and Debian's headless Chromium via Playwright."""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from imagewarden.inventory.models import (
    ComponentRecord,
    RiskRecord,
    ScanOutcome,
    ScanStatus,
    VirusRecord,
    VulnerabilityRecord,
)
from tests.e2e.conftest import Server, _start
from tests.e2e.sdk import common, report

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS_ENV = "IMAGEWARDEN_SCREENSHOTS"


@pytest.fixture(scope="session")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``imagewarden serve`` on a fresh SQLite store (it serves /console)."""
    if not CHROMIUM.exists():
        pytest.skip(f"Debian's Chromium is not installed ({CHROMIUM}): apt-get install -y chromium")
    tmp = tmp_path_factory.mktemp("console-server")
    yield from _start(f"sqlite:///{tmp / 'iw.db'}", tmp)


# --- seed data: clearly fictitious images (registry.example), three hosts, some scanned -------

TEAMS = {
    "shop": ["cart-api", "checkout", "catalog", "storefront"],
    "payments": ["ledger", "gateway", "fraud-scorer"],
    "platform": ["ingress", "log-shipper", "metrics-agent", "config-sync"],
    "data": ["etl-runner", "warehouse-loader", "notebook"],
}
TAGS = ["1.4.2", "1.5.0", "2.0.1", "latest"]
OSES = ["debian:12", "alpine:3.20", "ubuntu:24.04", "debian:11", "distroless"]
N_IMAGES = 47


def image_id(label: str) -> str:
    return "sha256:" + hashlib.sha256(f"console-e2e/{label}".encode()).hexdigest()


def _names() -> list[str]:
    out = [
        f"registry.example/{team}/{svc}:{tag}"
        for tag in TAGS
        for team, svcs in TEAMS.items()
        for svc in svcs
    ]
    return out[:N_IMAGES]


@dataclass
class Seeded:
    server: Server
    secret_id: str
    secret_key: str
    account_id: int
    account: str
    images: dict[str, dict[str, Any]]  # image ID -> what was reported

    @property
    def base(self) -> str:
        return f"http://{self.server.endpoint}"


def _vulns(k: int) -> tuple[str, ...]:
    """A deterministic, varied severity mix for the k-th scanned image."""
    pattern = (
        ("CRITICAL",) * (k % 3 == 0)
        + ("HIGH",) * (k % 4)
        + ("MEDIUM",) * (k % 5 + 1)
        + ("LOW",) * (k % 7 + 2)
    )
    return pattern if k % 6 else ()  # every sixth scanned image is clean


def _virus(k: int) -> VirusRecord:
    """A fictitious malware finding (the name says it is a test record)."""
    return VirusRecord(
        path=f"/opt/app{k}/bin/updater",
        file_name="updater",
        virus_name="Test.Linux.CoinMiner.A",
        risk_level=4,
        md5=hashlib.md5(f"console-e2e/{k}".encode()).hexdigest(),
        size=48_213,
        engine="hash",
    )


def _risk(k: int, n: int) -> RiskRecord:
    """A fictitious risky build step."""
    return RiskRecord(
        kind="build",
        rule_id=f"test-build-{n}",
        behavior=1,
        type=2,
        level=2 + n % 2,
        desc=f"build step {n} pipes a download into a shell (image {k})",
        instruction="Download, verify a checksum, then run.",
    )


@pytest.fixture(scope="session")
def seeded(console_server: Server) -> Seeded:
    account = "console-e2e"
    sid, skey, account_id = console_server.service.create_key(account)
    base = datetime(2024, 3, 1, 9, 0, 0)
    images = {}
    for i, name in enumerate(_names()):
        iid = image_id(name)
        images[iid] = {
            "ImageID": iid,
            "RepoTags": [name],
            "RepoDigests": [],
            "Size": 4_000_000 + (i * 104_729_003) % 900_000_000,
            "CreateTime": (base + timedelta(hours=5 * i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "OsName": OSES[i % len(OSES)],
            "Architecture": "amd64",
        }
    ids = list(images)
    order = list(ids)
    random.Random(7).shuffle(order)  # scans spread over the creation order
    client = common(console_server.endpoint, sid, skey)
    hosts = [
        (
            {"HostID": "node-a", "HostName": "node-a", "IPs": ["10.0.0.11"], "IsSuperNode": False},
            ids[:28],
        ),
        (
            {"HostID": "node-b", "HostName": "node-b", "IPs": ["10.0.0.12"], "IsSuperNode": True},
            ids[18:40],
        ),
        (
            {"HostID": "node-c", "HostName": "node-c", "IPs": ["10.0.0.13"], "IsSuperNode": False},
            ids[35:],
        ),
    ]
    for host, held in hosts:
        containers = [
            {
                "ContainerID": f"{host['HostID']}-{n}",
                "Name": f"c{n}",
                "ImageID": iid,
                "State": "running" if n % 4 else "exited",
            }
            for n, iid in enumerate(held)
            if n % 3 == 0
        ]
        out = report(client, host, [images[i] for i in held], containers)
        assert out["ImageCount"] == len(held)
    service = console_server.service
    for k, iid in enumerate(order[:30]):
        failed = k in (7, 19, 23)
        service.record_scan(
            account_id,
            ScanOutcome(
                image_id=iid,
                status=ScanStatus.SCAN_ERR if failed else ScanStatus.SCANNED,
                scan_time=datetime(2024, 6, 1, 8, 0, 0) + timedelta(minutes=13 * k),
                os_name=images[iid]["OsName"],
                error="layer digest mismatch" if failed else "",
                components=(ComponentRecord("openssl", "3.0.11-1", "deb"),),
                vulnerabilities=tuple(
                    VulnerabilityRecord(
                        f"CVE-2024-{k}{n:03d}",
                        f"CVE-2024-{k}{n:03d}",
                        "openssl",
                        "3.0.11-1",
                        "deb",
                        sev,
                    )
                    for n, sev in enumerate(_vulns(k))
                ),
                viruses=(_virus(k),) if k == 11 else (),
                risks=tuple(_risk(k, n) for n in range(k % 4 if k % 5 == 0 else 0)),
            ),
        )
    for iid in order[30:32]:
        service.mark_scanning(account_id, iid)
    service.set_trust(account_id, [order[2], order[9], order[33]], True)
    return Seeded(console_server, sid, skey, account_id, account, images)


# --- the browser -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser(console_server: Server) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, color_scheme="light")
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    p.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        yield p
        assert errors == [], f"the page logged errors: {errors}"
    finally:
        context.close()


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: docs/screenshots with IMAGEWARDEN_SCREENSHOTS=1, else a temp dir."""
    if os.environ.get(SCREENSHOTS_ENV) == "1":
        out = ROOT / "docs" / "screenshots"
        out.mkdir(parents=True, exist_ok=True)
        return out
    return tmp_path_factory.mktemp("screenshots")
