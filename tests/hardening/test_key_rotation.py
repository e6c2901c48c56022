"""Rotating the server key (``imagewarden keys rotate-server-key``) and API keys."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import text
from typer.testing import CliRunner

from imagewarden.cli.main import app
from imagewarden.inventory.keys import KeyCipher, rotate_server_key
from imagewarden.inventory.service import InventoryService
from imagewarden.store.engine import make_engine, make_sessionmaker
from tests.hardening.proc import ServerProcess, post

runner = CliRunner()


def _rows(db_url: str) -> dict[str, bytes]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return {
                r[0]: bytes(r[1])
                for r in conn.execute(text("SELECT secret_id, secret_key_enc FROM api_keys"))
            }
    finally:
        engine.dispose()


@pytest.fixture
def store(db_url: str, key_file: Path) -> Iterator[tuple[str, Path, InventoryService]]:
    engine = make_engine(db_url)
    yield (
        db_url,
        key_file,
        InventoryService(make_sessionmaker(engine), KeyCipher.from_file(key_file), key_cache_ttl=0),
    )
    engine.dispose()


def test_rotate_server_key_reencrypts_every_key(
    store: tuple[str, Path, InventoryService],
) -> None:
    db_url, key_file, service = store
    made = [service.create_key(f"acct{i}") for i in range(3)]
    service.disable_key(made[2][0])
    old_key = key_file.read_bytes()
    before = _rows(db_url)
    res = runner.invoke(
        app, ["keys", "rotate-server-key", "--db", db_url, "--key-file", str(key_file)]
    )
    assert res.exit_code == 0, res.output
    assert "re-encrypted 3 API key(s)" in res.output
    new_key = key_file.read_bytes()
    assert new_key != old_key and len(new_key.splitlines()) == 1
    assert key_file.stat().st_mode & 0o077 == 0
    after = _rows(db_url)
    assert after.keys() == before.keys() and all(after[k] != before[k] for k in after)
    # the old key opens nothing any more; the new one opens everything
    for enc in after.values():
        with pytest.raises(InvalidToken):
            Fernet(old_key.strip()).decrypt(enc)
    fresh = InventoryService(
        service._sessions, KeyCipher.from_file(key_file, create=False), key_cache_ttl=0
    )
    for sid, skey, acct in made:
        cred = fresh.credential(sid)
        assert cred is not None and cred.secret_key == skey and cred.account_id == acct
    cred = fresh.credential(made[2][0])
    assert cred is not None and not cred.enabled  # still disabled
    assert made[0][1].encode() not in key_file.read_bytes()


def test_a_failed_rotation_leaves_everything_readable(
    store: tuple[str, Path, InventoryService],
) -> None:
    db_url, key_file, service = store
    sid, skey, _ = service.create_key("acct")
    old_key = key_file.read_bytes()
    before = _rows(db_url)

    def crash() -> None:
        raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        rotate_server_key(service._sessions, key_file, _after_reencrypt=crash)
    assert key_file.read_bytes() == old_key and _rows(db_url) == before
    cred = InventoryService(
        service._sessions, KeyCipher.from_file(key_file), key_cache_ttl=0
    ).credential(sid)
    assert cred is not None and cred.secret_key == skey


def test_a_row_the_key_cannot_open_aborts_the_rotation(
    store: tuple[str, Path, InventoryService],
) -> None:
    db_url, key_file, service = store
    service.create_key("acct")
    foreign = KeyCipher(Fernet(Fernet.generate_key()))
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE api_keys SET secret_key_enc = :e"), {"e": foreign.encrypt("x" * 32)}
        )
    engine.dispose()
    old_key, before = key_file.read_bytes(), _rows(db_url)
    res = runner.invoke(
        app, ["keys", "rotate-server-key", "--db", db_url, "--key-file", str(key_file)]
    )
    assert res.exit_code == 2 and "cannot be decrypted" in res.output
    assert key_file.read_bytes() == old_key and _rows(db_url) == before


def test_a_running_server_follows_a_rotation_without_restart(tmp_path: Path) -> None:
    srv = ServerProcess(f"sqlite:///{tmp_path / 'iw.db'}", tmp_path)
    srv.start()
    try:
        sid, skey, _ = srv.new_account()
        with httpx.Client() as c:
            assert "Error" not in post(c, srv.endpoint, sid, skey, "DescribeAssetImageList")
            done = subprocess.run(
                [sys.executable, "-m", "imagewarden", "keys", "rotate-server-key",
                 "--db", srv.db_url, "--key-file", str(srv.key_file)],
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            # API-key rotation is create-new, deploy, disable-old: both work in between
            made = subprocess.run(
                [sys.executable, "-m", "imagewarden", "keys", "create", "--json",
                 "--account", "x", "--db", srv.db_url, "--key-file", str(srv.key_file)],
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert made.returncode == 0, made.stderr
            new = json.loads(made.stdout)
            time.sleep(0.6)  # past the server's key cache: the next lookup decrypts anew
            out = post(c, srv.endpoint, sid, skey, "DescribeAssetImageList")
            assert "Error" not in out, out
            out = post(c, srv.endpoint, new["SecretId"], new["SecretKey"], "DescribeAssetImageList")
            assert "Error" not in out, out
    finally:
        srv.close()
