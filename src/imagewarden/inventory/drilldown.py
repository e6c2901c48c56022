"""Filtering, sorting and paging of per-image lists (vulnerabilities, components).

An image's lists are bounded (its packages and their findings), so they are filtered and
sorted here, identically for both stores.  Conventions (documented in the README):
- vulnerability ``Level``: 1 low, 2 medium, 3 high, 4 critical (0 when the advisory has no
  rating); filters accept the number or the word (``HIGH``), any case;
- ``Order`` accepts ``asc|desc`` and TCSS's ``+|-``; ties are broken by a stable key.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from imagewarden.inventory.errors import InvalidFilterError

__all__ = ["LEVELS", "level_of", "page_components", "page_vulnerabilities"]

LEVELS = {"LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4, "UNKNOWN": 0}
Filters = Sequence[tuple[str, Sequence[str], bool]]


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
    rows = [{**r, "vul_count": vuln_counts.get((r["name"], r["version"]), 0)} for r in rows]
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
            rows = [r for r in rows if levels.get((r["name"], r["version"]), set()) & wanted]
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
