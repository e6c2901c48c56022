"""Filtering, sorting and paging of per-image lists (vulnerabilities, components, viruses,
risks), and the per-category scan states DescribeAssetImageVirusList / Detail report.

An image's lists are bounded (its packages and their findings), so they are filtered and
sorted here, identically for both stores.  Conventions (documented in the README):
- vulnerability ``Level``: 1 low, 2 medium, 3 high, 4 critical (0 when the advisory has no
  rating); filters accept the number or the word (``HIGH``), any case;
- ``Order`` accepts ``asc|desc`` and TCSS's ``+|-``; ties are broken by a stable key;
- virus ``RiskLevel`` and risk ``Level`` use the same 1-4 scale; ``Behavior`` and ``Type``
  filters take the detectors' integer codes (docs/detectors.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from imagewarden.inventory.errors import InvalidFilterError
from imagewarden.inventory.models import CategoryState, ScanStatus, SortField

__all__ = [
    "CHECK_PLATFORM",
    "LEVELS",
    "SIMPLE_SORTS",
    "category_state",
    "level_of",
    "page_components",
    "page_risks",
    "page_viruses",
    "page_vulnerabilities",
    "progress_of",
    "scan_state",
]

LEVELS = {"LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4, "UNKNOWN": 0}
Filters = Sequence[tuple[str, Sequence[str], bool]]
#: ImageVirusInfo.CheckPlatform of each of our engines, on TCSS's scale (1 cloud/signature
#: engine, 2 antivirus engine (TAV), 3 BinaryAI, 4 abnormal behaviour, 5 threat intelligence)
CHECK_PLATFORM = {"yara": "1", "clamav": "2", "hash": "5"}
#: the sort fields of DescribeAssetImageSimpleList
SIMPLE_SORTS = (
    SortField.CREATE_TIME,
    SortField.IMAGE_NAME,
    SortField.SIZE,
    SortField.HOST_CNT,
    SortField.CONTAINER_CNT,
    SortField.SCAN_TIME,
)


def level_of(severity: str) -> int:
    return LEVELS.get(severity.upper(), 0)


def _levels(values: Sequence[str], where: str) -> set[int]:
    out = set()
    for v in values:
        t = v.strip().upper()
        if t.isdigit() and 0 <= int(t) <= 4:
            out.add(int(t))
        elif t in LEVELS:
            out.add(LEVELS[t])
        else:
            raise InvalidFilterError(
                where, f"`{v}` is not a level (1-4 or LOW, MEDIUM, HIGH, CRITICAL)"
            )
    return out


def _descending(order: str | None) -> bool:
    if order is None or not order.strip():
        return True
    o = order.strip().lower()
    if o in ("desc", "-"):
        return True
    if o in ("asc", "+"):
        return False
    raise InvalidFilterError("Order", f"`{order}` is not asc or desc")


def _text_match(value: str, wanted: Sequence[str], exact: bool) -> bool:
    return any(value == w if exact else w.lower() in value.lower() for w in wanted)


def _sort_page(
    rows: list[dict[str, Any]],
    keys: dict[str, Callable[[dict[str, Any]], Any]],
    by: str | None,
    order: str | None,
    default: str,
    tiebreak: Callable[[dict[str, Any]], Any],
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    fields = [f.strip() for f in (by or default).split(",") if f.strip()] or [default]
    lookup = {k.lower(): k for k in keys}
    for f in fields:
        if f.lower() not in lookup:
            raise InvalidFilterError("By", f"cannot sort by `{f}` (sortable: {', '.join(keys)})")
    desc = _descending(order)
    rows = sorted(rows, key=tiebreak)
    for f in reversed(fields):
        rows.sort(key=keys[lookup[f.lower()]], reverse=desc)
    return rows[offset : offset + limit], len(rows)


def page_vulnerabilities(
    rows: list[dict[str, Any]],
    filters: Filters,
    by: str | None,
    order: str | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    for i, (name, values, exact) in enumerate(filters):
        where = f"Filters.{i}"
        key = name.strip().lower()
        if not values:
            raise InvalidFilterError(f"{where}.Values", "at least one value is required")
        if key == "name":
            rows = [
                r
                for r in rows
                if _text_match(r["cve_id"], values, exact)
                or _text_match(r["summary"], values, exact)
                or _text_match(r["advisory_id"], values, exact)
            ]
        elif key == "level":
            wanted = _levels(values, f"{where}.Values")
            rows = [r for r in rows if level_of(r["severity"]) in wanted]
        elif key in ("component", "componentname"):
            rows = [r for r in rows if _text_match(r["component"], values, exact)]
        else:
            raise InvalidFilterError(
                f"{where}.Name", f"unknown filter `{name}` (known: Name, Level, Component)"
            )
    keys: dict[str, Callable[[dict[str, Any]], Any]] = {
        "Level": lambda r: level_of(r["severity"]),
        "CVSSV3Score": lambda r: r["cvss_score"] if r["cvss_score"] is not None else -1.0,
        "CVEID": lambda r: r["cve_id"],
        "Component": lambda r: r["component"],
        "SubmitTime": lambda r: r["detail"].get("published", ""),
    }
    return _sort_page(
        rows,
        keys,
        by,
        order,
        "Level",
        lambda r: (r["cve_id"], r["component"], r["version"]),
        limit,
        offset,
    )


def page_components(
    rows: list[dict[str, Any]],
    vuln_counts: dict[tuple[str, str], int],
    levels: dict[tuple[str, str], set[int]],
    filters: Filters,
    by: str | None,
    order: str | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    # findings name (component, version) only; a language component the OS package manager
    # installed (``owner``) is never matched itself, so a same-named pip install's findings
    # are not its own
    rows = [
        {**r, "vul_count": 0 if r.get("owner") else vuln_counts.get((r["name"], r["version"]), 0)}
        for r in rows
    ]
    for i, (name, values, exact) in enumerate(filters):
        where = f"Filters.{i}"
        key = name.strip().lower()
        if not values:
            raise InvalidFilterError(f"{where}.Values", "at least one value is required")
        if key == "componentname":
            rows = [r for r in rows if _text_match(r["name"], values, exact)]
        elif key == "componentversion":
            rows = [r for r in rows if _text_match(r["version"], values, exact)]
        elif key == "componenttype":
            rows = [r for r in rows if _text_match(r["type"], values, True)]
        elif key == "vullevel":
            wanted = _levels(values, f"{where}.Values")
            rows = [
                r
                for r in rows
                if not r.get("owner") and levels.get((r["name"], r["version"]), set()) & wanted
            ]
        elif key == "hasvul":
            v = values[0].strip().lower()
            if v not in ("true", "false", "all"):
                raise InvalidFilterError(
                    f"{where}.Values.0", f"`{values[0]}` is not true, false or ALL"
                )
            if v != "all":
                rows = [r for r in rows if (r["vul_count"] > 0) == (v == "true")]
        else:
            raise InvalidFilterError(
                f"{where}.Name",
                f"unknown filter `{name}` (known: ComponentName, ComponentVersion, ComponentType, VulLevel, HasVul)",
            )
    keys: dict[str, Callable[[dict[str, Any]], Any]] = {
        "VulCount": lambda r: r["vul_count"],
        "Name": lambda r: r["name"],
        "Version": lambda r: r["version"],
        "Type": lambda r: r["type"],
    }
    return _sort_page(
        rows,
        keys,
        by,
        order,
        "VulCount",
        lambda r: (r["name"], r["version"], r["path"]),
        limit,
        offset,
    )


def _ints(values: Sequence[str], where: str) -> set[int]:
    out = set()
    for j, v in enumerate(values):
        t = v.strip()
        if not t.isdigit():
            raise InvalidFilterError(f"{where}.{j}", f"`{v}` is not a non-negative integer")
        out.add(int(t))
    return out


def page_viruses(
    rows: list[dict[str, Any]],
    filters: Filters,
    by: str | None,
    order: str | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """``Name`` matches the virus name or the file name; ``RiskLevel`` 1-4 (or the words)."""
    for i, (name, values, exact) in enumerate(filters):
        where = f"Filters.{i}"
        key = name.strip().lower()
        if not values:
            raise InvalidFilterError(f"{where}.Values", "at least one value is required")
        if key in ("name", "virusname"):
            rows = [
                r
                for r in rows
                if _text_match(r["virus_name"], values, exact)
                or _text_match(r["file_name"], values, exact)
            ]
        elif key in ("risklevel", "level"):
            wanted = _levels(values, f"{where}.Values")
            rows = [r for r in rows if r["risk_level"] in wanted]
        else:
            raise InvalidFilterError(
                f"{where}.Name", f"unknown filter `{name}` (known: Name, RiskLevel)"
            )
    keys: dict[str, Callable[[dict[str, Any]], Any]] = {
        "RiskLevel": lambda r: r["risk_level"],
        "LatestScanTime": lambda r: r["latest_scan_time"],
        "FirstScanTime": lambda r: r["first_scan_time"],
        "Size": lambda r: r["size"],
        "VirusName": lambda r: r["virus_name"],
        "FileName": lambda r: r["file_name"],
        "Path": lambda r: r["path"],
    }
    return _sort_page(
        rows,
        keys,
        by,
        order,
        "RiskLevel",
        lambda r: (r["path"], r["virus_name"], r["md5"]),
        limit,
        offset,
    )


def page_risks(
    rows: list[dict[str, Any]],
    filters: Filters,
    by: str | None,
    order: str | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """``Level`` 1-4 (or the words), ``Behavior`` and ``Type`` integer codes."""
    for i, (name, values, _exact) in enumerate(filters):
        where = f"Filters.{i}"
        key = name.strip().lower()
        if not values:
            raise InvalidFilterError(f"{where}.Values", "at least one value is required")
        if key == "level":
            wanted = _levels(values, f"{where}.Values")
            rows = [r for r in rows if r["level"] in wanted]
        elif key in ("behavior", "type"):
            codes = _ints(values, f"{where}.Values")
            rows = [r for r in rows if r[key] in codes]
        else:
            raise InvalidFilterError(
                f"{where}.Name", f"unknown filter `{name}` (known: Level, Behavior, Type)"
            )
    keys: dict[str, Callable[[dict[str, Any]], Any]] = {
        "Level": lambda r: r["level"],
        "Behavior": lambda r: r["behavior"],
        "Type": lambda r: r["type"],
    }
    return _sort_page(
        rows,
        keys,
        by,
        order,
        "Level",
        lambda r: (r["kind"], r["rule_id"], r["path"], r["line"], r["instruction"]),
        limit,
        offset,
    )


def category_state(
    *,
    scan_status: str,
    scanned: bool,
    error: str,
    scan_time: datetime | None,
    job_state: str | None,
    job_wants: bool,
    job_finished_at: datetime | None,
) -> CategoryState:
    """One category's state (VirusScanStatus) from the image row and its latest scan job.

    - SCANNING: the image is being scanned and the running job covers the category (or no
      job is known);
    - CANCELLED: the latest job covered the category and was cancelled after the latest
      recorded scan;
    - ERROR: the scan failed as a whole, or the category reported an error;
    - DONE: the latest recorded scan covered the category;
    - NOT_SCANNED: otherwise (never scanned, or the category was not asked for).
    """
    if scan_status == ScanStatus.SCANNING.value and (job_state is None or job_wants):
        return CategoryState.SCANNING
    if (
        job_state == "cancelled"
        and job_wants
        and (scan_time is None or job_finished_at is None or job_finished_at >= scan_time)
    ):
        return CategoryState.CANCELLED
    if scan_status == ScanStatus.SCAN_ERR.value:
        return (
            CategoryState.ERROR if (job_state is None or job_wants) else CategoryState.NOT_SCANNED
        )
    if scanned:
        return CategoryState.ERROR if error else CategoryState.DONE
    return CategoryState.NOT_SCANNED


def scan_state(
    *,
    scan_status: str,
    scan_time: datetime | None,
    job_state: str | None,
    job_finished_at: datetime | None,
) -> CategoryState:
    """The scan as a whole (Detail's ``Status``), on the same 0-4 scale."""
    if scan_status == ScanStatus.SCANNING.value:
        return CategoryState.SCANNING
    if job_state == "cancelled" and (
        scan_time is None or job_finished_at is None or job_finished_at >= scan_time
    ):
        return CategoryState.CANCELLED
    if scan_status == ScanStatus.SCAN_ERR.value:
        return CategoryState.ERROR
    if scan_status == ScanStatus.SCANNED.value:
        return CategoryState.DONE
    return CategoryState.NOT_SCANNED


def progress_of(state: CategoryState) -> int:
    """Per-category progress in percent: a finished category (done or failed) is 100.

    A scan reports no per-image progress while it runs, so a running category is 0.
    """
    return 100 if state in (CategoryState.DONE, CategoryState.ERROR) else 0
