"""The agent's state directory: its stable HostID, its lock, and the spooled snapshot.

The HostID is generated once (a random UUID) and kept in ``<state>/host-id``: a host keeps
its identity across renames and re-addressing, and two hosts with the same name stay two.
The spool (``<state>/spool.json``) holds the latest snapshot not yet delivered, written
atomically (temporary file, fsync, rename), so a crash never leaves half a snapshot.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import tempfile
import uuid
from pathlib import Path
from typing import IO, Any

__all__ = ["AgentStateError", "StateDir", "atomic_write"]

_HOST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
SPOOL_VERSION = 1


class AgentStateError(Exception):
    """The state directory cannot be used (permissions, a corrupt host-id, another agent)."""


class StateDir:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock: IO[bytes] | None = None

    @property
    def spool_path(self) -> Path:
        return self.path / "spool.json"

    def ensure(self) -> None:
        try:
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise AgentStateError(f"cannot create the state directory {self.path}: {exc}") from exc

    def lock(self) -> None:
        """Hold an exclusive lock: one agent per state directory (and so per HostID)."""
        self.ensure()
        fh = (self.path / "agent.lock").open("ab")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            fh.close()
            raise AgentStateError(
                f"another agent is using {self.path} (lock held): {exc.strerror}"
            ) from exc
        self._lock = fh

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def host_id(self) -> str:
        """The stored HostID; generated and stored on first use."""
        self.ensure()
        path = self.path / "host-id"
        if path.exists():
            value = path.read_text(encoding="utf-8").strip()
            if not _HOST_ID.match(value):
                raise AgentStateError(
                    f"{path} does not hold a valid HostID ({value[:40]!r}); fix or delete it"
                )
            return value
        value = str(uuid.uuid4())
        atomic_write(path, (value + "\n").encode())
        return value

    def write_spool(self, payload: dict[str, Any], collected_at: str) -> None:
        doc = {"Version": SPOOL_VERSION, "CollectedAt": collected_at, "Payload": payload}
        self.ensure()
        atomic_write(self.spool_path, json.dumps(doc, separators=(",", ":")).encode())

    def read_spool(self) -> tuple[dict[str, Any], str] | None:
        """(payload, collected_at) of the spooled snapshot; None if none (or unreadable)."""
        try:
            doc = json.loads(self.spool_path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            self.clear_spool()
            return None
        if (
            not isinstance(doc, dict)
            or doc.get("Version") != SPOOL_VERSION
            or not isinstance(doc.get("Payload"), dict)
        ):
            self.clear_spool()
            return None
        return doc["Payload"], str(doc.get("CollectedAt", ""))

    def clear_spool(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.spool_path.unlink()


def atomic_write(path: Path, data: bytes) -> None:
    """Temporary file, fsync, rename, fsync the directory: never half a file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
