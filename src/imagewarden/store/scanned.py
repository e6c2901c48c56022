"""Images known from their bytes (a scanned source) rather than from a host report."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from imagewarden.store.tables import Image

__all__ = ["ensure_image"]


def ensure_image(session: Session, account_id: int, image_id: str, now: datetime) -> int:
    """The image's primary key, creating an empty row (HostCnt 0) when it is new."""
    mod = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(
        mod.insert(Image)
        .values(account_id=account_id, image_id=image_id, first_seen=now)
        .on_conflict_do_nothing()
    )
    pk = session.scalar(
        select(Image.id).where(Image.account_id == account_id, Image.image_id == image_id)
    )
    assert pk is not None
    return int(pk)
