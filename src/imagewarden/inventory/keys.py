"""API key material: generation, and encryption at rest with the server key.

HMAC verification needs the SecretKey itself, so keys cannot be stored as one-way hashes;
they are encrypted with a Fernet key kept in a file outside the database (created with
mode 0600 on first use).  A database dump without that file hands out no usable secret.
"""

from __future__ import annotations

import os
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

__all__ = ["KeyCipher", "new_secret_id", "new_secret_key"]

_ALPHABET = string.ascii_letters + string.digits


def new_secret_id() -> str:
    """``AKID`` + 32 random characters, the shape of a Tencent Cloud SecretId (36 chars)."""
    return "AKID" + "".join(secrets.choice(_ALPHABET) for _ in range(32))


def new_secret_key() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(32))


@dataclass(frozen=True)
class KeyCipher:
    fernet: Fernet

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
        return cls(Fernet(path.read_bytes().strip()))

    def encrypt(self, secret_key: str) -> bytes:
        return self.fernet.encrypt(secret_key.encode("utf-8"))

    def decrypt(self, token: bytes) -> str | None:
        try:
            return self.fernet.decrypt(token).decode("utf-8")
        except InvalidToken:
            return None
