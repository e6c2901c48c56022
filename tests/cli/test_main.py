"""The imagewarden command line, run as a user would (typer's runner, real SQLite files)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from imagewarden.cli.main import app
from imagewarden.inventory.models import ImageQuery
from imagewarden.server import open_runtime
from tests.factories import host, image, image_id

runner = CliRunner()


def invoke(tmp: Path, *args: str) -> str:
    res = runner.invoke(app, [*args, "--db", f"sqlite:///{tmp / 'cli.db'}"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    return res.output


def test_keys_lifecycle(tmp_path: Path) -> None:
    created = json.loads(invoke(tmp_path, "keys", "create", "--account", "ops", "--json"))
    assert (
        created["SecretId"].startswith("AKID")
        and len(created["SecretId"]) == 36
        and len(created["SecretKey"]) == 32
    )
    assert (tmp_path / "cli.db.key").exists() and (
        tmp_path / "cli.db.key"
    ).stat().st_mode & 0o077 == 0
    listing = invoke(tmp_path, "keys", "list")
    assert listing.split("\t")[:3] == [created["SecretId"], "ops", "enabled"]
    assert created["SecretKey"] not in listing
    invoke(tmp_path, "keys", "disable", created["SecretId"])
    assert invoke(tmp_path, "keys", "list").split("\t")[2] == "disabled"
    res = runner.invoke(
        app, ["keys", "disable", "AKIDmissing", "--db", f"sqlite:///{tmp_path / 'cli.db'}"]
    )
    assert res.exit_code == 2
    # the database alone does not reveal the secret
    assert created["SecretKey"].encode() not in (tmp_path / "cli.db").read_bytes()


def test_trust_untrust_prune(tmp_path: Path) -> None:
    invoke(tmp_path, "db", "upgrade")
    rt = open_runtime(f"sqlite:///{tmp_path / 'cli.db'}", tmp_path / "cli.db.key")
    acct = rt.service.account_id("default")
    rt.service.report_host(acct, host("h1", [image("a", "app:1"), image("b", "app:2")]))
    assert "trusted 1" in invoke(tmp_path, "images", "trust", "app:1")
    assert "trusted 1" in invoke(tmp_path, "images", "trust", image_id("b")[:71])
    rows = {r.image_id: r.is_trust_image for r in rt.service.list_images(acct, ImageQuery())[0]}
    assert rows == {image_id("a"): True, image_id("b"): True}
    assert "untrusted 1" in invoke(tmp_path, "images", "untrust", "app:2")
    rt.service.report_host(acct, host("h1", [image("a", "app:1")]))
    assert "pruned 1" in invoke(tmp_path, "images", "prune")
    res = runner.invoke(
        app, ["images", "trust", "nope:1", "--db", f"sqlite:///{tmp_path / 'cli.db'}"]
    )
    assert res.exit_code == 2 and "nope:1" in res.output
