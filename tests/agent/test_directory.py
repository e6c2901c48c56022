"""``dir:PATH`` against real files, and the agent command end to end (typer's runner and a
process) against a real server, checked with the official SDK."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from imagewarden.agent.directory import DirectoryCollector
from imagewarden.cli.agent_cmd import register
from tests.agent.conftest import Account, run_agent
from tests.agent.images import CREATED, docker_archive, multi_docker_archive, oci_layout


def _mirror(root: Path) -> dict[str, str]:
    """A folder as an operator would mirror images: a layout, archives, junk. ID → name."""
    root.mkdir()
    ids: dict[str, str] = {}
    ids.update(
        zip(
            oci_layout(root / "nginx", [("1.25", b"nginx 1.25"), ("quay.io/x/y:2", b"y 2")]),
            ["nginx:1.25", "quay.io/x/y:2"],
            strict=True,
        )
    )
    (root / "archives").mkdir()
    ids.update(
        zip(
            multi_docker_archive(
                root / "archives" / "two.tar", [(["app/one:1"], b"one"), (["app/two:1"], b"two")]
            ),
            ["app/one:1", "app/two:1"],
            strict=True,
        )
    )
    single = docker_archive(
        root / "archives" / "single.tar", ["app/single:3"], {"s": (b"s", 0o644)}
    )
    ids[single.image_id] = "app/single:3"
    (root / "archives" / "notes.txt").write_text("not an image")
    (root / "archives" / "broken.tar").write_bytes(b"\0" * 1024)  # a tar with nothing useful
    return ids


def test_directory_collector_reads_layouts_and_archives(tmp_path: Path) -> None:
    ids = _mirror(tmp_path / "mirror")
    inv = DirectoryCollector(tmp_path / "mirror").collect()
    assert {i.image_id: i.repo_tags for i in inv.images} == {k: (v,) for k, v in ids.items()}
    assert all(
        i.create_time == CREATED and i.architecture == "amd64" and i.size > 0 for i in inv.images
    )
    assert inv.containers == ()


def test_directory_collector_skips_a_tampered_image(tmp_path: Path) -> None:
    root = tmp_path / "m"
    root.mkdir()
    good = docker_archive(root / "good.tar", ["ok:1"], {"a": (b"a", 0o644)})
    layout = root / "layout"
    (bad_id,) = oci_layout(layout, [("1", b"x")])
    blob = layout / "blobs" / "sha256" / bad_id.removeprefix("sha256:")
    blob.write_bytes(blob.read_bytes().replace(b"amd64", b"arm64"))  # config no longer matches
    inv = DirectoryCollector(root).collect()
    assert [i.image_id for i in inv.images] == [good.image_id]


def test_missing_directory_is_a_collect_error(tmp_path: Path) -> None:
    from imagewarden.agent import CollectorError

    with pytest.raises(CollectorError, match="not a directory"):
        DirectoryCollector(tmp_path / "nope").collect()


def test_cli_runner_reports_a_directory(tmp_path: Path, account: Account) -> None:
    ids = _mirror(tmp_path / "mirror")
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """test root"""

    register(app)
    args = ["agent", "--server", f"http://{account.server.endpoint}", "--once",
            "--source", f"dir:{tmp_path / 'mirror'}", "--state-dir", str(tmp_path / "state"),
            "--super-node", "--hostname", "mirror-host"]  # fmt: skip
    env = {"IMAGEWARDEN_SECRET_ID": account.secret_id, "IMAGEWARDEN_SECRET_KEY": account.secret_key}
    res = CliRunner().invoke(app, args, env=env)
    assert res.exit_code == 0, res.output
    assert "5 image(s), 0 container(s)" in res.output
    rows = account.images()
    assert set(rows) == set(ids)
    for iid, name in ids.items():
        assert rows[iid]["ImageName"] == name
        assert (rows[iid]["HostCnt"], rows[iid]["SuperNodeCnt"], rows[iid]["ContainerCnt"]) == (
            1,
            1,
            0,
        )
    # the same host again: nothing duplicated
    assert CliRunner().invoke(app, args, env=env).exit_code == 0
    assert {k: v["HostCnt"] for k, v in account.images().items()} == dict.fromkeys(ids, 1)
    # a wrong key is refused for good: exit 1 at the first try, nothing spooled
    bad = CliRunner().invoke(app, args, env={**env, "IMAGEWARDEN_SECRET_KEY": "x" * 32})
    assert bad.exit_code == 1 and "AuthFailure" in bad.output
    assert not (tmp_path / "state" / "spool.json").exists()


def test_cli_needs_credentials_and_a_source(tmp_path: Path) -> None:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """test root"""

    register(app)
    res = CliRunner().invoke(app, ["agent", "--server", "http://127.0.0.1:1", "--once"], env={})
    assert res.exit_code == 2 and "secret-id" in res.output.lower()
    res = CliRunner().invoke(
        app,
        ["agent", "--server", "http://127.0.0.1:1", "--once", "--source", "lxc",
         "--secret-id", "a", "--secret-key", "b", "--state-dir", str(tmp_path)],
    )  # fmt: skip
    assert res.exit_code == 2 and "unknown source" in res.output


def test_process_reports_two_hosts_from_one_directory(tmp_path: Path, account: Account) -> None:
    """Two state dirs = two HostIDs: the same images are then held by two hosts."""
    ids = _mirror(tmp_path / "mirror")
    for n in (1, 2):
        res = run_agent(account, tmp_path / f"s{n}", "--source", f"dir:{tmp_path / 'mirror'}")
        assert res.returncode == 0, res.stderr
    host_ids = {(tmp_path / f"s{n}" / "host-id").read_text().strip() for n in (1, 2)}
    assert len(host_ids) == 2
    rows = account.images()
    assert {k: v["HostCnt"] for k, v in rows.items()} == dict.fromkeys(ids, 2)
    assert json.loads(json.dumps(rows))  # plain JSON from the SDK
