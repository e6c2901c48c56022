"""Faults: the server SIGKILLed inside a large ReportHostAssets; the database going away.

A snapshot is one transaction: after a crash the store holds the host's previous snapshot
or the new one, whole, never a mix.  A database that cannot be reached is answered with
``InternalError.MainDBFail`` (no traceback, no hang), and the server serves again as soon
as the database is back, without a restart.
"""

from __future__ import annotations

import hashlib
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from imagewarden.store.engine import make_engine
from tests.hardening.proc import ServerProcess, post, signed

N_IMAGES = 20_000


def iid(label: str) -> str:
    return "sha256:" + hashlib.sha256(label.encode()).hexdigest()


def snapshot(label: str, n_images: int = N_IMAGES) -> tuple[dict[str, Any], set[str]]:
    ids = [iid(f"{label}/{i}") for i in range(n_images)]
    body = {
        "Host": {"HostID": "big-host", "HostName": "big"},
        "Images": [
            {"ImageID": i, "RepoTags": [f"reg.example/{label}/app{n}:v1"], "Size": n}
            for n, i in enumerate(ids)
        ],
        "Containers": [
            {"ContainerID": f"{label}-c{n}", "ImageID": ids[n], "State": "running"}
            for n in range(200)
        ],
    }
    return body, set(ids)


class WriterProbe:
    """Tells whether some connection is inside a write transaction on the server's store."""

    def __init__(self, db_url: str) -> None:
        self.url = make_url(db_url)
        self.engine = None if self.url.drivername.startswith("sqlite") else make_engine(db_url)

    def writing(self) -> bool:
        if self.engine is None:
            conn = sqlite3.connect(str(self.url.database), timeout=0, isolation_level=None)
            try:
                conn.execute("BEGIN IMMEDIATE")  # needs the single writer lock
                conn.execute("ROLLBACK")
                return False
            except sqlite3.OperationalError as exc:
                assert "locked" in str(exc) or "busy" in str(exc), exc
                return True
            finally:
                conn.close()
        with self.engine.connect() as pg:
            n = pg.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"
                )
            )
        return bool(n)

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()


def stored(db_url: str, account_id: int) -> tuple[set[str], int, int]:
    """(image IDs linked to big-host, its container rows, images of the account) read by SQL."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            host_pk = conn.scalar(
                text("SELECT id FROM hosts WHERE account_id = :a AND host_id = 'big-host'"),
                {"a": account_id},
            )
            linked = {
                r[0]
                for r in conn.execute(
                    text(
                        "SELECT i.image_id FROM host_images hi JOIN images i ON i.id = hi.image_pk"
                        " WHERE hi.host_pk = :h"
                    ),
                    {"h": host_pk},
                )
            }
            containers = conn.scalar(
                text("SELECT count(*) FROM containers WHERE host_pk = :h"), {"h": host_pk}
            )
            images = conn.scalar(
                text("SELECT count(*) FROM images WHERE account_id = :a"), {"a": account_id}
            )
    finally:
        engine.dispose()
    return linked, int(containers or 0), int(images or 0)


@pytest.fixture
def srv(db_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    s = ServerProcess(db_url, tmp_path, extra=("--scan-workers", "0", "--no-rate-limits"))
    s.start()
    try:
        yield s
    finally:
        s.close()


def _report(endpoint: str, sid: str, skey: str, body: dict[str, Any]) -> dict[str, Any]:
    with httpx.Client(timeout=600) as c:
        return post(c, endpoint, sid, skey, "ReportHostAssets", body)


@pytest.mark.slow
def test_sigkill_during_a_large_report_leaves_a_whole_snapshot(srv: ServerProcess) -> None:
    sid, skey, acct = srv.new_account()
    body, current = snapshot("r0")
    started = time.monotonic()
    out = _report(srv.endpoint, sid, skey, body)
    duration = time.monotonic() - started
    assert out["ImageCount"] == N_IMAGES and out["ContainerCount"] == 200
    assert stored(srv.db_url, acct) == (current, 200, N_IMAGES)

    probe = WriterProbe(srv.db_url)
    interrupted = 0
    images_before = N_IMAGES
    try:
        # kill at the start of the write transaction, and later inside it
        for rnd, fraction in enumerate((0.0, 0.4), start=1):
            body, new = snapshot(f"r{rnd}")
            result: list[Any] = []

            def send(body: dict[str, Any] = body, result: list[Any] = result) -> None:
                try:
                    result.append(_report(srv.endpoint, sid, skey, body))
                except (httpx.HTTPError, AssertionError) as exc:
                    result.append(exc)

            sender = threading.Thread(target=send)
            sender.start()
            deadline = time.monotonic() + 300
            while not probe.writing() and sender.is_alive():
                assert time.monotonic() < deadline, "the report never started writing"
                time.sleep(0.002)
            time.sleep(fraction * duration)
            srv.sigkill()
            sender.join(60)
            srv.start()  # same store, same port

            linked, containers, images = stored(srv.db_url, acct)
            if linked == current:
                interrupted += 1
                assert containers == 200 and images == images_before, "half a snapshot"
            else:
                # the kill came after the commit: the new snapshot, whole
                assert linked == new and containers == 200, "half a snapshot"
                assert images in (images_before + N_IMAGES, N_IMAGES)  # orphans kept or pruned
                current, images_before = new, images
            # the API agrees with the tables, and the server works after the restart
            with httpx.Client(timeout=120) as c:
                pairs = post(
                    c,
                    srv.endpoint,
                    sid,
                    skey,
                    "DescribeAssetImageHostList",
                    {"Filters": [{"Name": "HostID", "Values": ["big-host"]}]},
                )
            assert {p["ImageID"] for p in pairs["List"]} == current
    finally:
        probe.close()
    # at least one kill landed inside the transaction, so the test showed a rollback
    assert interrupted >= 1
    # and a report after all this is applied in full
    body, new = snapshot("final", 500)
    assert _report(srv.endpoint, sid, skey, body)["ImageCount"] == 500
    assert stored(srv.db_url, acct)[:2] == (new, 200)


# --- database unavailable ------------------------------------------------------------------------


class TcpProxy:
    """A TCP forwarder to PostgreSQL that the test can take down (connection refused) and
    bring back on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def up(self) -> None:
        lst = socket.socket()
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lst.bind(("127.0.0.1", self.port))
        lst.listen(64)
        self._listener = lst
        threading.Thread(target=self._accept, args=(lst,), daemon=True).start()

    def down(self) -> None:
        """Close the listener (new connections are refused) and cut every open connection."""
        if self._listener is not None:
            try:  # wakes the accepting thread; close() alone leaves the socket listening
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def _accept(self, lst: socket.socket) -> None:
        while True:
            try:
                client, _ = lst.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.mark.postgres
def test_database_unavailable_is_a_clean_error_and_recovers(
    pg_migrated: str, tmp_path: Path
) -> None:
    from tests.conftest import _truncate_all

    _truncate_all(pg_migrated)
    url = make_url(pg_migrated)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.up()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    srv = ServerProcess(pg_migrated, tmp_path, extra=("--scan-workers", "0"))
    srv.start(db_url=proxied)
    sid, skey, _ = srv.new_account()
    ep = srv.endpoint
    calls: list[tuple[str, dict[str, Any]]] = [
        ("DescribeAssetImageList", {"Limit": 5}),
        ("ReportHostAssets", {"Host": {"HostID": "h1"}, "Images": [{"ImageID": iid("x")}]}),
        ("DescribeAssetImageScanTask", {}),
        ("DescribeAssetImageScanStatus", {}),
        ("CreateAssetImageScanTask", {"All": True}),
        ("DescribeAssetImageVulList", {"ImageID": iid("x")}),
    ]
    try:
        with httpx.Client(timeout=60) as c:
            assert post(c, ep, sid, skey, "ReportHostAssets", calls[1][1])["ImageCount"] == 1
            proxy.down()
            time.sleep(0.6)  # past the key cache: the SecretId lookup needs the database too
            for action, params in calls:
                headers, body = signed(ep, sid, skey, action, params)
                started = time.monotonic()
                resp = c.post(f"http://{ep}/", headers=headers, content=body)
                assert time.monotonic() - started < 30, f"{action} hung on a dead database"
                assert resp.status_code == 200
                assert resp.headers["content-type"] == "application/json"
                err = resp.json()["Response"]["Error"]
                assert err["Code"] == "InternalError.MainDBFail", (action, err)
                assert "database" in err["Message"] and "Traceback" not in err["Message"]
            proxy.up()
            # back without a restart: the pool notices dead connections and reconnects
            for action, params in calls:
                out = post(c, ep, sid, skey, action, params)
                code = out.get("Error", {}).get("Code", "OK")
                assert code in ("OK", "ResourceNotFound"), (action, out)
            listing = post(c, ep, sid, skey, "DescribeAssetImageList", {})
            assert listing["TotalCount"] == 1
            # the database goes away while the key is still cached (0.5 s): the actions' own
            # queries fail, and still answer MainDBFail
            for action, params in [*calls[2:4], ("ModifyAssetImageScanStop", {"TaskID": "t"})]:
                assert "Error" not in post(c, ep, sid, skey, "DescribeAssetImageList", {})
                proxy.down()
                out = post(c, ep, sid, skey, action, params)
                assert out["Error"]["Code"] == "InternalError.MainDBFail", (action, out)
                proxy.up()
        srv.stop()
        logs = srv.logs()
        assert "Traceback" not in logs, logs[-3000:]
        assert "database unavailable" in logs
    finally:
        srv.close()
        proxy.down()
