"""Task bookkeeping without a worker: one running task per account, stop, timeout."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from imagewarden.inventory.errors import AlreadyScanningError, NotFoundError
from imagewarden.inventory.models import ImageReport
from imagewarden.inventory.service import InventoryService
from imagewarden.jobs.tasks import TaskService
from imagewarden.store.engine import make_engine, make_sessionmaker
from imagewarden.store.jobs import SqlJobQueue
from tests.factories import host, image, image_id


class Clock:
    now = datetime(2026, 3, 1, 9, 0, 0)

    def __call__(self) -> datetime:
        return self.now


def test_task_lifecycle(db_url: str, service: InventoryService) -> None:
    clock = Clock()
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    queue = SqlJobQueue(sessions, clock)
    tasks = TaskService(sessions, queue, clock)
    acct = service.account_id("t")
    for label in ("a", "b"):
        service.register_image(
            acct,
            ImageReport(image_id=image_id(label), repo_tags=(f"{label}:1",)),
            f"oci:/x/{label}",
        )
    service.report_host(acct, host("h", [image("hostonly", "h:1")]))  # no source: unscannable

    def create(**kw: object) -> str:
        args: dict[str, object] = {
            "select_all": True,
            "image_ids": (),
            "query": None,
            "exclude": (),
            "scan_vul": True,
            "scan_virus": False,
            "scan_risk": False,
            "running_only": False,
            "timeout": 60,
        }
        args.update(kw)
        return tasks.create(acct, **args)  # type: ignore[arg-type]

    first = create()
    st = tasks.status(acct, first)
    assert (st.image_total, st.image_scan_cnt, st.status) == (3, 1, "SCANNING")
    with pytest.raises(AlreadyScanningError):
        create()
    assert tasks.latest(acct).status == "SCANNING"

    claimed = queue.claim("w", timedelta(seconds=30))
    assert claimed is not None and claimed.request.task_id == first
    assert tasks.stop(acct, task_id=first, image_ids=()) == 2
    assert not queue.heartbeat(claimed.job_id, "w", timedelta(seconds=30))
    summary = tasks.latest(acct)
    assert (summary.status, summary.sub_status) == ("END", "Cancel")

    clock.now += timedelta(seconds=1)
    second = create(select_all=False, image_ids=[image_id("a")])
    assert tasks.status(acct, second).image_total == 1
    clock.now += timedelta(seconds=61)  # past Timeout: what is left is cancelled
    st = tasks.status(acct, second)
    assert st.status == "END" and tasks.latest(acct).sub_status == "Timeout"
    with pytest.raises(NotFoundError):
        create(select_all=False, image_ids=[image_id("missing")])
    with pytest.raises(NotFoundError):
        tasks.status(acct, "imagewarden-scan-none")
    other = service.account_id("other")
    with pytest.raises(NotFoundError):
        tasks.status(other, first)  # another account's task is invisible
    engine.dispose()
