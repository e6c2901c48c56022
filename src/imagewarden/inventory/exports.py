"""Image-list exports (CreateImageExportJob / DescribeExportJobResult).

A job freezes a validated DescribeAssetImageList request (the same filter parsing:
``inventory.filters.build_image_query``) and the requested columns, then writes the matching
rows, in the list's order and with the list's wire values, to an XLSX and a CSV file in one
pass over a streaming cursor (bounded memory at any inventory size; progress is stored after
every batch).  The files are served by the API server at a URL carrying a short-lived token:
``HMAC-SHA256(server key, job ID, account ID, expiry)``, so a URL opens only its own job's
file, only until it expires, and only for the account that created the job.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import logging
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from imagewarden.inventory.errors import InvalidFilterError, NotFoundError
from imagewarden.inventory.filters import build_image_query
from imagewarden.inventory.models import ImageRow
from imagewarden.store import exports as export_store
from imagewarden.store.feature_tables import ExportJobRow
from imagewarden.store.images import count_images

__all__ = ["EXPORT_COLUMNS", "ExportJob", "ExportService", "UrlSigner"]

log = logging.getLogger("imagewarden.exports")


def _wire(name: str) -> str:
    parts = [p.capitalize() for p in name.split("_")]
    if parts[-1] == "Id":
        parts[-1] = "ID"
    return "".join(parts)


#: ExportField names (the ImagesInfo wire names) → ImageRow attributes, in ImagesInfo order
EXPORT_COLUMNS: dict[str, str] = {_wire(f.name): f.name for f in fields(ImageRow)}
_BY_LOWER = {k.lower(): k for k in EXPORT_COLUMNS}
#: a RUNNING job whose row was not touched for this long lost its process
_STALE = timedelta(minutes=5)
BATCH = 500


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return "" if value is None else value


def _csv_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class UrlSigner:
    """Download tokens bound to (job, account, expiry), keyed by the server key."""

    key: bytes
    ttl: timedelta = timedelta(hours=1)

    @classmethod
    def from_key_file(cls, path: Path) -> UrlSigner:
        # a key of its own, derived from the server key: the Fernet key is never used raw
        secret = hmac.new(path.read_bytes().strip(), b"imagewarden/export-url/v1", "sha256")
        return cls(secret.digest())

    def sign(self, job_id: str, account_id: int, expires: int) -> str:
        msg = f"{job_id}\n{account_id}\n{expires}".encode()
        return hmac.new(self.key, msg, hashlib.sha256).hexdigest()

    def valid(self, job_id: str, account_id: int, expires: int, sig: str, now: float) -> bool:
        good = hmac.compare_digest(self.sign(job_id, account_id, expires), sig)
        return good and now < expires


@dataclass(frozen=True)
class ExportJob:
    job_id: str
    status: str  # RUNNING | SUCCESS | FAILURE
    progress: float
    failure: str


class ExportService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        directory: Path,
        signer: UrlSigner,
        clock: Callable[[], datetime],
        *,
        run: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._dir = directory
        self._signer = signer
        self._clock = clock
        self._run = run or (lambda fn: threading.Thread(target=fn, daemon=True).start())

    # --- the API side -------------------------------------------------------------------------
    def create(
        self,
        account_id: int,
        *,
        filters: Sequence[tuple[str, Sequence[str], bool]],
        by: str | None,
        order: str | None,
        limit: int | None,
        offset: int,
        export_fields: Sequence[str] | None,
    ) -> str:
        build_image_query(filters, by=by, order=order, limit=1, offset=offset)  # validate now
        columns: list[str] = []
        for i, name in enumerate(export_fields or ()):
            canonical = _BY_LOWER.get(name.strip().lower())
            if canonical is None:
                raise InvalidFilterError(
                    f"ExportField.{i}",
                    f"unknown field `{name}` (any ImagesInfo field: {', '.join(EXPORT_COLUMNS)})",
                )
            if canonical not in columns:
                columns.append(canonical)
        now = self._clock()
        job_id = "imagewarden-export-" + uuid.uuid4().hex
        with self._sessions.begin() as s:
            export_store.insert_job(
                s,
                ExportJobRow(
                    job_id=job_id,
                    account_id=account_id,
                    status="RUNNING",
                    progress=0.0,
                    total_rows=0,
                    written_rows=0,
                    fields=columns or list(EXPORT_COLUMNS),
                    request={
                        "filters": [[n, list(v), e] for n, v, e in filters],
                        "by": by,
                        "order": order,
                        "limit": limit,
                        "offset": offset,
                    },
                    failure="",
                    created_at=now,
                    updated_at=now,
                ),
            )
        self._run(lambda: self.run_job(job_id))
        return job_id

    def job(self, account_id: int, job_id: str) -> ExportJob:
        with self._sessions.begin() as s:
            row = export_store.get_job(s, job_id)
            if row is None or row.account_id != account_id:
                raise NotFoundError(f"no export job {job_id}")
            status, failure = row.status, row.failure
            if status == "RUNNING" and self._clock() - row.updated_at > _STALE:
                status, failure = "FAILURE", "the export was interrupted (server restarted)"
            return ExportJob(row.job_id, status, float(row.progress), failure)

    def download_query(self, account_id: int, job_id: str) -> str:
        """The query string of the download URL (``/exports/download?...``)."""
        expires = int((self._clock() + self._signer.ttl).timestamp())
        sig = self._signer.sign(job_id, account_id, expires)
        return f"job={job_id}&expires={expires}&sig={sig}"

    # --- the download side --------------------------------------------------------------------
    def file_for(self, job_id: str, expires: int, sig: str, fmt: str, now: float) -> Path | None:
        """The file a download URL may open, or None (bad or expired token, unknown job)."""
        with self._sessions.begin() as s:
            row = export_store.get_job(s, job_id)
            if row is None or not self._signer.valid(job_id, row.account_id, expires, sig, now):
                return None
            if row.status != "SUCCESS":
                return None
        path = self._dir / f"{job_id}.{fmt}"
        return path if path.is_file() else None

    # --- the worker side ----------------------------------------------------------------------
    def run_job(self, job_id: str) -> None:
        written = 0
        try:
            written = self._write(job_id)
            failure = ""
        except Exception as exc:  # the job records why; the server carries on
            log.exception("export %s failed", job_id)
            failure = f"{type(exc).__name__}: {exc}"
        with self._sessions.begin() as s:
            export_store.finish_job(s, job_id, failure=failure, written=written, now=self._clock())

    def _write(self, job_id: str) -> int:
        from openpyxl import Workbook

        with self._sessions.begin() as s:
            row = export_store.get_job(s, job_id)
            if row is None:
                raise NotFoundError(job_id)
            account_id, columns, req = row.account_id, list(row.fields), dict(row.request)
        query = build_image_query(
            [(n, v, e) for n, v, e in req["filters"]],
            by=req["by"],
            order=req["order"],
            limit=1,
            offset=int(req["offset"]),
        )
        limit = req["limit"]
        attrs = [EXPORT_COLUMNS[c] for c in columns]
        self._dir.mkdir(parents=True, exist_ok=True)
        xlsx_tmp = self._dir / f".{job_id}.xlsx.part"
        csv_tmp = self._dir / f".{job_id}.csv.part"
        book = Workbook(write_only=True)  # rows go to a temp file as written, not kept
        sheet = book.create_sheet("Images")
        sheet.append(columns)
        written = 0
        with self._sessions() as s, csv_tmp.open("w", newline="", encoding="utf-8") as fh:
            total = max(0, count_images(s, account_id, query) - query.offset)
            if limit is not None:
                total = min(total, int(limit))
            out = csv.writer(fh)
            out.writerow(columns)
            for batch in export_store.iter_rows(s, account_id, query, limit=limit, batch=BATCH):
                for r in batch:
                    values = [_cell(getattr(r, a)) for a in attrs]
                    sheet.append(values)
                    out.writerow([_csv_text(v) for v in values])
                written += len(batch)
                with self._sessions.begin() as w:
                    export_store.progress(w, job_id, written, max(total, written), self._clock())
        book.save(xlsx_tmp)
        os.replace(xlsx_tmp, self._dir / f"{job_id}.xlsx")
        os.replace(csv_tmp, self._dir / f"{job_id}.csv")
        return written
