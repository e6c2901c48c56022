"""Inventory use-cases: one method per use-case, typed in and out, no HTTP."""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from imagewarden.inventory.drilldown import category_state, scan_state
from imagewarden.inventory.errors import InvalidInputError, NotFoundError, StoreUnavailableError
from imagewarden.inventory.keys import KeyCipher, new_secret_id, new_secret_key
from imagewarden.inventory.models import (
    CategoryState,
    HistoryStep,
    HostSnapshot,
    ImageDetail,
    ImageQuery,
    ImageReport,
    ImageRow,
    ReportOutcome,
    RiskRecord,
    ScanOutcome,
    ScanStatus,
    SimpleImage,
    SortField,
    VirusRecord,
    VulnerabilityRecord,
    normalise_image_id,
)
from imagewarden.store import details as details_store
from imagewarden.store import hosts as host_store
from imagewarden.store import images as image_store
from imagewarden.store import keys as key_store
from imagewarden.store import latest as latest_store
from imagewarden.store import scanned as scanned_store
from imagewarden.store.engine import unpinged
from imagewarden.store.tables import Image, ImageComponent, ImageName, ImageVulnerability

__all__ = [
    "Credential",
    "InventoryService",
    "KeyInfo",
    "ListingGuard",
    "VirusFindings",
    "risk_row",
    "severity_counts",
    "utcnow",
    "virus_row",
    "vulnerability_row",
]

log = logging.getLogger("imagewarden.inventory")


_T = TypeVar("_T")

#: PostgreSQL's deadlock_detected and serialization_failure: the transaction was rolled
#: back whole and may run again
_ROLLED_BACK = frozenset({"40P01", "40001"})
_REPORT_ATTEMPTS = 8


@contextmanager
def _store_errors() -> Iterator[None]:
    """A database that cannot be reached (or a connection lost) is StoreUnavailableError."""
    try:
        yield
    except (OperationalError, DBAPIError) as exc:
        if isinstance(exc, OperationalError) or getattr(exc, "connection_invalidated", False):
            raise StoreUnavailableError(str(exc.orig) if exc.orig else str(exc)) from exc
        raise


def utcnow() -> datetime:
    """Naive UTC now (the store keeps naive UTC)."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def vulnerability_row(v: VulnerabilityRecord) -> dict[str, Any]:
    return {
        "advisory_id": v.advisory_id,
        "cve_id": v.cve_id,
        "component": v.component,
        "version": v.version,
        "component_type": v.component_type,
        "severity": v.severity,
        "cvss_score": v.cvss_score,
        "cvss_vector": v.cvss_vector,
        "fixed_versions": list(v.fixed_versions),
        "summary": v.summary,
        "detail": dict(v.detail),
    }


#: a stored component as plain values, in ``ComponentRecord``'s field order:
#: (name, version, type, path, purl, source_name, source_version, layer, owner)
ComponentRow = tuple[str, str, str, str, str, str | None, str | None, str | None, str | None]


def _row_key(row: dict[str, Any]) -> str:
    return json.dumps(row, sort_keys=True, default=str)


def _same_rows(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    """Whether two lists of findings rows hold the same findings, in any order."""
    return sorted(map(_row_key, a)) == sorted(map(_row_key, b))


def virus_row(v: VirusRecord) -> dict[str, Any]:
    return {
        "path": v.path,
        "file_name": v.file_name,
        "virus_name": v.virus_name,
        "risk_level": v.risk_level,
        "md5": v.md5,
        "size": v.size,
        "tags": list(v.tags),
        "description": v.desc,
        "solution": v.solution,
        "engine": v.engine,
        "layer": v.layer,
    }


def risk_row(r: RiskRecord) -> dict[str, Any]:
    """Every RiskRecord field, and nothing else: the record is already redacted."""
    return {
        "kind": r.kind,
        "rule_id": r.rule_id,
        "behavior": r.behavior,
        "type": r.type,
        "level": r.level,
        "description": r.desc,
        "instruction": r.instruction,
        "path": r.path,
        "line": r.line,
        "excerpt": r.excerpt,
        "layer": r.layer,
    }


def _history_json(steps: Sequence[HistoryStep]) -> list[dict[str, Any]]:
    return [
        {
            "created": h.created,
            "created_by": h.created_by,
            "empty_layer": h.empty_layer,
            "comment": h.comment,
        }
        for h in steps
    ]


def severity_counts(vulns: Sequence[VulnerabilityRecord]) -> dict[str, int]:
    out = {"critical_cnt": 0, "high_cnt": 0, "medium_cnt": 0, "low_cnt": 0}
    for v in vulns:
        key = f"{v.severity.lower()}_cnt"
        if key in out:
            out[key] += 1
    return out


@dataclass(frozen=True)
class Credential:
    """A resolved, decrypted API key (kept only in memory)."""

    secret_id: str
    secret_key: str
    account_id: int
    enabled: bool


class ListingGuard(Protocol):
    """Work that must be done before an account's images are shown (image licences):
    ``settled`` checks, read-only, inside the listing's own unit of statements; only when
    it says no does ``reconcile`` run, in a transaction of its own, before the listing.
    ``settled_check`` is the same check as a SQL condition and its parameter values: the
    page's statement carries it, so a listing is one statement."""

    def settled(self, session: Session, account_id: int) -> bool: ...
    def settled_check(self, account_id: int) -> image_store.Check: ...
    def reconcile(self, account_id: int) -> None: ...


@dataclass(frozen=True)
class VirusFindings:
    """An image's virus rows and the state of its virus category (VirusScanStatus)."""

    rows: list[dict[str, Any]]
    state: CategoryState


@dataclass(frozen=True)
class KeyInfo:
    secret_id: str
    account: str
    enabled: bool
    created_at: datetime


class InventoryService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        cipher: KeyCipher,
        *,
        key_cache_ttl: float = 0.5,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._cipher = cipher
        self._ttl = key_cache_ttl
        self._clock = clock
        self._key_cache: dict[str, tuple[float, Credential | None]] = {}
        self._lock = threading.Lock()
        bind = sessions.kw.get("bind")
        self._pg = getattr(getattr(bind, "dialect", None), "name", "") == "postgresql"

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        with _store_errors(), self._sessions.begin() as session:
            yield session

    @contextmanager
    def _read_session(self) -> Iterator[Session]:
        """A read-only unit of statements.  On PostgreSQL they run outside a transaction
        block: under READ COMMITTED every statement takes its own snapshot inside a
        transaction too, so this changes nothing but the BEGIN and COMMIT round trips it
        saves.  On SQLite (no round trips) it is one transaction: one snapshot."""
        if not self._pg:
            with self._sessions.begin() as session:
                yield session
            return
        with self._sessions() as session:
            session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            yield session

    def _read(self, work: Callable[[Session], _T]) -> _T:
        """Run read-only ``work`` in a ``_read_session`` whose connection is checked out
        without the liveness ping (a round trip per checkout, ``store.engine.unpinged``).
        When the pooled connection turns out dead (the database restarted, its backend was
        terminated), the pool discards it and every connection opened before it, and
        ``work`` runs once more, on a fresh connection.  Only reads come here: running them
        twice changes nothing.  A write (``_tx``) is pinged at checkout instead, so it never
        starts on a dead pooled connection and is never run twice."""
        with _store_errors():
            try:
                with unpinged(), self._read_session() as session:
                    return work(session)
            except DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
                log.info("pooled connection lost (%s): reading again", exc.orig or exc)
            with self._read_session() as session:
                return work(session)

    # --- keys ---------------------------------------------------------------------------------
    def credential(self, secret_id: str) -> Credential | None:
        """The key for a SecretId, cached for well under a second (a disabled key stops at once)."""
        now = time.monotonic()
        with self._lock:
            hit = self._key_cache.get(secret_id)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        row = self._read(lambda s: key_store.get_key(s, secret_id))
        cred = None
        if row is not None:
            plain = self._cipher.decrypt(row.secret_key_enc)
            if plain is None:
                log.warning("key %s cannot be decrypted: wrong server key file?", secret_id)
            else:
                cred = Credential(row.secret_id, plain, row.account_id, row.enabled)
        with self._lock:
            if len(self._key_cache) > 10_000:
                self._key_cache.clear()
            self._key_cache[secret_id] = (now, cred)
        return cred

    def create_key(self, account: str) -> tuple[str, str, int]:
        if not account.strip():
            raise InvalidInputError("account", "the account name must not be empty")
        secret_id, secret_key = new_secret_id(), new_secret_key()
        with self._tx() as s:
            account_id = key_store.ensure_account(s, account.strip(), self._clock())
            key_store.insert_key(
                s, account_id, secret_id, self._cipher.encrypt(secret_key), self._clock()
            )
        return secret_id, secret_key, account_id

    def list_keys(self) -> list[KeyInfo]:
        with self._tx() as s:
            return [
                KeyInfo(k.secret_id, k.account_name, k.enabled, k.created_at)
                for k in key_store.list_keys(s)
            ]

    def disable_key(self, secret_id: str) -> None:
        with self._tx() as s:
            if not key_store.disable_key(s, secret_id, self._clock()):
                raise NotFoundError(f"no key {secret_id}")
        with self._lock:
            self._key_cache.pop(secret_id, None)

    def account_id(self, name: str) -> int:
        with self._tx() as s:
            return key_store.ensure_account(s, name, self._clock())

    # --- images -------------------------------------------------------------------------------
    def list_images(
        self, account_id: int, query: ImageQuery, guard: ListingGuard | None = None
    ) -> tuple[list[ImageRow], int]:
        if guard is None:
            return self._read(lambda s: image_store.list_page(s, account_id, query))

        def settled_page(s: Session) -> tuple[list[ImageRow], int] | None:
            # the common case, one statement: the page carries the guard's check
            rows, total, settled = image_store.list_page_checked(
                s, account_id, query, guard.settled_check(account_id)
            )
            if settled is None:  # an empty page carries nothing: ask on its own
                settled = guard.settled(s, account_id)
            return (rows, total) if settled else None

        page = self._read(settled_page)
        if page is not None:
            return page
        guard.reconcile(account_id)
        return self._read(lambda s: image_store.list_page(s, account_id, query))

    def report_host(self, account_id: int, snapshot: HostSnapshot) -> ReportOutcome:
        """Apply a host's snapshot.  On PostgreSQL, reports of hosts sharing images lock
        those rows in key order, but IsLatestImage's flags (``store.latest``) are written
        on rows of the same repositories afterwards, out of that order: two such reports
        can deadlock, and PostgreSQL rolls one back.  A snapshot replaces the host's state
        whole, so the one rolled back simply runs again, after a random pause that grows
        with each attempt."""
        for attempt in range(1, _REPORT_ATTEMPTS + 1):
            try:
                with self._tx() as s:
                    return host_store.apply_snapshot(s, account_id, snapshot, self._clock())
            except StoreUnavailableError as exc:
                state = getattr(getattr(exc.__cause__, "orig", None), "sqlstate", None)
                if state not in _ROLLED_BACK or attempt == _REPORT_ATTEMPTS:
                    raise
                log.info("report of host %s rolled back (%s): again", snapshot.host.host_id, state)
                time.sleep(random.uniform(0, min(0.5, 0.005 * 2**attempt)))
        raise AssertionError("unreachable")

    def _resolve(self, s: Session, account_id: int, refs: Sequence[str]) -> list[int]:
        pks: list[int] = []
        for ref in refs:
            cond = [ImageName.name == ref]
            try:
                cond.append(Image.image_id == normalise_image_id(ref))
            except InvalidInputError:
                pass
            found = s.scalars(
                select(Image.id)
                .outerjoin(ImageName, ImageName.image_pk == Image.id)
                .where(Image.account_id == account_id, or_(*cond))
                .distinct()
            ).all()
            if not found:
                raise NotFoundError(f"no image `{ref}` in this account")
            pks.extend(int(p) for p in found)
        return sorted(set(pks))

    def set_trust(self, account_id: int, refs: Sequence[str], trusted: bool) -> int:
        with self._tx() as s:
            pks = self._resolve(s, account_id, refs)
            s.execute(update(Image).where(Image.id.in_(pks)).values(is_trusted=trusted))
            return len(pks)

    def prune_images(self, account_id: int | None = None) -> int:
        with self._tx() as s:
            return host_store.prune_orphan_images(s, account_id)

    def register_image(self, account_id: int, report: ImageReport, source_ref: str) -> None:
        """Add (or update) an image known from its bytes rather than from a host.

        It is listed with HostCnt 0 until a host reports it; its names are the source's tags
        unless hosts already report names for it.
        """
        snap_time = self._clock()
        with self._tx() as s:
            pk = scanned_store.ensure_image(s, account_id, report.image_id, snap_time)
            values: dict[str, object] = {"source_ref": source_ref}
            if report.size:
                values["size"] = report.size
            if report.create_time is not None:
                values["create_time"] = report.create_time
            if report.repo_digests:
                values["repo_digests"] = sorted(set(report.repo_digests))
            if report.architecture:
                values["architecture"] = report.architecture
            s.execute(update(Image).where(Image.id == pk).values(**values))
            has_names = s.scalar(select(ImageName.name).where(ImageName.image_pk == pk).limit(1))
            tags = sorted({t for t in report.repo_tags if t})
            if has_names is None and tags:
                s.execute(
                    update(Image)
                    .where(Image.id == pk)
                    .values(image_name=tags[0], names_search="\n".join(t.lower() for t in tags))
                )
                s.execute(
                    insert(ImageName),
                    [{"image_pk": pk, "name": t, "account_id": account_id} for t in tags],
                )
            elif has_names is None:
                s.execute(
                    update(Image)
                    .where(Image.id == pk, Image.image_name == "")
                    .values(image_name="<none>:<none>")
                )
            latest_store.refresh(s, account_id, {pk})  # names or CreateTime may be new

    def source_of(self, account_id: int, image_id: str) -> str:
        with self._tx() as s:
            ref = s.scalar(
                select(Image.source_ref).where(
                    Image.account_id == account_id, Image.image_id == image_id
                )
            )
        if ref is None:
            raise NotFoundError(f"no image {image_id} in this account")
        return ref

    # --- drill-downs ----------------------------------------------------------------------------
    def image_vulnerabilities(self, account_id: int, image_id: str) -> list[dict[str, Any]]:
        with self._tx() as s:
            pk = details_store.image_pk(s, account_id, image_id)
            if pk is None:
                raise NotFoundError(f"no image {image_id} in this account")
            return details_store.image_vulnerabilities(s, pk)

    def image_components(self, account_id: int, image_id: str) -> list[dict[str, Any]]:
        with self._tx() as s:
            pk = details_store.image_pk(s, account_id, image_id)
            if pk is None:
                raise NotFoundError(f"no image {image_id} in this account")
            return details_store.image_components(s, pk)

    def image_hosts(
        self, account_id: int, image_ids: Sequence[str], host_ids: Sequence[str]
    ) -> list[tuple[str, str]]:
        with self._tx() as s:
            return details_store.image_hosts(s, account_id, image_ids, host_ids)

    def image_viruses(self, account_id: int, image_id: str) -> VirusFindings:
        with self._tx() as s:
            img = details_store.image_row(s, account_id, image_id)
            if img is None:
                raise NotFoundError(f"no image {image_id} in this account")
            job = details_store.latest_job(s, account_id, image_id)
            state = category_state(
                scan_status=img.scan_status,
                scanned=img.virus_scanned,
                error=img.scan_virus_error,
                scan_time=img.scan_time,
                job_state=job.state if job else None,
                job_wants=bool(job and job.scan_virus),
                job_finished_at=job.finished_at if job else None,
            )
            return VirusFindings(details_store.image_viruses(s, img.id), state)

    def image_risks(self, account_id: int, image_id: str) -> list[dict[str, Any]]:
        with self._tx() as s:
            pk = details_store.image_pk(s, account_id, image_id)
            if pk is None:
                raise NotFoundError(f"no image {image_id} in this account")
            return details_store.image_risks(s, pk)

    def image_detail(self, account_id: int, image_id: str) -> ImageDetail:
        with self._tx() as s:
            img = details_store.image_row(s, account_id, image_id)
            if img is None:
                raise NotFoundError(f"no image {image_id} in this account")
            job = details_store.latest_job(s, account_id, image_id)
            kinds = details_store.risk_counts(s, img.id)
            common: dict[str, Any] = {
                "scan_status": img.scan_status,
                "scan_time": img.scan_time,
                "job_state": job.state if job else None,
                "job_finished_at": job.finished_at if job else None,
            }
            states = {
                cat: category_state(
                    scanned=scanned,
                    error=error,
                    job_wants=bool(job and getattr(job, f"scan_{cat}")),
                    **common,
                )
                for cat, scanned, error in (
                    ("vul", img.vul_scanned, img.scan_vul_error),
                    ("virus", img.virus_scanned, img.scan_virus_error),
                    ("risk", img.risk_scanned, img.scan_risk_error),
                )
            }
            status = scan_state(**common)
            remain = 0
            if status is CategoryState.SCANNING and job is not None and job.deadline is not None:
                # an upper bound: the task's deadline (a scan reports no progress of its own)
                remain = max(0, int((job.deadline - self._clock()).total_seconds()))
            finished = img.scan_status == ScanStatus.SCANNED.value
            return ImageDetail(
                image_id=img.image_id,
                image_name=img.image_name,
                repo_digests=tuple(img.repo_digests or ()),
                create_time=img.create_time,
                size=int(img.size),
                host_cnt=img.host_cnt,
                container_cnt=img.container_cnt,
                super_node_cnt=img.super_node_cnt,
                scan_time=img.scan_time,
                vul_cnt=img.vul_cnt,
                virus_cnt=img.virus_cnt,
                build_risk_cnt=kinds.get("build", 0) if finished else 0,
                sensitive_cnt=kinds.get("sensitive", 0) if finished else 0,
                is_trust_image=img.is_trusted,
                os_name=img.os_name,
                architecture=img.architecture,
                author=img.author,
                build_history=tuple(
                    HistoryStep(
                        str(h.get("created", "")),
                        str(h.get("created_by", "")),
                        bool(h.get("empty_layer", False)),
                        str(h.get("comment", "")),
                    )
                    for h in img.build_history or ()
                ),
                agent_error=img.agent_error,
                scan_error=img.scan_error,
                scan_vul_error=img.scan_vul_error,
                scan_virus_error=img.scan_virus_error,
                scan_risk_error=img.scan_risk_error,
                scan_status=img.scan_status,
                status=status,
                vul_state=states["vul"],
                virus_state=states["virus"],
                risk_state=states["risk"],
                remain_seconds=remain,
                is_authorized=img.is_authorized,
                solution=img.solution,
                reason=img.reason,
            )

    def list_simple(
        self,
        account_id: int,
        keywords: Sequence[str],
        sorts: Sequence[SortField],
        descending: bool,
        limit: int,
        offset: int,
    ) -> tuple[list[SimpleImage], int]:
        with self._tx() as s:
            return details_store.list_simple(
                s, account_id, keywords, sorts, descending, limit, offset
            )

    # --- re-matching ------------------------------------------------------------------------------
    def scanned_batches(
        self, batch: int = 500, account_id: int | None = None
    ) -> Iterator[list[tuple[int, str, str, list[ComponentRow]]]]:
        """Finished scans, in batches: (image pk, image ID, OsName, component rows).

        A bulk path (re-matching reads every stored component): the rows are plain tuples
        in ``ComponentRecord``'s field order, not one object per component.
        """
        after = 0
        while True:
            with self._tx() as s:
                rows = details_store.scanned_batch(s, after, batch, account_id)
                if not rows:
                    return
                comps = details_store.component_rows_of(s, [r[0] for r in rows])
            after = rows[-1][0]
            yield [(pk, image_id, os_name, comps[pk]) for pk, _acct, image_id, os_name in rows]

    def replace_vulnerabilities(
        self,
        results: Sequence[tuple[int, tuple[VulnerabilityRecord, ...], str]],
        scan_time: datetime,
    ) -> int:
        """New findings for already-scanned images (by pk): (pk, findings, vul_error).

        Every image gets the new ScanTime; findings rows are rewritten only for images
        whose findings changed (most do not after a database update), in a few set-wise
        statements per batch.  Returns how many images' findings changed.
        """
        with self._tx() as s:
            stored = details_store.vulnerability_rows_of(s, [pk for pk, _, _ in results])
            unchanged: list[int] = []
            changed: list[tuple[int, list[dict[str, Any]], dict[str, Any]]] = []
            for pk, vulns, vul_error in results:
                rows = [vulnerability_row(v) for v in vulns]
                old = stored.get(pk, [])
                if not vul_error and len(old) == len(rows) and _same_rows(old, rows):
                    unchanged.append(pk)
                    continue
                values: dict[str, Any] = {
                    "scan_time": scan_time,
                    "scan_vul_error": vul_error,
                    "vul_cnt": 0 if vul_error else len(vulns),
                    "recommended_fix": any(v.fixed_versions for v in vulns),
                    "vul_scanned": True,  # matched from the stored components: covered now
                    **severity_counts(vulns),
                }
                changed.append((pk, rows, values))
            details_store.replace_vulnerabilities_many(s, changed)
            details_store.touch_images(
                s, unchanged, {"scan_time": scan_time, "scan_vul_error": "", "vul_scanned": True}
            )
        return len(changed)

    # --- scan results -------------------------------------------------------------------------
    def mark_scanning(self, account_id: int, image_id: str) -> str | None:
        """Set SCANNING; returns the status it had (``None`` if the image is unknown)."""
        with self._tx() as s:
            prev = s.scalar(
                select(Image.scan_status).where(
                    Image.account_id == account_id, Image.image_id == image_id
                )
            )
            if prev is not None:
                s.execute(
                    update(Image)
                    .where(Image.account_id == account_id, Image.image_id == image_id)
                    .values(scan_status=ScanStatus.SCANNING.value)
                )
            return prev

    def restore_status(self, account_id: int, image_id: str, status: str) -> None:
        """Undo ``mark_scanning`` (a cancelled scan) or mark a crashed one SCAN_ERR."""
        values: dict[str, object] = {"scan_status": ScanStatus(status).value}
        if status == ScanStatus.SCAN_ERR.value:
            values.update(
                scan_error="the scanner failed unexpectedly",
                vul_cnt=0,
                virus_cnt=0,
                risk_cnt=0,
                component_cnt=0,
                critical_cnt=0,
                high_cnt=0,
                medium_cnt=0,
                low_cnt=0,
                vul_scanned=False,
                virus_scanned=False,
                risk_scanned=False,
                scan_time=self._clock(),
            )
        with self._tx() as s:
            if status == ScanStatus.SCAN_ERR.value:
                pk = details_store.image_pk(s, account_id, image_id)
                if pk is not None:
                    details_store.clear_findings(s, pk)
            s.execute(
                update(Image)
                .where(Image.account_id == account_id, Image.image_id == image_id)
                .values(**values)
            )

    def record_scan(
        self,
        account_id: int,
        outcome: ScanOutcome,
        *,
        guard: Callable[[Session], bool] | None = None,
        clear_agent_error: bool = False,
    ) -> bool:
        """Store one image's scan result, replacing the previous one, in one transaction.

        ``clear_agent_error``: the result comes from the host agent, whose earlier failure
        to read the image (AgentError) it supersedes.

        ``guard`` runs first in that transaction (a distributed worker ending its job,
        ``store.job_claims``); when it answers ``False`` nothing is written and this
        returns ``False``, so a result is stored only by the attempt that owns the job.

        Components, vulnerabilities, viruses and risks are all replaced: the lists are
        always those of the latest scan.  ImagesInfo.VirusCnt is the number of virus
        records, ImagesInfo.RiskCnt the number of risk records (sensitive information and
        risky build steps together; Detail splits them into SensitiveInfoCnt and RiskCnt).
        A failed scan keeps no counts and no findings.
        """
        with self._tx() as s:
            if guard is not None and not guard(s):
                return False
            pk = s.scalar(
                select(Image.id).where(
                    Image.account_id == account_id, Image.image_id == outcome.image_id
                )
            )
            if pk is None:
                raise NotFoundError(f"no image {outcome.image_id} in this account")
            s.execute(delete(ImageComponent).where(ImageComponent.image_pk == pk))
            s.execute(delete(ImageVulnerability).where(ImageVulnerability.image_pk == pk))
            failed = outcome.status is ScanStatus.SCAN_ERR
            sev = severity_counts(outcome.vulnerabilities)
            if not failed:
                if outcome.components:
                    s.execute(
                        insert(ImageComponent),
                        [
                            {
                                "image_pk": pk,
                                "name": c.name,
                                "version": c.version,
                                "type": c.type,
                                "path": c.path,
                                "purl": c.purl,
                                "source_name": c.source_name,
                                "source_version": c.source_version,
                                "layer": c.layer,
                                "owner": c.owner,
                            }
                            for c in outcome.components
                        ],
                    )
                if outcome.vulnerabilities:
                    s.execute(
                        insert(ImageVulnerability),
                        [{"image_pk": pk, **vulnerability_row(v)} for v in outcome.vulnerabilities],
                    )
                details_store.replace_findings(
                    s,
                    pk,
                    [virus_row(v) for v in outcome.viruses],
                    [risk_row(r) for r in outcome.risks],
                    outcome.scan_time,
                )
            else:
                details_store.clear_findings(s, pk)
            values: dict[str, object] = {
                "scan_status": outcome.status.value,
                "scan_time": outcome.scan_time,
                "scan_error": outcome.error,
                "scan_vul_error": outcome.vul_error,
                "scan_virus_error": outcome.virus_error,
                "scan_risk_error": outcome.risk_error,
                "component_cnt": 0 if failed else len(outcome.components),
                "vul_cnt": 0 if failed or outcome.vul_error else len(outcome.vulnerabilities),
                "critical_cnt": 0 if failed else sev["critical_cnt"],
                "high_cnt": 0 if failed else sev["high_cnt"],
                "medium_cnt": 0 if failed else sev["medium_cnt"],
                "low_cnt": 0 if failed else sev["low_cnt"],
                # what the lists hold: a category error (e.g. SECRET failed, RISK did not)
                # keeps what the other detectors found, and ScanRiskError says what is missing
                "virus_cnt": 0 if failed else outcome.virus_cnt,
                "risk_cnt": 0 if failed else outcome.risk_cnt,
                "recommended_fix": (not failed)
                and any(v.fixed_versions for v in outcome.vulnerabilities),
                "vul_scanned": not failed and outcome.vul_scanned,
                "virus_scanned": not failed and outcome.virus_scanned,
                "risk_scanned": not failed and outcome.risk_scanned,
            }
            if outcome.os_name:
                values["os_name"] = outcome.os_name
            if not failed:
                values["author"] = outcome.author
                values["build_history"] = _history_json(outcome.build_history)
            if clear_agent_error:
                values["agent_error"] = ""
            s.execute(update(Image).where(Image.id == pk).values(**values))
        return True

    # --- agent-side scans ---------------------------------------------------------------------
    def missing_images(self, account_id: int, image_ids: Sequence[str]) -> list[str]:
        """Those of ``image_ids`` this account does not have, in the order given."""
        found: set[str] = set()
        wanted = sorted(set(image_ids))
        with self._tx() as s:
            for i in range(0, len(wanted), 500):
                found.update(
                    s.scalars(
                        select(Image.image_id).where(
                            Image.account_id == account_id,
                            Image.image_id.in_(wanted[i : i + 500]),
                        )
                    )
                )
        return [i for i in image_ids if i not in found]

    def record_agent_error(self, account_id: int, image_id: str, error: str) -> None:
        """The host agent could not read or scan the image: ImagesInfo.AgentError.

        Nothing else changes: the image keeps its previous ScanStatus, counts and findings.
        """
        with self._tx() as s:
            done = s.execute(
                update(Image)
                .where(Image.account_id == account_id, Image.image_id == image_id)
                .values(agent_error=error)
            )
            if not done.rowcount:  # type: ignore[attr-defined]
                raise NotFoundError(f"no image {image_id} in this account")
