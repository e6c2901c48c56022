"""IsLatestImage: kept true at write time as hosts report, images are registered and pruned,
read back through the listing (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import text

from imagewarden.inventory.models import ImageQuery, ImageReport
from imagewarden.inventory.repository import is_latest_tag, latest_rank, repository_of
from imagewarden.inventory.service import InventoryService
from imagewarden.store.engine import make_engine
from imagewarden.store.migrate import upgrade
from tests.factories import host, image, image_id


def latest(service: InventoryService, account: int) -> dict[str, bool]:
    """ImageID label → IsLatestImage, read through the listing (the API's own query)."""
    rows, _ = service.list_images(account, ImageQuery(limit=100))
    return {r.image_id: r.is_latest_image for r in rows}


def flags(service: InventoryService, account: int, *labels: str) -> tuple[bool, ...]:
    got = latest(service, account)
    return tuple(got[image_id(label)] for label in labels)


@pytest.mark.parametrize(
    ("name", "repo"),
    [
        ("nginx:1.25", "nginx"),
        ("docker.io/library/nginx:1.25", "nginx"),
        ("library/nginx:latest", "nginx"),
        ("docker.io/nginx", "nginx"),
        ("docker.io/bitnami/redis:7", "bitnami/redis"),
        ("registry:5000/team/app:1.2", "registry:5000/team/app"),
        ("registry:5000/app", "registry:5000/app"),
        ("quay.io/library/x:1", "quay.io/library/x"),
        ("app@sha256:" + "a" * 64, "app"),
        ("<none>:<none>", ""),
        ("", ""),
    ],
)
def test_repository_of(name: str, repo: str) -> None:
    assert repository_of(name) == repo


def test_rank_order() -> None:
    t1, t2 = datetime(2024, 1, 1), datetime(2024, 6, 1)
    assert latest_rank(True, t2, False, "b") < latest_rank(True, t1, True, "a")  # newest first
    assert latest_rank(True, t1, True, "b") < latest_rank(True, t1, False, "a")  # then :latest
    assert latest_rank(True, t1, False, "a") < latest_rank(True, t1, False, "b")  # then the ID
    assert latest_rank(True, t1, False, "a") < latest_rank(False, t2, True, "a")  # held first
    assert latest_rank(True, None, False, "a") > latest_rank(True, t1, False, "b")  # unknown last
    assert is_latest_tag("a:latest") and not is_latest_tag("a") and not is_latest_tag("a:1")


def test_a_newer_image_takes_over_and_hands_back_when_removed(service: InventoryService) -> None:
    acct = service.account_id("a")
    old = image("old", "shop/app:1", created="2024-01-01T00:00:00")
    mid = image("mid", "shop/app:2", created="2024-06-01T00:00:00")
    other = image("other", "shop/db:9", created="2020-01-01T00:00:00")
    bare = image("bare", created="2030-01-01T00:00:00")  # untagged: never latest
    service.report_host(acct, host("h1", [old, mid, other, bare]))
    assert flags(service, acct, "old", "mid", "other", "bare") == (False, True, True, False)

    new = image("new", "shop/app:3", created="2025-01-01T00:00:00")
    service.report_host(acct, host("h2", [new]))
    assert flags(service, acct, "old", "mid", "new") == (False, False, True)

    service.report_host(acct, host("h2", []))  # no host holds it any more (HostCnt 0)
    assert flags(service, acct, "old", "mid", "new") == (False, True, False)
    service.report_host(acct, host("h2", [new]))  # back
    assert flags(service, acct, "mid", "new") == (False, True)
    service.report_host(acct, host("h2", []))
    assert service.prune_images(acct) == 1
    got = latest(service, acct)
    assert image_id("new") not in got and got[image_id("mid")] is True


def test_replaying_a_report_changes_nothing(service: InventoryService) -> None:
    acct = service.account_id("a")
    snap = host("h1", [image("x", "r:1", created="2024-01-01T00:00:00")])
    service.report_host(acct, snap)
    before = latest(service, acct)
    service.report_host(acct, snap)
    assert latest(service, acct) == before == {image_id("x"): True}


def test_retagging_moves_the_image_between_repositories(service: InventoryService) -> None:
    acct = service.account_id("a")
    a1 = image("a1", "app:1", created="2024-01-01T00:00:00")
    a2 = image("a2", "app:2", created="2024-02-01T00:00:00")
    b1 = image("b1", "tool:1", created="2023-01-01T00:00:00")
    service.report_host(acct, host("h", [a1, a2, b1]))
    assert flags(service, acct, "a1", "a2", "b1") == (False, True, True)

    # a2 is retagged into the other repository (same image ID, new names)
    a2_as_tool = image("a2", "tool:2", created="2024-02-01T00:00:00")
    service.report_host(acct, host("h", [a1, a2_as_tool, b1]))
    assert flags(service, acct, "a1", "a2", "b1") == (True, True, False)

    # an image carrying names in both repositories is latest if it wins either
    both = image("a2", "tool:2", "app:old", created="2024-02-01T00:00:00")
    service.report_host(acct, host("h", [a1, both, b1]))
    assert flags(service, acct, "a1", "a2", "b1") == (False, True, False)

    # untagged: it keeps no repository at all
    service.report_host(acct, host("h", [a1, image("a2", created="2024-02-01T00:00:00"), b1]))
    assert flags(service, acct, "a1", "a2", "b1") == (True, False, True)


def test_ties_and_docker_hub_spellings(service: InventoryService) -> None:
    acct = service.account_id("a")
    same = "2024-03-03T00:00:00"
    service.report_host(
        acct,
        host(
            "h",
            [
                image("p", "nginx:1.25", created=same),
                image("q", "docker.io/library/nginx:latest", created=same),  # same repository
                image("r", "web:1", created=same),
                image("s", "web:2", created=same),
                image("u", "job:1", created=None),  # an unknown CreateTime is the oldest
                image("v", "job:2", created="2000-01-01T00:00:00"),
            ],
        ),
    )
    got = latest(service, acct)
    assert got[image_id("q")] and not got[image_id("p")]  # equal times: the `latest` tag
    first, second = sorted([image_id("r"), image_id("s")])
    assert got[first] and not got[second]  # then the smallest image ID
    assert got[image_id("v")] and not got[image_id("u")]


def test_a_reported_create_time_change_moves_latest(service: InventoryService) -> None:
    acct = service.account_id("a")
    service.report_host(
        acct,
        host(
            "h",
            [
                image("x", "r:1", created="2024-01-01T00:00:00"),
                image("y", "r:2", created="2024-02-01T00:00:00"),
            ],
        ),
    )
    assert flags(service, acct, "x", "y") == (False, True)
    service.report_host(
        acct,
        host(
            "h",
            [
                image("x", "r:1", created="2025-01-01T00:00:00"),
                image("y", "r:2", created="2024-02-01T00:00:00"),
            ],
        ),
    )
    assert flags(service, acct, "x", "y") == (True, False)


def test_two_accounts_with_the_same_repository(service: InventoryService) -> None:
    a, b = service.account_id("a"), service.account_id("b")
    service.report_host(a, host("h", [image("old", "shared/app:1", created="2024-01-01T00:00:00")]))
    service.report_host(b, host("h", [image("new", "shared/app:2", created="2025-01-01T00:00:00")]))
    # b's newer image does not make a's image old: each account has its own latest
    assert latest(service, a) == {image_id("old"): True}
    assert latest(service, b) == {image_id("new"): True}
    service.report_host(
        b, host("h", [image("newer", "shared/app:3", created="2026-01-01T00:00:00")])
    )
    assert latest(service, a) == {image_id("old"): True}
    assert flags(service, b, "new", "newer") == (False, True)


def test_registered_images_count_only_when_no_host_holds_the_repository(
    service: InventoryService,
) -> None:
    acct = service.account_id("a")
    service.register_image(
        acct,
        ImageReport(
            image_id=image_id("reg"), repo_tags=("lib/x:9",), create_time=datetime(2026, 1, 1)
        ),
        "oci:/tmp/x",
    )
    assert flags(service, acct, "reg") == (True,)  # alone: latest of its repository
    service.report_host(acct, host("h", [image("held", "lib/x:1", created="2020-01-01T00:00:00")]))
    # a host holds an (older) image of the repository: the one no host holds steps back
    assert flags(service, acct, "reg", "held") == (False, True)


def test_the_migration_backfills_existing_rows(db_url: str) -> None:
    """Rows written before 0011 get their repository and flags from the migration."""
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM alembic_version"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('0010_component_owner')"))
        conn.execute(text("DROP INDEX ix_image_names_account_repository"))
        conn.execute(text("ALTER TABLE image_names DROP COLUMN repository"))
        conn.execute(text("ALTER TABLE hash_blocklist DROP COLUMN size"))  # 0013's
        conn.execute(text("DROP INDEX ix_images_account_image_create"))  # 0014's
        conn.execute(
            text("INSERT INTO accounts (id, name, created_at) VALUES (7, 'm', '2024-01-01')")
        )
        rows = [
            (1, "a1", "docker.io/library/app:1", "2024-01-01", 1),
            (2, "a2", "app:2", "2024-05-01", 1),
            (3, "a3", "app:3", "2026-01-01", 0),  # newest, but no host holds it
            (4, "b1", "tool:latest", "2024-01-01", 1),
            (5, "b2", "tool:1", "2024-01-01", 1),
        ]
        for pk, label, name, created, hosts in rows:
            conn.execute(
                text(
                    "INSERT INTO images (id, account_id, image_id, first_seen, create_time, "
                    "host_cnt, is_latest_image, image_name, names_search, repo_digests, size, "
                    "os_name, architecture, super_node_cnt, container_cnt, is_trusted, "
                    "is_authorized, scan_status, agent_error, scan_error, scan_vul_error, "
                    "scan_virus_error, scan_risk_error, vul_cnt, virus_cnt, risk_cnt, "
                    "component_cnt, critical_cnt, high_cnt, medium_cnt, low_cnt, is_suggest, "
                    "recommended_fix, solution, reason) VALUES (:pk, 7, :iid, :created, "
                    ":created, :hosts, :stale, :name, :search, '[]', 0, '', '', 0, 0, :f, 1, "
                    "'NOT_SCAN', '', '', '', '', '', 0, 0, 0, 0, 0, 0, 0, 0, 0, :f, '', '')"
                ),
                {
                    "pk": pk,
                    "iid": image_id(label),
                    "created": datetime.fromisoformat(created),
                    "hosts": hosts,
                    "stale": pk == 1,
                    "name": name,
                    "search": name.lower(),
                    "f": False,
                },
            )
            conn.execute(
                text("INSERT INTO image_names (image_pk, name, account_id) VALUES (:pk, :n, 7)"),
                {"pk": pk, "n": name},
            )
    upgrade(engine)
    with engine.connect() as conn:
        got = dict(conn.execute(text("SELECT id, is_latest_image FROM images ORDER BY id")).all())
        repos = dict(conn.execute(text("SELECT image_pk, repository FROM image_names")).all())
    engine.dispose()
    assert repos == {1: "app", 2: "app", 3: "app", 4: "tool", 5: "tool"}
    assert {k: bool(v) for k, v in got.items()} == {
        1: False,
        2: True,
        3: False,
        4: True,
        5: False,
    }
