"""API key material: generation, and encryption at rest with the server key.

HMAC verification needs the SecretKey itself, so keys cannot be stored as one-way hashes;
they are encrypted with a Fernet key kept in a file outside the database (created with
mode 0600 on first use).  A database dump without that file hands out no usable secret.

The key file holds one Fernet key per line: the first encrypts, every line decrypts.  Two
lines exist only while ``rotate_server_key`` runs, so that a crash at any point leaves a
file that still opens every stored key.  A running server that meets a key it cannot
decrypt re-reads the file once it has changed, so a rotation needs no restart.
"""

from __future__ import annotations

import os
import secrets
import string
import threading
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.orm import Session, sessionmaker

from imagewarden.store import keys as key_store

__all__ = [
    "KeyCipher",
    "KeyRotationError",
    "new_secret_id",
    "new_secret_key",
    "rotate_server_key",
    "write_key_file",
]

_ALPHABET = string.ascii_letters + string.digits


def new_secret_id() -> str:
    """``AKID`` + 32 random characters, the shape of a Tencent Cloud SecretId (36 chars)."""
    return "AKID" + "".join(secrets.choice(_ALPHABET) for _ in range(32))


def new_secret_key() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(32))


def _read_keys(path: Path) -> list[bytes]:
    keys = [line.strip() for line in path.read_bytes().splitlines() if line.strip()]
    if not keys:
        raise ValueError(f"server key file {path} holds no key")
    return keys


def write_key_file(path: Path, keys: list[bytes]) -> None:
    """Replace the key file atomically (temp file, fsync, rename), mode 0600."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(b"".join(k + b"\n" for k in keys))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class KeyCipher:
    def __init__(self, fernet: Fernet | MultiFernet, path: Path | None = None) -> None:
        self.fernet = fernet
        self._path = path
        self._stamp = self._stat()
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: Path, *, create: bool = True) -> KeyCipher:
        """Load the server key; create it (0600) when missing and ``create`` is set."""
        if not path.exists():
            if not create:
                raise FileNotFoundError(f"server key file {path} does not exist")
            path.parent.mkdir(parents=True, exist_ok=True)
            key = Fernet.generate_key()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(key + b"\n")
        return cls(MultiFernet([Fernet(k) for k in _read_keys(path)]), path)

    def _stat(self) -> tuple[int, int, int] | None:
        if self._path is None:
            return None
        try:
            st = self._path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _reload(self) -> bool:
        """Re-read the key file if it changed since it was loaded (a rotation happened)."""
        with self._lock:
            stamp = self._stat()
            if stamp is None or stamp == self._stamp or self._path is None:
                return False
            try:
                self.fernet = MultiFernet([Fernet(k) for k in _read_keys(self._path)])
            except (OSError, ValueError):
                return False
            self._stamp = stamp
            return True

    def encrypt(self, secret_key: str) -> bytes:
        return self.fernet.encrypt(secret_key.encode("utf-8"))

    def decrypt(self, token: bytes) -> str | None:
        for attempt in range(2):
            try:
                return self.fernet.decrypt(token).decode("utf-8")
            except InvalidToken:
                if attempt or not self._reload():
                    return None
        return None


class KeyRotationError(Exception):
    pass


def rotate_server_key(
    sessions: sessionmaker[Session],
    path: Path,
    *,
    _after_reencrypt: Callable[[], None] | None = None,
) -> int:
    """Replace the server key: every stored API key is re-encrypted with a new one.

    1. the file becomes ``new + old`` (new encrypts, both decrypt);
    2. one transaction re-encrypts every row with the new key;
    3. the file becomes ``new`` alone, and the old key is gone.

    A crash after any step leaves a file that decrypts every row.  A row the current key
    cannot decrypt aborts the rotation before anything is written to the database.
    Returns the number of keys re-encrypted.
    """
    old = _read_keys(path)
    new = Fernet.generate_key()
    write_key_file(path, [new, *old])
    both = MultiFernet([Fernet(k) for k in (new, *old)])
    try:
        with sessions.begin() as s:
            rows = key_store.key_material(s)
            for secret_id, enc in rows:
                try:
                    plain = both.decrypt(enc)
                except InvalidToken:
                    raise KeyRotationError(
                        f"key {secret_id} cannot be decrypted with the current server key file; "
                        "nothing was changed"
                    ) from None
                key_store.set_key_material(s, secret_id, Fernet(new).encrypt(plain))
            if _after_reencrypt is not None:
                _after_reencrypt()
    except BaseException:
        write_key_file(path, old)  # the database still holds rows encrypted with the old key
        raise
    write_key_file(path, [new])
    return len(rows)
