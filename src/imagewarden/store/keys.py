"""Accounts and API keys (the secret part is stored encrypted; see inventory.keys)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from imagewarden.store.tables import Account, ApiKey

__all__ = [
    "KeyRow",
    "disable_key",
    "ensure_account",
    "get_key",
    "insert_key",
    "key_material",
    "list_keys",
    "set_key_material",
]


@dataclass(frozen=True)
class KeyRow:
    secret_id: str
    account_id: int
    account_name: str
    secret_key_enc: bytes
    enabled: bool
    created_at: datetime


def ensure_account(session: Session, name: str, now: datetime) -> int:
    acct = session.scalar(select(Account).where(Account.name == name))
    if acct is None:
        acct = Account(name=name, created_at=now)
        session.add(acct)
        session.flush()
    return int(acct.id)


def insert_key(
    session: Session, account_id: int, secret_id: str, enc: bytes, now: datetime
) -> None:
    session.add(
        ApiKey(
            secret_id=secret_id,
            account_id=account_id,
            secret_key_enc=enc,
            enabled=True,
            created_at=now,
        )
    )


def _row(k: ApiKey, account_name: str) -> KeyRow:
    return KeyRow(
        k.secret_id,
        int(k.account_id),
        account_name,
        bytes(k.secret_key_enc),
        bool(k.enabled),
        k.created_at,
    )


def get_key(session: Session, secret_id: str) -> KeyRow | None:
    res = session.execute(
        select(ApiKey, Account.name)
        .join(Account, Account.id == ApiKey.account_id)
        .where(ApiKey.secret_id == secret_id)
    ).first()
    return None if res is None else _row(res[0], res[1])


def list_keys(session: Session) -> list[KeyRow]:
    res = session.execute(
        select(ApiKey, Account.name)
        .join(Account, Account.id == ApiKey.account_id)
        .order_by(Account.name, ApiKey.created_at)
    )
    return [_row(k, n) for k, n in res]


def disable_key(session: Session, secret_id: str, now: datetime) -> bool:
    k = session.get(ApiKey, secret_id)
    if k is None:
        return False
    k.enabled = False
    k.disabled_at = now
    return True


def key_material(session: Session) -> list[tuple[str, bytes]]:
    """(SecretId, encrypted SecretKey) of every key, locked for a re-encryption."""
    rows = session.execute(
        select(ApiKey.secret_id, ApiKey.secret_key_enc).order_by(ApiKey.secret_id).with_for_update()
    )
    return [(r[0], bytes(r[1])) for r in rows]


def set_key_material(session: Session, secret_id: str, enc: bytes) -> None:
    session.execute(update(ApiKey).where(ApiKey.secret_id == secret_id).values(secret_key_enc=enc))
