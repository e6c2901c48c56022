"""SQL of periodic scan settings (CreateAssetImageScanSetting) and the claim of a firing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from imagewarden.store.feature_tables import ScanSettingRow

__all__ = ["claim", "due", "get", "put", "record_result"]


def get(session: Session, account_id: int) -> ScanSettingRow | None:
    return session.get(ScanSettingRow, account_id)


def put(session: Session, account_id: int, values: dict[str, Any]) -> None:
    row = session.get(ScanSettingRow, account_id)
    if row is None:
        session.add(
            ScanSettingRow(account_id=account_id, scan_result="", last_task_id="", **values)
        )
        return
    for k, v in values.items():
        setattr(row, k, v)


def due(session: Session, now: datetime) -> list[tuple[int, datetime]]:
    """(account, the next_run it was seen with) of every enabled setting due at ``now``."""
    stmt = select(ScanSettingRow.account_id, ScanSettingRow.next_run).where(
        ScanSettingRow.enable.is_(True), ScanSettingRow.next_run <= now
    )
    return [(int(a), n) for a, n in session.execute(stmt) if n is not None]


def claim(session: Session, account_id: int, seen: datetime, following: datetime) -> bool:
    """Move ``next_run`` from ``seen`` to ``following``; True for the one caller that did.

    Several server processes tick the same schedule: the guard on the old value makes the
    firing theirs for exactly one of them (PostgreSQL re-checks the WHERE after waiting on a
    concurrent update of the row; SQLite serialises writers)."""
    res = session.execute(
        update(ScanSettingRow)
        .where(
            ScanSettingRow.account_id == account_id,
            ScanSettingRow.enable.is_(True),
            ScanSettingRow.next_run == seen,
        )
        .values(next_run=following)
    )
    return int(res.rowcount) == 1  # type: ignore[attr-defined]


def record_result(
    session: Session, account_id: int, *, at: datetime, result: str, task_id: str
) -> None:
    session.execute(
        update(ScanSettingRow)
        .where(ScanSettingRow.account_id == account_id)
        .values(last_scan_time=at, scan_result=result, last_task_id=task_id)
    )
