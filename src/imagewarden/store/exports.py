"""SQL of image-list exports: job rows, and the listing query streamed without a page limit.

``iter_rows`` runs exactly the DescribeAssetImageList query (``store.images``: the same
WHERE from the typed ImageQuery and the same ORDER BY with its ``image_id`` tiebreak), but
reads it through one streaming cursor (``yield_per``: a server-side cursor on PostgreSQL,
SQLite's own stepping) instead of Offset pages, so an export of a million rows holds one
batch in memory and never re-walks the skipped rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, cast

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from imagewarden.inventory.models import ImageQuery, ImageRow
from imagewarden.store.feature_tables import ExportJobRow
from imagewarden.store.images import _ROW_COLUMNS, _order, _where

__all__ = ["finish_job", "get_job", "insert_job", "iter_rows", "progress"]


def iter_rows(
    session: Session, account_id: int, query: ImageQuery, *, limit: int | None, batch: int
) -> Iterator[list[ImageRow]]:
    stmt = (
        select(*_ROW_COLUMNS)
        .where(and_(*_where(account_id, query)))
        .order_by(*_order(query))
        .offset(query.offset)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    result = session.execute(stmt.execution_options(yield_per=batch))
    for part in result.partitions():
        yield [ImageRow(*cast(tuple[Any, ...], r)) for r in part]


def insert_job(session: Session, row: ExportJobRow) -> None:
    session.add(row)


def get_job(session: Session, job_id: str) -> ExportJobRow | None:
    return session.get(ExportJobRow, job_id)


def progress(session: Session, job_id: str, written: int, total: int, now: datetime) -> None:
    pct = 100.0 if total <= 0 else min(99.0, round(written * 100.0 / total, 1))
    session.execute(
        update(ExportJobRow)
        .where(ExportJobRow.job_id == job_id)
        .values(written_rows=written, total_rows=total, progress=pct, updated_at=now)
    )


def finish_job(session: Session, job_id: str, *, failure: str, written: int, now: datetime) -> None:
    session.execute(
        update(ExportJobRow)
        .where(ExportJobRow.job_id == job_id)
        .values(
            status="FAILURE" if failure else "SUCCESS",
            failure=failure,
            written_rows=written,
            progress=100.0 if not failure else ExportJobRow.progress,
            updated_at=now,
            finished_at=now,
        )
    )
