"""Virus and risk findings: stored by record_scan, served by the drill-down use-cases, on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from imagewarden.inventory.drilldown import page_risks, page_viruses
from imagewarden.inventory.errors import InvalidFilterError, NotFoundError
from imagewarden.inventory.filters import build_image_query
from imagewarden.inventory.models import (
    CategoryState,
    HistoryStep,
    RiskRecord,
    ScanOutcome,
    ScanStatus,
    SortField,
    VirusRecord,
)
from imagewarden.inventory.service import InventoryService
from imagewarden.jobs.models import ScanRequest
from imagewarden.store.engine import make_engine, make_sessionmaker
from imagewarden.store.jobs import SqlJobQueue
from imagewarden.store.tables import ImageRisk
from tests.factories import container, host, image, image_id

T1 = datetime(2026, 3, 1, 8, 0, 0)
T2 = datetime(2026, 3, 2, 9, 30, 0)

EICAR = VirusRecord(
    path="/opt/app/eicar.com",
    file_name="eicar.com",
    virus_name="EICAR-Test-File",
    risk_level=3,
    md5="44d88612fea8a8f36de82e1278abb02f",
    size=68,
    tags=("test-file",),
    desc="The EICAR anti-virus test file",
    solution="Delete the file",
    engine="yara",
    layer="sha256:" + "1" * 64,
)
MINER = VirusRecord(
    path="/usr/local/bin/xmrig",
    file_name="xmrig",
    virus_name="Linux.Miner.XMRig",
    risk_level=4,
    md5="0" * 32,
    size=4_000_000,
    engine="hash",
)
AWS_KEY = RiskRecord(
    kind="sensitive",
    rule_id="aws-access-key-id",
    behavior=4,
    type=1,
    level=4,
    desc="AWS access key ID in /app/.env:3",
    instruction="AWS_ACCESS_KEY_ID=AKIA************",
    path="/app/.env",
    line=3,
    excerpt="AWS_ACCESS_KEY_ID=AKIA************",
)
ROOT = RiskRecord("build", "run-as-root", 2, 2, 2, "The image runs as root", "USER root")
CURL_SH = RiskRecord(
    "build", "curl-pipe-shell", 3, 2, 3, "A script is piped into a shell", "RUN curl x | sh"
)


@pytest.fixture
def acct(service: InventoryService) -> int:
    a = service.account_id("acme")
    service.report_host(
        a,
        host(
            "h1",
            [image("app", "app:1", size=5000), image("db", "db:2", size=900), image("idle")],
            [container("c1", "app"), container("c2", "app"), container("c3", "db")],
        ),
    )
    return a


def outcome(label: str, when: datetime = T1, **kw: object) -> ScanOutcome:
    return ScanOutcome(image_id(label), ScanStatus.SCANNED, when, **kw)  # type: ignore[arg-type]


def test_record_scan_stores_viruses_and_risks(service: InventoryService, acct: int) -> None:
    service.record_scan(
        acct,
        outcome(
            "app",
            viruses=(EICAR, MINER),
            risks=(AWS_KEY, ROOT, CURL_SH),
            author="ops@example.com",
            build_history=(HistoryStep("2026-01-01T00:00:00Z", "RUN curl x | sh"),),
        ),
    )
    found = service.image_viruses(acct, image_id("app"))
    assert found.state is CategoryState.DONE
    by_name = {r["virus_name"]: r for r in found.rows}
    assert set(by_name) == {"EICAR-Test-File", "Linux.Miner.XMRig"}
    eicar = by_name["EICAR-Test-File"]
    assert (eicar["path"], eicar["md5"], eicar["size"], eicar["tags"], eicar["engine"]) == (
        EICAR.path,
        EICAR.md5,
        68,
        ["test-file"],
        "yara",
    )
    assert eicar["first_scan_time"] == eicar["latest_scan_time"] == T1
    risks = service.image_risks(acct, image_id("app"))
    assert sorted(r["rule_id"] for r in risks) == [
        "aws-access-key-id",
        "curl-pipe-shell",
        "run-as-root",
    ]

    row = service.list_images(acct, build_image_query([], by=None, order=None, limit=10, offset=0))
    app = next(r for r in row[0] if r.image_id == image_id("app"))
    # ImagesInfo: VirusCnt = viruses, RiskCnt = sensitive + build-step risks
    assert (app.virus_cnt, app.risk_cnt) == (2, 3)

    d = service.image_detail(acct, image_id("app"))
    assert (d.virus_cnt, d.sensitive_cnt, d.build_risk_cnt) == (2, 1, 2)
    assert (d.status, d.virus_state, d.risk_state, d.vul_state) == (CategoryState.DONE,) * 4
    assert d.author == "ops@example.com"
    assert d.build_history == (HistoryStep("2026-01-01T00:00:00Z", "RUN curl x | sh"),)
    assert (d.host_cnt, d.container_cnt, d.size) == (1, 2, 5000)


def test_a_rescan_replaces_findings_and_keeps_first_seen(
    service: InventoryService, acct: int
) -> None:
    service.record_scan(acct, outcome("app", viruses=(EICAR, MINER), risks=(AWS_KEY, ROOT)))
    service.record_scan(acct, outcome("app", T2, viruses=(EICAR,), risks=(CURL_SH,)))
    found = service.image_viruses(acct, image_id("app"))
    assert [r["virus_name"] for r in found.rows] == ["EICAR-Test-File"]
    assert (found.rows[0]["first_scan_time"], found.rows[0]["latest_scan_time"]) == (T1, T2)
    assert [r["rule_id"] for r in service.image_risks(acct, image_id("app"))] == ["curl-pipe-shell"]
    d = service.image_detail(acct, image_id("app"))
    assert (d.virus_cnt, d.sensitive_cnt, d.build_risk_cnt) == (1, 0, 1)
    # the same file found again with other bytes is a new finding
    changed = VirusRecord(**{**EICAR.__dict__, "md5": "f" * 32})
    service.record_scan(acct, outcome("app", T2 + timedelta(days=1), viruses=(changed,)))
    again = service.image_viruses(acct, image_id("app")).rows
    assert again[0]["first_scan_time"] == T2 + timedelta(days=1)


def test_a_failed_scan_keeps_no_findings(service: InventoryService, acct: int) -> None:
    service.record_scan(acct, outcome("app", viruses=(EICAR,), risks=(ROOT,)))
    service.record_scan(
        acct,
        ScanOutcome(
            image_id("app"),
            ScanStatus.SCAN_ERR,
            T2,
            error="layer truncated",
            viruses=(MINER,),  # what a broken scan saw is not kept
            risks=(CURL_SH,),
        ),
    )
    found = service.image_viruses(acct, image_id("app"))
    assert found.rows == [] and found.state is CategoryState.ERROR
    assert service.image_risks(acct, image_id("app")) == []
    d = service.image_detail(acct, image_id("app"))
    assert (d.virus_cnt, d.sensitive_cnt, d.build_risk_cnt, d.status) == (
        0,
        0,
        0,
        CategoryState.ERROR,
    )
    rows, _ = service.list_images(
        acct,
        build_image_query(
            [("SecurityRisk", ["VirusCnt", "RiskCnt"], False)],
            by=None,
            order=None,
            limit=10,
            offset=0,
        ),
    )
    assert rows == []
    # a crash (restore_status SCAN_ERR) clears findings as well
    service.record_scan(acct, outcome("db", viruses=(EICAR,)))
    service.restore_status(acct, image_id("db"), ScanStatus.SCAN_ERR.value)
    assert service.image_viruses(acct, image_id("db")).rows == []


def test_category_errors_and_categories_not_asked_for(service: InventoryService, acct: int) -> None:
    service.record_scan(
        acct,
        outcome(
            "app",
            virus_error="clamd is not reachable",
            risks=(ROOT,),
            risk_error="secret: rules failed to load",
        ),
    )
    d = service.image_detail(acct, image_id("app"))
    assert (d.virus_state, d.risk_state, d.vul_state) == (
        CategoryState.ERROR,
        CategoryState.ERROR,
        CategoryState.DONE,
    )
    assert d.scan_virus_error == "clamd is not reachable" and d.build_risk_cnt == 1
    # a scan that covered only vulnerabilities: viruses read "not scanned", never clean
    service.record_scan(acct, outcome("db", virus_scanned=False, risk_scanned=False))
    assert service.image_viruses(acct, image_id("db")).state is CategoryState.NOT_SCANNED
    d = service.image_detail(acct, image_id("db"))
    assert (d.virus_state, d.risk_state, d.vul_state, d.status) == (
        CategoryState.NOT_SCANNED,
        CategoryState.NOT_SCANNED,
        CategoryState.DONE,
        CategoryState.DONE,
    )
    never = service.image_detail(acct, image_id("idle"))
    assert (never.status, never.virus_state, never.scan_status) == (
        CategoryState.NOT_SCANNED,
        CategoryState.NOT_SCANNED,
        "NOT_SCAN",
    )


def test_scanning_and_cancelled_states_come_from_the_latest_job(
    service: InventoryService, acct: int, db_url: str
) -> None:
    engine = make_engine(db_url)
    now = [T2]
    queue = SqlJobQueue(make_sessionmaker(engine), lambda: now[0])
    try:
        service.record_scan(acct, outcome("app", viruses=(EICAR,)))
        queue.enqueue(
            [
                ScanRequest(
                    acct, image_id("app"), "oci:/x", scan_vul=True, scan_virus=False, scan_risk=True
                )
            ]
        )
        service.mark_scanning(acct, image_id("app"))
        d = service.image_detail(acct, image_id("app"))
        # the running job does not cover viruses: their last result still stands
        assert (d.status, d.vul_state, d.risk_state, d.virus_state) == (
            CategoryState.SCANNING,
            CategoryState.SCANNING,
            CategoryState.SCANNING,
            CategoryState.DONE,
        )
        assert service.image_viruses(acct, image_id("app")).state is CategoryState.DONE
        assert queue.cancel(acct, image_ids=[image_id("app")]) == 1
        service.restore_status(acct, image_id("app"), ScanStatus.SCANNED.value)
        d = service.image_detail(acct, image_id("app"))
        assert (d.status, d.vul_state, d.virus_state) == (
            CategoryState.CANCELLED,
            CategoryState.CANCELLED,
            CategoryState.DONE,
        )
        # a later finished scan supersedes the cancelled attempt
        service.record_scan(acct, outcome("app", T2 + timedelta(hours=1)))
        assert service.image_detail(acct, image_id("app")).status is CategoryState.DONE
    finally:
        engine.dispose()


def test_unknown_images_and_other_accounts(service: InventoryService, acct: int) -> None:
    service.record_scan(acct, outcome("app", viruses=(EICAR,), risks=(ROOT,)))
    other = service.account_id("globex")
    for call in (service.image_viruses, service.image_risks, service.image_detail):
        with pytest.raises(NotFoundError):
            call(other, image_id("app"))
        with pytest.raises(NotFoundError):
            call(acct, image_id("nope"))


def test_secrets_are_stored_only_as_the_redacted_record(
    service: InventoryService, acct: int, db_url: str
) -> None:
    service.record_scan(acct, outcome("app", risks=(AWS_KEY,)))
    engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine).begin() as s:
            row = s.scalars(select(ImageRisk)).one()
            stored = {c.key: getattr(row, c.key) for c in ImageRisk.__table__.columns}
    finally:
        engine.dispose()
    # every text column holds a RiskRecord field verbatim: nothing but the redacted excerpt
    assert stored["excerpt"] == stored["instruction"] == "AWS_ACCESS_KEY_ID=AKIA************"
    assert set(stored) == {
        "id",
        "image_pk",
        "kind",
        "rule_id",
        "behavior",
        "type",
        "level",
        "description",
        "instruction",
        "path",
        "line",
        "excerpt",
        "layer",
    }


def test_paging_filters_and_sorting_of_findings() -> None:
    viruses = [
        {
            "virus_name": n,
            "file_name": f,
            "risk_level": lvl,
            "path": f"/{f}",
            "md5": "",
            "size": size,
            "first_scan_time": T1,
            "latest_scan_time": t,
        }
        for n, f, lvl, size, t in (
            ("EICAR-Test-File", "eicar.com", 3, 68, T1),
            ("Linux.Miner.XMRig", "xmrig", 4, 4_000, T2),
            ("Webshell.PHP.Generic", "shell.php", 2, 900, T2),
        )
    ]
    page, total = page_viruses(viruses, [("Name", ["miner", "EICAR"], False)], None, None, 10, 0)
    assert total == 2 and [r["file_name"] for r in page] == ["xmrig", "eicar.com"]
    page, total = page_viruses(viruses, [("Name", ["eicar"], True)], None, None, 10, 0)
    assert total == 0  # ExactMatch: equality
    page, _ = page_viruses(viruses, [("RiskLevel", ["2", "HIGH"], False)], "Size", "asc", 10, 0)
    assert [r["file_name"] for r in page] == ["eicar.com", "shell.php"]
    page, total = page_viruses(viruses, [], "RiskLevel", "asc", 1, 1)
    assert total == 3 and [r["risk_level"] for r in page] == [3]
    with pytest.raises(InvalidFilterError):
        page_viruses(viruses, [("Colour", ["red"], False)], None, None, 10, 0)
    with pytest.raises(InvalidFilterError):
        page_viruses(viruses, [("RiskLevel", ["7"], False)], None, None, 10, 0)
    with pytest.raises(InvalidFilterError):
        page_viruses(viruses, [], "Colour", None, 10, 0)

    risks = [
        {
            "kind": "build",
            "rule_id": r,
            "behavior": b,
            "type": t,
            "level": lvl,
            "path": "",
            "line": 0,
            "instruction": "",
        }
        for r, b, t, lvl in (("a", 1, 1, 4), ("b", 2, 2, 1), ("c", 3, 2, 3), ("d", 2, 1, 2))
    ]
    page, total = page_risks(risks, [("Behavior", ["2"], False)], "Level", "desc", 10, 0)
    assert total == 2 and [r["rule_id"] for r in page] == ["d", "b"]
    page, _ = page_risks(
        risks, [("Type", ["2"], False), ("Level", ["HIGH", "1"], False)], None, None, 10, 0
    )
    assert [r["rule_id"] for r in page] == ["c", "b"]
    with pytest.raises(InvalidFilterError):
        page_risks(risks, [("Behavior", ["x"], False)], None, None, 10, 0)


def test_simple_list(service: InventoryService, acct: int) -> None:
    rows, total = service.list_simple(acct, ["APP"], [], True, 10, 0)
    assert total == 1 and rows[0].image_id == image_id("app") and rows[0].container_cnt == 2
    rows, total = service.list_simple(acct, [image_id("db")[7:20]], [], True, 10, 0)
    assert [r.image_id for r in rows] == [image_id("db")]
    rows, total = service.list_simple(acct, [], [SortField.CONTAINER_CNT], False, 2, 0)
    assert total == 3 and [r.container_cnt for r in rows] == [0, 1]
    rows, total = service.list_simple(acct, [], [SortField.SIZE], True, 2, 2)
    assert total == 3 and [r.size for r in rows] == [900]
    assert service.list_simple(service.account_id("globex"), [], [], True, 10, 0) == ([], 0)
