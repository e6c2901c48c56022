"""Frozen advisory values and the seams between the importer, the store and the matcher.

``AdvisoryIndex`` is what the detector reads (candidates by ecosystem and normalised
name); ``AdvisoryWriter`` is what the importer writes to.  ``imagewarden.store.advisories``
implements both on SQL; :class:`InMemoryAdvisoryIndex` is the fake for tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

__all__ = [
    "Advisory",
    "AdvisoryIndex",
    "AdvisoryWriter",
    "AffectedPackage",
    "DbStatus",
    "EcosystemCount",
    "ImportReport",
    "ImportedAdvisory",
    "InMemoryAdvisoryIndex",
    "RangeEvent",
    "VersionRange",
    "WriteCounts",
]


@dataclass(frozen=True, order=True)
class RangeEvent:
    kind: str  # "introduced" | "fixed" | "last_affected" | "limit"
    value: str


@dataclass(frozen=True, order=True)
class VersionRange:
    type: str  # "ECOSYSTEM" | "SEMVER" | "GIT"
    events: tuple[RangeEvent, ...]

    def describe(self) -> str:
        return f"{self.type}: " + ", ".join(f"{e.kind}={e.value}" for e in self.events)

    @property
    def fixed(self) -> tuple[str, ...]:
        return tuple(e.value for e in self.events if e.kind == "fixed")


@dataclass(frozen=True, order=True)
class AffectedPackage:
    """One ``affected[]`` entry of an advisory, with its severity already resolved."""

    ecosystem: str  # full OSV string, e.g. "Debian:12"
    name: str  # normalised (ecosystems.normalise_name)
    raw_name: str
    ranges: tuple[VersionRange, ...] = ()
    versions: tuple[str, ...] = ()
    severity: str = "UNKNOWN"  # a severity.Bucket value
    cvss_score: float | None = None
    cvss_vector: str | None = None
    supported: bool = True


@dataclass(frozen=True)
class Advisory:
    id: str
    modified: datetime
    published: datetime | None = None
    withdrawn: datetime | None = None
    aliases: tuple[str, ...] = ()  # OSV aliases, then upstream ids, de-duplicated
    summary: str = ""
    details: str = ""
    severity: str = "UNKNOWN"
    cvss_score: float | None = None
    cvss_vector: str | None = None
    references: tuple[str, ...] = ()
    affected: tuple[AffectedPackage, ...] = ()


@dataclass(frozen=True)
class ImportedAdvisory:
    """An advisory as read by the importer, with where it came from."""

    advisory: Advisory
    source: str  # file path, or "archive.zip!member.json"
    content_hash: str  # sha256 of the canonical encoding of the record


@dataclass(frozen=True)
class WriteCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    older: int = 0  # the stored record is newer than the one offered: kept

    def __add__(self, other: WriteCounts) -> WriteCounts:
        return WriteCounts(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
            self.older + other.older,
        )


@dataclass(frozen=True)
class ImportReport:
    sources: tuple[str, ...]
    started_at: datetime
    finished_at: datetime
    records: int  # records read and valid
    counts: WriteCounts
    withdrawn: int  # valid records that carry ``withdrawn``
    invalid: int  # records refused (bad JSON / not OSV)
    errors: tuple[str, ...] = field(default=())  # the first errors, for the operator

    @property
    def seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True, order=True)
class EcosystemCount:
    ecosystem: str
    advisories: int
    supported: bool


@dataclass(frozen=True)
class DbStatus:
    advisories: int
    withdrawn: int
    ecosystems: tuple[EcosystemCount, ...]
    last_import: ImportReport | None


class AdvisoryIndex(Protocol):
    def candidates(self, ecosystem: str, name: str) -> Iterable[Advisory]:
        """Non-withdrawn advisories with an affected entry for (ecosystem, normalised name).

        Each returned advisory's ``affected`` holds only the entries for that package.
        """
        ...


class AdvisoryWriter(Protocol):
    def write_batch(self, batch: Sequence[ImportedAdvisory]) -> WriteCounts: ...

    def record_import(self, report: ImportReport) -> None: ...


class InMemoryAdvisoryIndex:
    """A dict-backed index (tests, tools); same semantics as the SQL one."""

    def __init__(self, advisories: Iterable[Advisory] = ()) -> None:
        self._by_id: dict[str, Advisory] = {}
        for a in advisories:
            self.add(a)

    def add(self, advisory: Advisory) -> None:
        old = self._by_id.get(advisory.id)
        if old is None or advisory.modified >= old.modified:
            self._by_id[advisory.id] = advisory

    def candidates(self, ecosystem: str, name: str) -> Iterable[Advisory]:
        out = []
        for adv in sorted(self._by_id.values(), key=lambda a: a.id):
            if adv.withdrawn is not None:
                continue
            hits = tuple(
                p
                for p in adv.affected
                if p.ecosystem == ecosystem and p.name == name and p.supported
            )
            if hits:
                out.append(_with_affected(adv, hits))
        return out


def _with_affected(adv: Advisory, affected: tuple[AffectedPackage, ...]) -> Advisory:
    return Advisory(
        id=adv.id,
        modified=adv.modified,
        published=adv.published,
        withdrawn=adv.withdrawn,
        aliases=adv.aliases,
        summary=adv.summary,
        details=adv.details,
        severity=adv.severity,
        cvss_score=adv.cvss_score,
        cvss_vector=adv.cvss_vector,
        references=adv.references,
        affected=affected,
    )
