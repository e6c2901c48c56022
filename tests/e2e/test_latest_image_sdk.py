"""IsLatestImage through the official SDK against a real server (SQLite and PostgreSQL):
hosts report a newer image of a repository, then drop it."""

from __future__ import annotations

from tests.e2e.conftest import Server
from tests.e2e.sdk import Pacer, common, list_images, report, tcss
from tests.factories import image_id


def test_is_latest_image_follows_host_reports(server: Server) -> None:
    sid, skey, _ = server.service.create_key("latest-e2e-" + image_id("x")[7:15])
    c, client, pacer = common(server.endpoint, sid, skey), tcss(server.endpoint, sid, skey), Pacer()
    old, new, other = image_id("l-old"), image_id("l-new"), image_id("l-other")
    base = [
        {"ImageID": old, "RepoTags": ["team/api:1"], "CreateTime": "2024-01-01T00:00:00Z"},
        {"ImageID": other, "RepoTags": ["team/web:1"], "CreateTime": "2020-01-01T00:00:00Z"},
        {"ImageID": image_id("l-bare"), "CreateTime": "2030-01-01T00:00:00Z"},  # untagged
    ]
    newer = {"ImageID": new, "RepoTags": ["team/api:2"], "CreateTime": "2025-01-01T00:00:00Z"}

    def latest() -> dict[str, bool]:
        rows = list_images(client, pacer, Limit=100).List
        return {r.ImageID: r.IsLatestImage for r in rows}

    report(c, {"HostID": "n1"}, base)
    assert latest() == {old: True, other: True, image_id("l-bare"): False}
    report(c, {"HostID": "n2"}, [newer])
    assert latest()[old] is False and latest()[new] is True
    report(c, {"HostID": "n2"}, [])  # the newer image left every host
    got = latest()
    assert got[old] is True and got[new] is False and got[other] is True
