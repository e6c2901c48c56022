"""Inventory behaviour over real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime

import pytest

from imagewarden.inventory.errors import InvalidFilterError, NotFoundError
from imagewarden.inventory.filters import build_image_query
from imagewarden.inventory.models import (
    ComponentRecord,
    ImageQuery,
    RiskRecord,
    ScanOutcome,
    ScanStatus,
    SortField,
    VirusRecord,
    VulnerabilityRecord,
)
from imagewarden.inventory.service import InventoryService
from tests.factories import container, host, image, image_id


def q(filters=(), by=None, order=None, limit=100, offset=0) -> ImageQuery:
    return build_image_query(list(filters), by=by, order=order, limit=limit, offset=offset)


def ids(service: InventoryService, account: int, query: ImageQuery) -> list[str]:
    rows, _ = service.list_images(account, query)
    return [r.image_id for r in rows]


@pytest.fixture
def acct(service: InventoryService) -> int:
    return service.account_id("acme")


def test_counts_follow_hosts_and_running_containers(service: InventoryService, acct: int) -> None:
    service.report_host(
        acct,
        host(
            "h1",
            [image("nginx", "nginx:1.25"), image("redis", "redis:7")],
            [
                container("c1", "nginx"),
                container("c2", "nginx"),
                container("c3", "redis", "exited"),
            ],
        ),
    )
    service.report_host(
        acct,
        host(
            "h2",
            [image("nginx", "nginx:1.25", "nginx:latest")],
            [container("c1", "nginx")],
            super_node=True,
        ),
    )
    rows, total = service.list_images(acct, q(by="ImageName", order="asc"))
    assert total == 2
    nginx, redis = rows
    assert (nginx.image_name, nginx.host_cnt, nginx.super_node_cnt, nginx.container_cnt) == (
        "nginx:1.25",
        2,
        1,
        3,
    )
    # exited containers do not count
    assert (redis.image_name, redis.host_cnt, redis.super_node_cnt, redis.container_cnt) == (
        "redis:7",
        1,
        0,
        0,
    )
    assert nginx.scan_status == "NOT_SCAN" and nginx.scan_time is None and nginx.vul_cnt == 0
    assert nginx.scan_error == "" and nginx.agent_error == ""


def test_snapshot_replaces_host_state_and_is_idempotent(
    service: InventoryService, acct: int
) -> None:
    snap = host("h1", [image("a", "a:1"), image("b", "b:1")], [container("c1", "a")])
    service.report_host(acct, snap)
    service.report_host(acct, snap)  # replay: same state
    rows, total = service.list_images(acct, q(by="ImageName", order="asc"))
    assert total == 2 and [r.host_cnt for r in rows] == [1, 1] and rows[0].container_cnt == 1
    out = service.report_host(acct, host("h1", [image("b", "b:1")]))
    assert out.removed_images == 1 and out.removed_containers == 1
    rows, total = service.list_images(acct, q(by="ImageName", order="asc"))
    # an image no host holds stays listed with HostCnt 0 (and its last name) until pruned
    assert [(r.image_name, r.host_cnt, r.container_cnt) for r in rows] == [
        ("a:1", 0, 0),
        ("b:1", 1, 0),
    ]
    assert service.prune_images(acct) == 1
    assert ids(service, acct, q()) == [image_id("b")]


def test_container_of_unreported_image_counts_the_host(
    service: InventoryService, acct: int
) -> None:
    service.report_host(acct, host("h1", [], [container("c1", "ghost")]))
    rows, _ = service.list_images(acct, q())
    assert [(r.image_id, r.host_cnt, r.container_cnt, r.image_name) for r in rows] == [
        (image_id("ghost"), 1, 1, "<none>:<none>")
    ]


def test_primary_name_is_the_most_reported_tag(service: InventoryService, acct: int) -> None:
    service.report_host(acct, host("h1", [image("x", "zeta:1", "alpha:1")]))
    service.report_host(acct, host("h2", [image("x", "zeta:1")]))
    rows, _ = service.list_images(acct, q())
    assert rows[0].image_name == "zeta:1"


@pytest.fixture
def fleet(service: InventoryService, acct: int) -> int:
    service.report_host(
        acct,
        host(
            "h1",
            [
                image(
                    "nginx", "docker.io/library/nginx:1.25", size=500, created="2024-03-01T00:00:00"
                ),
                image("redis", "redis:7", size=300, created="2024-02-01T00:00:00"),
                image("py", "python:3.12", "MyApp:Prod", size=900, created="2024-01-01T00:00:00"),
            ],
            [container("c1", "nginx")],
        ),
    )
    service.report_host(
        acct,
        host(
            "h2",
            [
                image("nginx", "nginx:latest", size=500, created="2024-03-01T00:00:00"),
                image("busy", "busybox:1", size=10, created=None),
            ],
        ),
    )
    return acct


def test_image_name_filter_substring_and_exact(service: InventoryService, fleet: int) -> None:
    assert ids(service, fleet, q([("ImageName", ["NGINX"], False)])) == [image_id("nginx")]
    assert set(ids(service, fleet, q([("ImageName", ["nginx", "redis"], False)]))) == {
        image_id("nginx"),
        image_id("redis"),
    }
    assert ids(service, fleet, q([("ImageName", ["myapp:prod"], False)])) == [image_id("py")]
    # exact: equality with any of the image's names, case-sensitive
    assert ids(service, fleet, q([("ImageName", ["nginx:latest"], True)])) == [image_id("nginx")]
    assert ids(service, fleet, q([("ImageName", ["nginx"], True)])) == []
    assert ids(service, fleet, q([("ImageName", ["myapp:prod"], True)])) == []
    # LIKE wildcards in values are literal
    assert ids(service, fleet, q([("ImageName", ["%"], False)])) == []
    assert ids(service, fleet, q([("ImageName", ["_"], False)])) == []


def test_image_id_filter(service: InventoryService, fleet: int) -> None:
    full = image_id("redis")
    assert ids(service, fleet, q([("ImageID", [full], True)])) == [full]
    assert ids(service, fleet, q([("ImageID", [full[7:]], True)])) == [full]
    assert ids(service, fleet, q([("ImageID", [full[:19]], False)])) == [full]
    assert ids(service, fleet, q([("ImageID", [full[7:19].upper()], False)])) == [full]
    assert ids(service, fleet, q([("ImageID", [full[:19]], True)])) == []
    with pytest.raises(InvalidFilterError):
        q([("ImageID", ["xyz"], False)])


def _scan(
    service: InventoryService,
    acct: int,
    label: str,
    status=ScanStatus.SCANNED,
    sevs=(),
    virus=0,
    risk=0,
) -> None:
    service.record_scan(
        acct,
        ScanOutcome(
            image_id=image_id(label),
            status=status,
            scan_time=datetime(2024, 5, 1, 12, 0, 0),
            os_name="debian:12",
            error="layer truncated" if status is ScanStatus.SCAN_ERR else "",
            components=(ComponentRecord("openssl", "3.0.11-1~deb12u2", "deb"),),
            vulnerabilities=tuple(
                VulnerabilityRecord(
                    f"CVE-2024-{i}",
                    f"CVE-2024-{i}",
                    "openssl",
                    "3.0.11",
                    "deb",
                    s,
                    fixed_versions=("3.0.13",),
                )
                for i, s in enumerate(sevs)
            ),
            viruses=tuple(
                VirusRecord(f"/bin/v{i}", f"v{i}", "EICAR-Test-File", 3) for i in range(virus)
            ),
            risks=tuple(
                RiskRecord("build", f"rule-{i}", 1, 2, 2, "curl piped into a shell")
                for i in range(risk)
            ),
        ),
    )


def test_scan_status_and_security_risk_filters(service: InventoryService, fleet: int) -> None:
    _scan(service, fleet, "nginx", sevs=("CRITICAL", "HIGH", "HIGH"), virus=1)
    _scan(service, fleet, "redis", sevs=("LOW",), risk=2)
    _scan(service, fleet, "py", status=ScanStatus.SCAN_ERR, sevs=("CRITICAL",), virus=3)
    service.set_trust(fleet, ["busybox:1"], True)

    for spelling in ("scanned", "SCANNED", "Scanned"):
        assert set(ids(service, fleet, q([("ScanStatus", [spelling], False)]))) == {
            image_id("nginx"),
            image_id("redis"),
        }
    assert ids(service, fleet, q([("ScanStatus", ["scanErr"], False)])) == [image_id("py")]
    assert ids(service, fleet, q([("ScanStatus", ["SCAN_ERR"], False)])) == [image_id("py")]
    assert ids(service, fleet, q([("ScanStatus", ["notScan"], False)])) == [image_id("busy")]
    # a failed scan never matches a risk filter, whatever it found before failing
    assert ids(service, fleet, q([("SecurityRisk", ["CriticalLevelVul"], False)])) == [
        image_id("nginx")
    ]
    assert ids(service, fleet, q([("SecurityRisk", ["VirusCnt"], False)])) == [image_id("nginx")]
    assert ids(service, fleet, q([("SecurityRisk", ["RiskCnt"], False)])) == [image_id("redis")]
    assert ids(service, fleet, q([("SecurityRisk", ["IsTrustImage"], False)])) == [image_id("busy")]
    assert set(
        ids(service, fleet, q([("SecurityRisk", ["LowLevelVul", "HighLevelVul"], False)]))
    ) == {image_id("nginx"), image_id("redis")}
    assert ids(service, fleet, q([("SecurityRisk", ["MediumLevelVul"], False)])) == []
    # AND across entries
    assert ids(
        service,
        fleet,
        q(
            [
                ("SecurityRisk", ["LowLevelVul", "HighLevelVul"], False),
                ("ImageName", ["redis"], False),
            ]
        ),
    ) == [image_id("redis")]

    rows, _ = service.list_images(fleet, q([("ImageName", ["nginx"], False)]))
    r = rows[0]
    assert (
        r.vul_cnt,
        r.critical_level_vul_cnt,
        r.high_level_vul_cnt,
        r.low_level_vul_cnt,
        r.virus_cnt,
    ) == (3, 1, 2, 0, 1)
    assert (r.component_cnt, r.os_name, r.recommended_fix, r.scan_status) == (
        1,
        "debian:12",
        True,
        "SCANNED",
    )
    failed, _ = service.list_images(fleet, q([("ScanStatus", ["scanErr"], False)]))
    assert (
        failed[0].vul_cnt,
        failed[0].critical_level_vul_cnt,
        failed[0].virus_cnt,
        failed[0].scan_error,
    ) == (0, 0, 0, "layer truncated")


def test_unknown_filters_and_sorts_are_rejected(service: InventoryService, fleet: int) -> None:
    for bad in (
        [("Colour", ["x"], False)],
        [("ScanStatus", ["done"], False)],
        [("SecurityRisk", ["Scary"], False)],
        [("ImageName", [], False)],
    ):
        with pytest.raises(InvalidFilterError):
            q(bad)
    with pytest.raises(InvalidFilterError):
        q(by="Nope")
    with pytest.raises(InvalidFilterError):
        q(order="up")


@pytest.mark.parametrize("field", [f.value for f in SortField] + ["SensitiveCount"])
@pytest.mark.parametrize("order", ["asc", "DESC"])
def test_every_sort_pages_without_gaps_or_repeats(
    service: InventoryService, acct: int, field: str, order: str
) -> None:
    # 23 images with many ties so the ImageID tiebreak matters
    imgs = [
        image(
            f"img{i}",
            f"repo{i % 4}:t{i}",
            size=(i % 3) * 100,
            created=f"2024-01-{1 + i % 5:02d}T00:00:00",
        )
        for i in range(23)
    ]
    service.report_host(
        acct, host("h1", imgs[:15], [container(f"c{i}", f"img{i}") for i in range(0, 15, 2)])
    )
    service.report_host(
        acct,
        host(
            "h2",
            imgs[10:],
            [container(f"d{i}", f"img{i}") for i in range(10, 23, 3)],
            super_node=True,
        ),
    )
    for i in range(0, 23, 4):
        _scan(service, acct, f"img{i}", sevs=("HIGH",) * (i % 3) + ("LOW",) * (i % 2), risk=i % 2)
    seen: list[str] = []
    for offset in range(0, 23, 5):
        page = ids(service, acct, q(by=field, order=order, limit=5, offset=offset))
        seen.extend(page)
    assert len(seen) == 23 and len(set(seen)) == 23
    whole, total = service.list_images(acct, q(by=field, order=order, limit=100))
    assert total == 23 and [r.image_id for r in whole] == seen


def test_default_order_is_newest_first(service: InventoryService, fleet: int) -> None:
    assert ids(service, fleet, q()) == [
        image_id("nginx"),
        image_id("redis"),
        image_id("py"),
        image_id("busy"),
    ]
    assert ids(service, fleet, q(order="asc")) == [
        image_id("py"),
        image_id("redis"),
        image_id("nginx"),
        image_id("busy"),
    ]


def test_total_count_and_paging(service: InventoryService, fleet: int) -> None:
    rows, total = service.list_images(fleet, q(limit=1, offset=1))
    assert total == 4 and [r.image_id for r in rows] == [image_id("redis")]
    rows, total = service.list_images(fleet, q(limit=10, offset=10))
    assert rows == [] and total == 4


def test_accounts_never_mix(service: InventoryService) -> None:
    a, b = service.account_id("a"), service.account_id("b")
    service.report_host(
        a,
        host(
            "h1", [image("shared", "shared:1"), image("only-a", "a:1")], [container("c1", "shared")]
        ),
    )
    service.report_host(b, host("h1", [image("shared", "shared:1")]))
    assert set(ids(service, a, q())) == {image_id("shared"), image_id("only-a")}
    assert ids(service, b, q()) == [image_id("shared")]
    rb, _ = service.list_images(b, q())
    assert (rb[0].host_cnt, rb[0].container_cnt) == (1, 0)
    with pytest.raises(NotFoundError):
        service.set_trust(b, ["a:1"], True)
    service.set_trust(a, ["shared:1"], True)
    assert ids(service, b, q([("SecurityRisk", ["IsTrustImage"], False)])) == []


def test_keys_round_trip_and_disable(service: InventoryService) -> None:
    sid, skey, acct = service.create_key("team")
    cred = service.credential(sid)
    assert cred is not None and cred.secret_key == skey and cred.account_id == acct and cred.enabled
    service.disable_key(sid)
    cred = service.credential(sid)
    assert cred is not None and not cred.enabled
    assert service.credential("AKIDnope") is None
    with pytest.raises(NotFoundError):
        service.disable_key("AKIDnope")
