"""Is a version affected by an OSV ``affected[]`` entry?

Semantics (OSV schema, "Evaluation"):

* ``ranges`` of type ECOSYSTEM use the ecosystem's version scheme, SEMVER ranges use semver;
  GIT ranges name commits, not versions, and are skipped.
* Within one range the events are sorted by version (``introduced: "0"`` sorts first) and
  walked in order: ``introduced`` opens an affected interval, ``fixed`` closes it at that
  version (exclusive), ``last_affected`` closes it after that version (inclusive).  A
  ``limit`` event caps the whole range: versions at or above it are never affected.
* ``versions`` lists explicit affected versions (compared as strings and as parsed versions).
* The entry affects the version if any range or the list says so.

Nothing here raises for bad data: an unparseable component version, or an unparseable event
in a range, yields ``MatchStatus.UNKNOWN`` with a reason (unless another range matched).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cmp_to_key

from univers.versions import Version

from imagewarden.vulndb.ecosystems import compare, parse_version
from imagewarden.vulndb.errors import VersionError
from imagewarden.vulndb.index import AffectedPackage, RangeEvent, VersionRange

__all__ = ["MatchResult", "MatchStatus", "affected", "in_range"]

_KIND_ORDER = {"introduced": 0, "fixed": 1, "last_affected": 2, "limit": 3}


class MatchStatus(StrEnum):
    AFFECTED = "affected"
    NOT_AFFECTED = "not-affected"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class MatchResult:
    status: MatchStatus
    #: what matched: a range description or "versions: [...]"; empty unless AFFECTED
    found: str = ""
    #: the ``fixed`` events of the matched range(s)
    fixed: tuple[str, ...] = ()
    #: why the result is UNKNOWN
    reason: str = ""


_NOT = MatchResult(MatchStatus.NOT_AFFECTED)


def _parsed_events(
    ecosystem: str, rng: VersionRange
) -> list[tuple[RangeEvent, Version | None]] | VersionError:
    out: list[tuple[RangeEvent, Version | None]] = []
    for ev in rng.events:
        if ev.kind == "introduced" and ev.value.strip() == "0":
            out.append((ev, None))  # None = before every version
            continue
        try:
            out.append((ev, parse_version(ecosystem, ev.value, rng.type)))
        except VersionError as exc:
            return exc
    return out


def _event_cmp(a: tuple[RangeEvent, Version | None], b: tuple[RangeEvent, Version | None]) -> int:
    va, vb = a[1], b[1]
    if va is None or vb is None:
        c = (va is not None) - (vb is not None)
    else:
        c = compare(va, vb)
    if c:
        return c
    return _KIND_ORDER.get(a[0].kind, 9) - _KIND_ORDER.get(b[0].kind, 9)


def in_range(ecosystem: str, version: Version, rng: VersionRange) -> bool | VersionError:
    """True if ``version`` (parsed in the range's scheme) lies in ``rng``."""
    events = _parsed_events(ecosystem, rng)
    if isinstance(events, VersionError):
        return events
    limits = [v for ev, v in events if ev.kind == "limit" and v is not None]
    if any(compare(version, lim) >= 0 for lim in limits):
        return False
    vulnerable = False
    for ev, v in sorted(events, key=cmp_to_key(_event_cmp)):
        if ev.kind == "introduced":
            if v is None or compare(version, v) >= 0:
                vulnerable = True
        elif ev.kind == "fixed":
            if v is not None and compare(version, v) >= 0:
                vulnerable = False
        elif ev.kind == "last_affected" and v is not None and compare(version, v) > 0:
            vulnerable = False
    return vulnerable


def affected(ecosystem: str, version: str, entry: AffectedPackage) -> MatchResult:
    """Evaluate ``version`` of a package of ``ecosystem`` against one affected entry."""
    reasons: list[str] = []
    found: list[str] = []
    fixed: list[str] = []
    parsed: dict[str, Version | VersionError] = {}

    def parse(range_type: str) -> Version | VersionError:
        if range_type not in parsed:
            try:
                parsed[range_type] = parse_version(ecosystem, version, range_type)
            except VersionError as exc:
                parsed[range_type] = exc
        return parsed[range_type]

    for rng in entry.ranges:
        if rng.type not in ("ECOSYSTEM", "SEMVER"):
            continue
        v = parse(rng.type)
        if isinstance(v, VersionError):
            reasons.append(str(v))
            continue
        hit = in_range(ecosystem, v, rng)
        if isinstance(hit, VersionError):
            reasons.append(f"range {rng.describe()}: {hit}")
        elif hit:
            found.append(rng.describe())
            fixed.extend(rng.fixed)

    if entry.versions:
        listed = version.strip() in entry.versions
        if not listed:
            v = parse("ECOSYSTEM")
            if isinstance(v, VersionError):
                reasons.append(str(v))
            else:
                for text in entry.versions:
                    try:
                        other = parse_version(ecosystem, text)
                    except VersionError:
                        continue
                    if compare(v, other) == 0:
                        listed = True
                        break
        if listed:
            found.append(f"versions: {version.strip()} listed")

    if found:
        return MatchResult(
            MatchStatus.AFFECTED,
            found="; ".join(found),
            fixed=tuple(dict.fromkeys(fixed)),
        )
    if reasons:
        return MatchResult(MatchStatus.UNKNOWN, reason="; ".join(dict.fromkeys(reasons)))
    return _NOT
