"""The scale-out loop as an operator runs it: `imagewarden serve --queue amqp://...` publishes
the scan jobs, two `imagewarden worker` processes on other "machines" run them from
RabbitMQ, one is killed with SIGKILL while it holds a job, and every image still ends
SCANNED exactly once with its full results.  Driven through the official SDK; the result
writes are counted by a PostgreSQL trigger, outside the code under test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from tencentcloud.tcss.v20201101 import models

from imagewarden.inventory.keys import KeyCipher
from imagewarden.inventory.service import InventoryService
from imagewarden.store.engine import make_engine, make_sessionmaker
from imagewarden.store.migrate import upgrade
from tests.conftest import fresh_pg_database
from tests.e2e.conftest import free_port
from tests.e2e.sdk import list_images, tcss
from tests.e2e.test_scan_to_api import OS_RELEASE, STATUS, run
from tests.jobs.rabbit import amqp_url, queue_name, start_worker, stop, wait_for
from tests.testdata.images.build import make_image, write_oci_layout

__all__ = ["amqp_url", "queue_name"]  # fixtures

IMAGES = 50
FILES_PER_IMAGE = 6000  # enough that a scan takes a while, so the kill lands mid-scan

COUNT_WRITES = [
    "CREATE TABLE iw_test_result_writes (image_id text NOT NULL, scan_status text NOT NULL)",
    """CREATE FUNCTION iw_test_count_write() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN INSERT INTO iw_test_result_writes VALUES (NEW.image_id, NEW.scan_status);
       RETURN NEW; END $$""",
    # a result write sets a new ScanTime; SCANNING marks and cancellations do not
    """CREATE TRIGGER iw_test_count AFTER UPDATE ON images FOR EACH ROW
       WHEN (NEW.scan_time IS DISTINCT FROM OLD.scan_time)
       EXECUTE FUNCTION iw_test_count_write()""",
]


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from fresh_pg_database("scaleout")


def _serve(
    db_url: str, key_file: Path, amqp: str, queue: str, log: Path
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEWARDEN_")}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "imagewarden",
                "serve",
                "--port",
                str(port),
                "--db",
                db_url,
                "--key-file",
                str(key_file),
                "--queue",
                amqp,
                "--queue-name",
                queue,
                "--log-level",
                "warning",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def up() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"server exited:\n{log.read_text()}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for("the server", up, timeout=60)
    return proc, f"127.0.0.1:{port}"


@pytest.mark.postgres
@pytest.mark.slow
def test_two_workers_one_killed_every_image_scanned_exactly_once(
    pg_url: str, amqp_url: str, queue_name: str, tmp_path: Path
) -> None:
    engine = make_engine(pg_url)
    upgrade(engine)
    with engine.begin() as conn:
        for stmt in COUNT_WRITES:
            conn.execute(text(stmt))
    key_file = tmp_path / "server.key"
    service = InventoryService(make_sessionmaker(engine), KeyCipher.from_file(key_file))
    account = f"scale-{uuid.uuid4().hex[:8]}"
    sid, skey, _ = service.create_key(account)

    sources, digests = [], []
    for n in range(IMAGES):
        tree = {"etc/os-release": OS_RELEASE, "var/lib/dpkg/status": STATUS}
        tree.update({f"srv/app{n}/f{i:05d}.txt": f"{n}:{i}\n" * 6 for i in range(FILES_PER_IMAGE)})
        image = make_image([tree])
        root = write_oci_layout(tmp_path / f"img{n}", [(f"scale/app{n}:1", image)])
        sources.append(f"oci:{root}")
        digests.append(image.config_digest)
    added = run(
        "images", "add", *sources, "--account", account, "--db", pg_url, "--key-file", str(key_file)
    )
    assert added.returncode == 0, added.stdout + added.stderr

    server, endpoint = _serve(pg_url, key_file, amqp_url, queue_name, tmp_path / "server.log")
    workers = [
        start_worker(pg_url, amqp_url, queue_name, tmp_path / f"worker{n}.log", "--lease", "6")
        for n in range(2)
    ]
    try:
        client = tcss(endpoint, sid, skey)
        create = models.CreateAssetImageScanTaskRequest()
        create.All = True
        create.ScanVul = create.ScanVirus = create.ScanRisk = True
        task_id = client.CreateAssetImageScanTask(create).TaskID

        victim = workers[0]

        def held_by_victim() -> list[tuple[int, str]]:
            with engine.connect() as conn:
                done = conn.execute(text("SELECT count(*) FROM scan_jobs WHERE state = 'done'"))
                if done.scalar_one() < 5:  # let the run get going: the kill lands mid-scan
                    return []
                rows = conn.execute(
                    text(
                        "SELECT id, image_id FROM scan_jobs WHERE state = 'running' AND worker LIKE :w"
                    ),
                    {"w": f"%:{victim.pid}:%"},
                ).all()
            return [(int(r.id), r.image_id) for r in rows]

        wait_for("the first worker to hold a job", held_by_victim, every=0.01)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(10)
        # what it held when it died: rows still RUNNING under its name (it cannot change them now)
        held = held_by_victim()
        assert held, "the killed worker finished its job just before the kill: nothing to take over"
        (held_job, held_image), *_ = held

        def finished() -> bool:
            req = models.DescribeAssetImageScanStatusRequest()
            req.TaskID = task_id
            st = client.DescribeAssetImageScanStatus(req)
            assert st.ImageTotal == IMAGES
            return st.Status == "END"

        wait_for("the task to end", finished, timeout=600, every=1.0)
        summary = client.DescribeAssetImageScanTask(models.DescribeAssetImageScanTaskRequest())
        assert (summary.TaskID, summary.Status, summary.SubStatus) == (task_id, "END", "Success")

        rows = {i.ImageID: i for i in list_images(client, Limit=100).List}
        assert sorted(rows) == sorted(digests)
        assert {i.ScanStatus for i in rows.values()} == {"SCANNED"}  # none stuck in SCANNING
        assert {i.ComponentCnt for i in rows.values()} == {2}  # complete results, every image

        with engine.connect() as conn:
            writes = conn.execute(
                text("SELECT image_id, scan_status FROM iw_test_result_writes")
            ).all()
            jobs = conn.execute(text("SELECT id, state, attempt, worker FROM scan_jobs")).all()
        # exactly one result write per image, none of them a failure
        assert sorted(w.image_id for w in writes) == sorted(digests)
        assert {w.scan_status for w in writes} == {"SCANNED"}
        assert len(jobs) == IMAGES and {j.state for j in jobs} == {"done"}
        taken_over = next(j for j in jobs if j.id == held_job)
        assert taken_over.attempt >= 2 and f":{victim.pid}:" not in taken_over.worker
        assert rows[held_image].ScanStatus == "SCANNED"
        assert workers[1].poll() is None  # the survivor is still serving
    finally:
        for proc in workers:
            stop(proc)
        stop(server)
        engine.dispose()
