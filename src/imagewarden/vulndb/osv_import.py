"""Import OSV records from files, directories and ``all.zip`` exports into an AdvisoryWriter.

* A ``.json`` file holds one record (or a JSON list of records); a directory is walked
  recursively (sorted, symlinks not followed) for ``*.json``; a ``.zip`` is streamed member
  by member after its central directory passed the safety checks (:class:`ZipLimits`).
* Records are decoded with msgspec into typed structs; a record that is not OSV is counted
  as invalid and reported, never silently dropped, and never stops the import.
* Records are written in batches (default 1000) so the store can bulk-insert; re-importing
  the same record changes nothing, a newer ``modified`` replaces the stored record.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import msgspec

from imagewarden.vulndb.ecosystems import is_supported, normalise_name
from imagewarden.vulndb.errors import (
    ImportSourceError,
    OsvFormatError,
    UnsafeArchiveError,
    VulnDbError,
)
from imagewarden.vulndb.index import (
    Advisory,
    AdvisoryWriter,
    AffectedPackage,
    ImportedAdvisory,
    ImportReport,
    RangeEvent,
    VersionRange,
    WriteCounts,
)
from imagewarden.vulndb.severity import SeverityInfo, score_severity

__all__ = [
    "ZipLimits",
    "import_paths",
    "iter_documents",
    "parse_osv",
    "parse_timestamp",
]

MAX_JSON_FILE = 64 * 1024 * 1024
MAX_ERRORS_KEPT = 50


@dataclass(frozen=True)
class ZipLimits:
    """Bounds an archive must respect; anything beyond is refused as unsafe."""

    max_member_bytes: int = 64 * 1024 * 1024
    max_total_bytes: int = 16 * 1024 * 1024 * 1024
    max_members: int = 2_000_000
    #: uncompressed/compressed above this, for members bigger than ``ratio_floor_bytes``
    max_ratio: float = 100.0
    ratio_floor_bytes: int = 1024 * 1024


# ---------------------------------------------------------------------------------------
# OSV schema (only the fields we use; unknown fields are ignored)


class _Event(msgspec.Struct, forbid_unknown_fields=False):
    introduced: str | None = None
    fixed: str | None = None
    last_affected: str | None = None
    limit: str | None = None


class _Range(msgspec.Struct):
    type: str = ""
    events: list[_Event] = msgspec.field(default_factory=list)


class _Package(msgspec.Struct):
    ecosystem: str = ""
    name: str = ""


class _Severity(msgspec.Struct):
    type: str = ""
    score: str = ""


class _Affected(msgspec.Struct):
    package: _Package | None = None
    ranges: list[_Range] = msgspec.field(default_factory=list)
    versions: list[str] = msgspec.field(default_factory=list)
    severity: list[_Severity] = msgspec.field(default_factory=list)
    ecosystem_specific: dict[str, Any] | None = None
    database_specific: dict[str, Any] | None = None


class _Reference(msgspec.Struct):
    type: str = ""
    url: str = ""


class _Record(msgspec.Struct):
    id: str
    modified: str
    published: str | None = None
    withdrawn: str | None = None
    aliases: list[str] | None = None
    upstream: list[str] | None = None
    summary: str = ""
    details: str = ""
    severity: list[_Severity] | None = None
    affected: list[_Affected] | None = None
    references: list[_Reference] | None = None
    database_specific: dict[str, Any] | None = None


_decode_one = msgspec.json.Decoder(_Record).decode
_decode_many = msgspec.json.Decoder(list[_Record]).decode
_encode = msgspec.json.Encoder(order="deterministic").encode


def parse_timestamp(text: str) -> datetime:
    """RFC 3339 -> aware UTC datetime; fractions beyond microseconds are truncated."""
    t = text.strip()
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    if "." in t:
        head, _, rest = t.partition(".")
        digits = len(rest) - len(rest.lstrip("0123456789"))
        t = head + "." + rest[:digits][:6].ljust(6, "0") + rest[digits:]
    try:
        dt = datetime.fromisoformat(t)
    except ValueError as exc:
        raise OsvFormatError(f"bad timestamp {text!r}") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def _events(rng: _Range) -> tuple[RangeEvent, ...]:
    out: list[RangeEvent] = []
    for ev in rng.events:
        if ev.introduced is not None:
            out.append(RangeEvent("introduced", ev.introduced))
        if ev.fixed is not None:
            out.append(RangeEvent("fixed", ev.fixed))
        if ev.last_affected is not None:
            out.append(RangeEvent("last_affected", ev.last_affected))
        if ev.limit is not None:
            out.append(RangeEvent("limit", ev.limit))
    return tuple(out)


def _affected(
    entry: _Affected, top: SeverityInfo, record_specific: dict[str, Any] | None
) -> AffectedPackage | None:
    if entry.package is None or not entry.package.ecosystem or not entry.package.name:
        return None  # e.g. GIT-only entries without a package: nothing to match by name
    eco = entry.package.ecosystem.strip()
    sev = top
    if top.score is None:
        own = score_severity(
            ((s.type, s.score) for s in entry.severity),
            entry.ecosystem_specific,
            entry.database_specific,
        )
        if own.score is not None or own.bucket != "UNKNOWN":
            sev = own
        if sev.bucket == "UNKNOWN" and record_specific:
            sev = score_severity((), record_specific)
    return AffectedPackage(
        ecosystem=eco,
        name=normalise_name(eco, entry.package.name),
        raw_name=entry.package.name,
        ranges=tuple(VersionRange(r.type.strip().upper(), _events(r)) for r in entry.ranges),
        versions=tuple(entry.versions),
        severity=str(sev.bucket),
        cvss_score=sev.score,
        cvss_vector=sev.vector,
        supported=is_supported(eco),
    )


def _to_advisory(rec: _Record) -> Advisory:
    if not rec.id.strip():
        raise OsvFormatError("record without id")
    top_entries = [(s.type, s.score) for s in rec.severity or ()]
    # top-level severity: CVSS first; the record-level word only if nothing more specific
    top = score_severity(top_entries)
    affected = [_affected(a, top, rec.database_specific) for a in rec.affected or ()]
    record_sev = (
        top if top.score is not None else score_severity(top_entries, rec.database_specific)
    )
    aliases = tuple(dict.fromkeys(a for a in (*(rec.aliases or ()), *(rec.upstream or ())) if a))
    refs = tuple(dict.fromkeys(r.url for r in rec.references or () if r.url))
    return Advisory(
        id=rec.id.strip(),
        modified=parse_timestamp(rec.modified),
        published=parse_timestamp(rec.published) if rec.published else None,
        withdrawn=parse_timestamp(rec.withdrawn) if rec.withdrawn else None,
        aliases=aliases,
        summary=rec.summary,
        details=rec.details,
        severity=str(record_sev.bucket),
        cvss_score=record_sev.score,
        cvss_vector=record_sev.vector,
        references=refs,
        affected=tuple(sorted(a for a in affected if a is not None)),
    )


def parse_osv(data: bytes, source: str) -> list[ImportedAdvisory]:
    """Decode one document (a record or a list of records); raise OsvFormatError if it is not OSV."""
    try:
        stripped = data.lstrip()
        records = _decode_many(data) if stripped[:1] == b"[" else [_decode_one(data)]
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise OsvFormatError(f"{source}: {exc}") from exc
    out = []
    for rec in records:
        try:
            adv = _to_advisory(rec)
        except OsvFormatError as exc:
            raise OsvFormatError(f"{source}: {exc}") from exc
        digest = hashlib.sha256(_encode(rec)).hexdigest()
        out.append(ImportedAdvisory(adv, source, digest))
    return out


# ---------------------------------------------------------------------------------------
# sources


def _check_member_name(name: str) -> None:
    if "\\" in name or "\x00" in name:
        raise UnsafeArchiveError(f"unsafe member name {name!r}")
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or (p.parts and ":" in p.parts[0]):
        raise UnsafeArchiveError(f"unsafe member path {name!r}")


def _zip_members(path: Path, limits: ZipLimits) -> Iterator[tuple[str, bytes]]:
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ImportSourceError(f"{path}: not a readable zip archive ({exc})") from exc
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_members:
            raise UnsafeArchiveError(f"{path}: {len(infos)} members exceed {limits.max_members}")
        total = 0
        selected = []
        for info in infos:
            _check_member_name(info.filename)
            if info.is_dir() or not info.filename.lower().endswith(".json"):
                continue
            if info.flag_bits & 0x1:
                raise UnsafeArchiveError(f"{path}!{info.filename}: encrypted member")
            if info.file_size > limits.max_member_bytes:
                raise UnsafeArchiveError(
                    f"{path}!{info.filename}: {info.file_size} bytes exceed {limits.max_member_bytes}"
                )
            if (
                info.file_size > limits.ratio_floor_bytes
                and info.file_size > limits.max_ratio * max(info.compress_size, 1)
            ):
                raise UnsafeArchiveError(
                    f"{path}!{info.filename}: compression ratio "
                    f"{info.file_size / max(info.compress_size, 1):.0f} exceeds {limits.max_ratio:.0f}"
                )
            total += info.file_size
            if total > limits.max_total_bytes:
                raise UnsafeArchiveError(
                    f"{path}: uncompressed size exceeds {limits.max_total_bytes}"
                )
            selected.append(info)
        for info in sorted(selected, key=lambda i: i.filename):
            with zf.open(info) as fh:
                data = fh.read(info.file_size + 1)  # never more than declared (+1 to detect lies)
            if len(data) > info.file_size:
                raise UnsafeArchiveError(f"{path}!{info.filename}: larger than declared")
            yield f"{path}!{info.filename}", data


def _read_file(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_JSON_FILE:
            raise ImportSourceError(f"{path}: {size} bytes exceed {MAX_JSON_FILE}")
        return path.read_bytes()
    except OSError as exc:
        raise ImportSourceError(f"{path}: {exc}") from exc


def _is_zip(path: Path) -> bool:
    if path.suffix.lower() == ".zip":
        return True
    try:
        with path.open("rb") as fh:
            return fh.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def iter_documents(
    paths: Iterable[str | Path], limits: ZipLimits = ZipLimits()
) -> Iterator[tuple[str, bytes]]:
    """Yield ``(source, bytes)`` for every OSV document under ``paths``, in a stable order."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for root, dirs, files in os.walk(path, followlinks=False):
                dirs.sort()
                for name in sorted(files):
                    f = Path(root) / name
                    if f.is_symlink():
                        continue
                    if name.lower().endswith(".json"):
                        yield str(f), _read_file(f)
                    elif name.lower().endswith(".zip"):
                        yield from _zip_members(f, limits)
        elif path.is_file():
            if _is_zip(path):
                yield from _zip_members(path, limits)
            else:
                yield str(path), _read_file(path)
        else:
            raise ImportSourceError(f"{path}: no such file or directory")


def import_paths(
    paths: Sequence[str | Path],
    writer: AdvisoryWriter,
    *,
    batch_size: int = 1000,
    limits: ZipLimits = ZipLimits(),
) -> ImportReport:
    """Import every OSV record under ``paths`` into ``writer``; return what happened.

    Invalid records are counted and listed (up to 50) in the report.  Unsafe archives and
    unreadable paths raise (a :class:`VulnDbError`) after the batches already read are written.
    """
    started = datetime.now(UTC)
    counts = WriteCounts()
    records = withdrawn = invalid = 0
    errors: list[str] = []
    batch: dict[str, ImportedAdvisory] = {}

    def flush() -> None:
        nonlocal counts, batch
        if batch:
            counts = counts + writer.write_batch([batch[k] for k in sorted(batch)])
            batch = {}

    failure: VulnDbError | None = None
    try:
        for source, data in iter_documents(paths, limits):
            try:
                items = parse_osv(data, source)
            except OsvFormatError as exc:
                invalid += 1
                if len(errors) < MAX_ERRORS_KEPT:
                    errors.append(str(exc))
                continue
            for item in items:
                records += 1
                withdrawn += item.advisory.withdrawn is not None
                prev = batch.get(item.advisory.id)
                if prev is None or item.advisory.modified >= prev.advisory.modified:
                    batch[item.advisory.id] = item
                if len(batch) >= batch_size:
                    flush()
    except VulnDbError as exc:
        failure = exc
    flush()
    report = ImportReport(
        sources=tuple(str(p) for p in paths),
        started_at=started,
        finished_at=datetime.now(UTC),
        records=records,
        counts=counts,
        withdrawn=withdrawn,
        invalid=invalid,
        errors=(*errors, str(failure)) if failure else tuple(errors),
    )
    writer.record_import(report)
    if failure is not None:
        raise failure
    return report
