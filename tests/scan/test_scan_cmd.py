"""The ``scan`` command through typer's CliRunner on a local app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from imagewarden.cli.scan_cmd import register
from tests.scan.test_pipeline import BASE
from tests.testdata.images.build import (
    make_image,
    make_layer,
    write_docker_archive,
    write_oci_layout,
)


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """test app"""

    register(app)
    return app


def test_json_to_file(app: typer.Typer, tmp_path: Path) -> None:
    write_oci_layout(tmp_path / "img", [("v1", make_image([BASE]))])
    out = tmp_path / "report.json"
    res = CliRunner().invoke(
        app, ["scan", f"oci:{tmp_path / 'img'}:v1", "--format", "json", "-o", str(out)]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert doc["os"]["name"] == "debian:12"
    assert {c["name"] for c in doc["components"]} == {"libc6", "zlib1g"}


def test_table_stdout_and_cache_dir(app: typer.Typer, tmp_path: Path) -> None:
    write_docker_archive(tmp_path / "d.tar", [(["x/y:1"], make_image([BASE]))])
    args = ["scan", f"docker-archive:{tmp_path / 'd.tar'}", "--cache-dir", str(tmp_path / "cache")]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "libc6" in res.output and "debian:12" in res.output
    assert len(list((tmp_path / "cache").glob("*.json"))) == 1
    assert CliRunner().invoke(app, args).exit_code == 0


def test_cyclonedx_stdout(app: typer.Typer, tmp_path: Path) -> None:
    write_oci_layout(tmp_path / "img", [("v1", make_image([BASE]))])
    res = CliRunner().invoke(app, ["scan", str(tmp_path / "img"), "-f", "cyclonedx"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["bomFormat"] == "CycloneDX"


def test_scan_failure_exits_1(app: typer.Typer, tmp_path: Path) -> None:
    write_oci_layout(tmp_path / "img", [("v1", make_image([make_layer([("../../evil", b"x")])]))])
    res = CliRunner().invoke(app, ["scan", f"oci:{tmp_path / 'img'}"])
    assert res.exit_code == 1
    assert "UnsafeArchiveError" in res.output
    res = CliRunner().invoke(app, ["scan", f"oci:{tmp_path / 'missing'}"])
    assert res.exit_code == 1


def test_bad_options(app: typer.Typer, tmp_path: Path) -> None:
    write_oci_layout(tmp_path / "img", [("v1", make_image([BASE]))])
    ref = f"oci:{tmp_path / 'img'}"
    assert CliRunner().invoke(app, ["scan", ref, "--format", "xml"]).exit_code == 1
    assert CliRunner().invoke(app, ["scan", ref, "--platform", "linux"]).exit_code == 1
    assert CliRunner().invoke(app, ["scan", ref, "--analyzers", "nope"]).exit_code == 1
    assert CliRunner().invoke(app, ["scan", ref, "--severity", "HUGE"]).exit_code != 0


def test_exit_code_without_db_is_a_visible_note(app: typer.Typer, tmp_path: Path) -> None:
    write_oci_layout(tmp_path / "img", [("v1", make_image([BASE]))])
    res = CliRunner().invoke(
        app, ["scan", f"oci:{tmp_path / 'img'}", "-f", "json", "--exit-code", "3"]
    )
    assert res.exit_code == 0
    assert "without --db" in res.output


def test_scanners_risk_json_and_table_never_show_secrets(app: typer.Typer, tmp_path: Path) -> None:
    from tests.testdata.images.planted_secrets import SECRETS, secrets_image

    planted = secrets_image()
    write_oci_layout(tmp_path / "img", [("v1", planted.image)])
    ref = f"oci:{tmp_path / 'img'}:v1"
    res = CliRunner().invoke(app, ["scan", ref, "--scanners", "risk", "-f", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    by_cat = {o["category"]: o for o in doc["outcomes"]}
    assert set(by_cat) == {"secret", "risk"}
    got = {(f["rule_id"], f["path"], f["line"]) for f in by_cat["secret"]["findings"]}
    assert got == planted.expected
    assert {f["rule_id"] for f in by_cat["risk"]["findings"]} >= {"run-as-root", "secret-in-env"}
    out = tmp_path / "table.txt"
    table = CliRunner().invoke(app, ["scan", ref, "--scanners", "risk,vuln", "-o", str(out)])
    assert table.exit_code == 0, table.output
    rendered = out.read_text()
    assert "/root/.ssh/id_ed25519" in rendered and "secret-in-env" in rendered
    for text in (res.output, table.output, rendered):
        assert not [s for s in SECRETS if s in text]
    gated = CliRunner().invoke(app, ["scan", ref, "--scanners", "risk", "--exit-code", "4"])
    assert gated.exit_code == 4


def test_scanners_option_selects_categories(app: typer.Typer, tmp_path: Path) -> None:
    write_oci_layout(tmp_path / "img", [("v1", make_image([BASE]))])
    ref = f"oci:{tmp_path / 'img'}:v1"
    res = CliRunner().invoke(app, ["scan", ref, "--scanners", "vuln", "-f", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["outcomes"] == []
    assert CliRunner().invoke(app, ["scan", ref, "--scanners", "vuln,nope"]).exit_code == 1
    bad = tmp_path / "bad.toml"
    bad.write_text("[[rule]]\nid = 'x'\n")
    res = CliRunner().invoke(app, ["scan", ref, "--secret-rules", str(bad)])
    assert res.exit_code == 1 and "category is required" in res.output
