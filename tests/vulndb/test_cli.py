"""``db import`` / ``db status`` on a Typer app of our own (the lead wires the real one)."""

from __future__ import annotations

import shutil
from pathlib import Path

import typer
from typer.testing import CliRunner

from imagewarden.cli.db_cmd import register
from tests.vulndb.fixtures import OSV_DIR


def _app() -> typer.Typer:
    app = typer.Typer()
    db_app = typer.Typer()
    register(db_app)
    app.add_typer(db_app, name="db")
    return app


def test_import_then_status(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'iw.db'}"
    runner = CliRunner()
    app = _app()
    res = runner.invoke(
        app, ["db", "import", str(OSV_DIR / "ghsa"), str(OSV_DIR / "debian"), "--db", url]
    )
    assert res.exit_code == 0, res.output
    assert "read 7 record(s)" in res.output
    assert "7 new" in res.output
    res = runner.invoke(app, ["db", "import", str(OSV_DIR), "--db", url])
    assert res.exit_code == 0, res.output
    assert "1 new" in res.output and "7 unchanged" in res.output
    res = runner.invoke(app, ["db", "status", "--db", url])
    assert res.exit_code == 0, res.output
    for eco in ("Debian:12", "Alpine:v3.18", "PyPI", "npm", "Maven", "Go", "RubyGems", "crates.io"):
        assert eco in res.output
    assert "advisories: 8 (0 withdrawn)" in res.output
    assert "last import:" in res.output and str(OSV_DIR) in res.output


def test_invalid_records_exit_1_and_unsafe_zip_exit_2(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'iw.db'}"
    feed = tmp_path / "feed"
    shutil.copytree(OSV_DIR / "ghsa", feed)
    (feed / "junk.json").write_text("[1, 2")
    runner = CliRunner()
    res = runner.invoke(_app(), ["db", "import", str(feed), "--db", url])
    assert res.exit_code == 1
    assert "6 new" in res.output and "1 invalid" in res.output
    import zipfile

    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as zf:
        zf.writestr("../../etc/x.json", "{}")
    res = runner.invoke(_app(), ["db", "import", str(tmp_path / "evil.zip"), "--db", url])
    assert res.exit_code == 2
