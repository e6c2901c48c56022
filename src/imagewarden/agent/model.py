"""Frozen values the agent passes around: what an engine holds, who the host is, the payload.

Collectors return an ``Inventory``; the runner adds the ``HostIdentity`` and turns both into
the ``ReportHostAssets`` request body (wire names as in README "ReportHostAssets").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "ContainerInfo",
    "HostIdentity",
    "ImageInfo",
    "Inventory",
    "normalise_id",
    "report_payload",
    "rfc3339",
]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def normalise_id(value: str) -> str | None:
    """``sha256:<64 hex>`` from an engine's image ID (with or without the prefix); else None."""
    text = value.strip().lower().removeprefix("sha256:")
    return f"sha256:{text}" if _HEX64.match(text) else None


def rfc3339(value: str | int | float | None) -> str | None:
    """UTC RFC 3339 with ``Z`` (seconds) from an RFC 3339 string or a Unix time; None if unknown."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        if value <= 0:
            return None
        dt = datetime.fromtimestamp(value, UTC)
    else:
        text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
        if "." in text:  # engines report nanoseconds; Python parses at most microseconds
            head, _, rest = text.partition(".")
            digits = "".join(ch for ch in rest if ch.isdigit())
            text = f"{head}.{digits[:6]}{rest[len(digits) :]}"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            return None
        dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    if dt.year < 1971:  # Docker's zero time "0001-01-01T00:00:00Z" means "unknown"
        return None
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ImageInfo:
    image_id: str  # sha256:<hex>, the config digest
    repo_tags: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()
    size: int = 0
    create_time: str | None = None  # UTC RFC 3339
    os_name: str | None = None
    architecture: str | None = None

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ImageID": self.image_id,
            "RepoTags": list(self.repo_tags),
            "RepoDigests": list(self.repo_digests),
            "Size": max(0, self.size),
        }
        if self.create_time:
            out["CreateTime"] = self.create_time
        if self.os_name:
            out["OsName"] = self.os_name
        if self.architecture:
            out["Architecture"] = self.architecture
        return out


@dataclass(frozen=True)
class ContainerInfo:
    container_id: str
    image_id: str  # sha256:<hex>
    name: str = ""
    state: str = ""  # engine vocabulary, lower case: created, running, paused, exited, ...

    def to_wire(self) -> dict[str, Any]:
        return {
            "ContainerID": self.container_id,
            "Name": self.name,
            "ImageID": self.image_id,
            "State": self.state,
        }


@dataclass(frozen=True)
class Inventory:
    """One engine's full state at one moment: images and containers (sorted, no duplicates)."""

    images: tuple[ImageInfo, ...] = ()
    containers: tuple[ContainerInfo, ...] = ()

    @classmethod
    def of(cls, images: list[ImageInfo], containers: list[ContainerInfo]) -> Inventory:
        """Merge duplicate image IDs (union of names, first non-empty facts) and sort."""
        merged: dict[str, ImageInfo] = {}
        for img in images:
            old = merged.get(img.image_id)
            if old is None:
                merged[img.image_id] = img
                continue
            merged[img.image_id] = ImageInfo(
                img.image_id,
                tuple(sorted(set(old.repo_tags) | set(img.repo_tags))),
                tuple(sorted(set(old.repo_digests) | set(img.repo_digests))),
                old.size or img.size,
                old.create_time or img.create_time,
                old.os_name or img.os_name,
                old.architecture or img.architecture,
            )
        seen: dict[str, ContainerInfo] = {}
        for c in containers:
            seen.setdefault(c.container_id, c)
        return cls(
            tuple(sorted(merged.values(), key=lambda i: i.image_id)),
            tuple(sorted(seen.values(), key=lambda c: c.container_id)),
        )


@dataclass(frozen=True)
class HostIdentity:
    host_id: str
    host_name: str = ""
    ips: tuple[str, ...] = ()
    is_super_node: bool = False

    def to_wire(self) -> dict[str, Any]:
        return {
            "HostID": self.host_id,
            "HostName": self.host_name,
            "IPs": list(self.ips),
            "IsSuperNode": self.is_super_node,
        }


def report_payload(host: HostIdentity, inventory: Inventory) -> dict[str, Any]:
    """The ``ReportHostAssets`` request body for one full snapshot."""
    return {
        "Host": host.to_wire(),
        "Images": [i.to_wire() for i in inventory.images],
        "Containers": [c.to_wire() for c in inventory.containers],
    }
