"""Tables of the per-account features beside the inventory: image-list exports, the image
licence quota and the periodic scan setting (migration 0009).

Each table is keyed by account; none references ``images`` rows, so pruning or re-reporting
images never has to touch them (a licence is the ``images.is_authorized`` flag itself; the
quota row only says how many there are and how far new images were already decided).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from imagewarden.store.base import Base

__all__ = ["ExportJobRow", "LicenceQuotaRow", "ScanSettingRow"]


class ExportJobRow(Base):
    """A CreateImageExportJob: the request it froze, its progress and the file it wrote."""

    __tablename__ = "export_jobs"
    __table_args__ = (Index("ix_export_jobs_account_created", "account_id", "created_at"),)

    job_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(BigInteger)
    #: RUNNING | SUCCESS | FAILURE
    status: Mapped[str] = mapped_column(String(16))
    #: 0-100
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    written_rows: Mapped[int] = mapped_column(Integer, default=0)
    #: the ExportField columns, in the requested order
    fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: the validated request (filters, sort, window) the job runs
    request: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    failure: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    #: bumped with every page written: a RUNNING job not touched for long lost its process
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class LicenceQuotaRow(Base):
    """An account's image licences (``imagewarden licences set``); absent = the default."""

    __tablename__ = "licence_quotas"

    account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    total: Mapped[int] = mapped_column(Integer)
    #: every image with ``images.id <= decided_upto`` already had its licence decided;
    #: newer ones are granted one automatically while licences are free
    decided_upto: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class ScanSettingRow(Base):
    """CreateAssetImageScanSetting: one periodic scan per account."""

    __tablename__ = "scan_settings"
    __table_args__ = (Index("ix_scan_settings_enable_next", "enable", "next_run"),)

    account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    enable: Mapped[bool] = mapped_column(Boolean)
    #: "HH:MM" or "HH:MM:SS", UTC, as given
    scan_time: Mapped[str] = mapped_column(String(8))
    #: days between two runs
    scan_period: Mapped[int] = mapped_column(Integer)
    scan_vul: Mapped[bool] = mapped_column(Boolean)
    scan_virus: Mapped[bool] = mapped_column(Boolean)
    scan_risk: Mapped[bool] = mapped_column(Boolean)
    select_all: Mapped[bool] = mapped_column(Boolean)
    images: Mapped[list[str]] = mapped_column(JSON, default=list)
    container_running: Mapped[bool] = mapped_column(Boolean)
    scan_scope: Mapped[int] = mapped_column(Integer)
    scan_end_time: Mapped[str] = mapped_column(String(8), default="")
    exclude_images: Mapped[list[str]] = mapped_column(JSON, default=list)
    cluster_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: the next firing (naive UTC); claimed by ``UPDATE ... WHERE next_run = :seen``
    next_run: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_scan_time: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    #: Success | InsufficientLicense | ImageNeedIsEmpty | InternalError | ""
    scan_result: Mapped[str] = mapped_column(String(32), default="")
    last_task_id: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime)
