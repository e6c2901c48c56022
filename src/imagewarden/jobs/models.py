"""Scan jobs: one image of one account to scan, claimed by a worker under a lease."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

__all__ = ["ClaimedJob", "JobOutcome", "JobState", "ScanRequest"]


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    #: a distributed worker gave up after ``max_attempts`` (the error says why); the broker
    #: message went to its dead-letter queue too (``jobs.broker``)
    DEAD = "dead"

    @property
    def finished(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED, JobState.DEAD)


@dataclass(frozen=True)
class ScanRequest:
    """What to scan: an image of an account, where its bytes are, which categories."""

    account_id: int
    image_id: str
    source_ref: str  # "oci:/path", "docker-archive:/file.tar", "registry:host/repo@sha256:..."
    task_id: str | None = None
    scan_vul: bool = True
    scan_virus: bool = True
    scan_risk: bool = True


@dataclass(frozen=True)
class ClaimedJob:
    job_id: int
    request: ScanRequest
    attempt: int
    lease_until: datetime


@dataclass(frozen=True)
class JobOutcome:
    state: JobState  # DONE | FAILED | CANCELLED
    error: str = ""
