"""The JobQueue seam.  The embedded default is the SQL queue in ``imagewarden.store.jobs``
(the same database as the inventory: no extra service); a distributed adapter implements
the same protocol."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol

from imagewarden.jobs.models import ClaimedJob, JobOutcome, ScanRequest

__all__ = ["DEFAULT_QUEUE_NAME", "JobQueue"]

#: the RabbitMQ queue scale-out workers consume (``jobs.broker``, ``imagewarden worker``)
DEFAULT_QUEUE_NAME = "imagewarden-scans"


class JobQueue(Protocol):
    def enqueue(self, requests: Sequence[ScanRequest]) -> list[int]: ...

    def claim(self, worker: str, lease: timedelta) -> ClaimedJob | None:
        """Take the oldest queued job (or one whose lease expired) and lease it to ``worker``."""
        ...

    def heartbeat(self, job_id: int, worker: str, lease: timedelta) -> bool:
        """Extend the lease; ``False`` when the job was cancelled or taken over (stop work)."""
        ...

    def finish(self, job_id: int, worker: str, outcome: JobOutcome) -> bool: ...

    def cancel(
        self, account_id: int, *, task_id: str | None = None, image_ids: Sequence[str] = ()
    ) -> int: ...
