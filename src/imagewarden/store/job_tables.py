"""Tables of the embedded job queue (scan jobs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from imagewarden.store.base import Base
from imagewarden.store.tables import BigIntPk

__all__ = ["ScanJobRow", "ScanTaskRow"]


class ScanJobRow(Base):
    __tablename__ = "scan_jobs"
    __table_args__ = (
        Index("ix_scan_jobs_state_id", "state", "id"),
        Index("ix_scan_jobs_account_task", "account_id", "task_id"),
        Index("ix_scan_jobs_account_image", "account_id", "image_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(BigInteger)
    task_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    image_id: Mapped[str] = mapped_column(String(80))
    source_ref: Mapped[str] = mapped_column(Text)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    worker: Mapped[str] = mapped_column(String(128), default="")
    lease_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class ScanTaskRow(Base):
    """A scan task (CreateAssetImageScanTask): a set of scan jobs started together."""

    __tablename__ = "scan_tasks"
    __table_args__ = (Index("ix_scan_tasks_account_created", "account_id", "created_at"),)

    task_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    deadline: Mapped[datetime] = mapped_column(DateTime)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: images the task selected that have no readable source (they fail at once)
    unscannable: Mapped[int] = mapped_column(Integer, default=0)
    stopped: Mapped[bool] = mapped_column(Boolean, default=False)
