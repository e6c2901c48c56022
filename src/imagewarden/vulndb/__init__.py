"""imagewarden.vulndb: OSV advisories, version ordering per ecosystem, severity, matching.

Knows nothing about images or HTTP; SQL lives in ``imagewarden.store.advisories``.
:func:`detector_for` and :func:`open_store` are the wiring helpers used by the CLI and jobs;
they import the store and the detector lazily so importing this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagewarden.vulndb.ecosystems import (
    SUPPORTED,
    Ecosystem,
    compare,
    is_supported,
    normalise_name,
    os_ecosystem,
    parse_ecosystem,
    parse_version,
)
from imagewarden.vulndb.errors import (
    ImportSourceError,
    OsvFormatError,
    UnsafeArchiveError,
    VersionError,
    VulnDbError,
)
from imagewarden.vulndb.index import (
    Advisory,
    AdvisoryIndex,
    AdvisoryWriter,
    AffectedPackage,
    DbStatus,
    EcosystemCount,
    ImportedAdvisory,
    ImportReport,
    InMemoryAdvisoryIndex,
    RangeEvent,
    VersionRange,
    WriteCounts,
)
from imagewarden.vulndb.match import MatchResult, MatchStatus, affected, in_range
from imagewarden.vulndb.osv_import import ZipLimits, import_paths, parse_osv
from imagewarden.vulndb.severity import Bucket, SeverityInfo, bucket_for_score, score_severity

if TYPE_CHECKING:
    from imagewarden.scan.detect.base import Detector
    from imagewarden.store.advisories import SqlAdvisoryIndex, SqlAdvisoryWriter

__all__ = [
    "SUPPORTED",
    "Advisory",
    "AdvisoryIndex",
    "AdvisoryWriter",
    "AffectedPackage",
    "Bucket",
    "DbStatus",
    "Ecosystem",
    "EcosystemCount",
    "ImportReport",
    "ImportSourceError",
    "ImportedAdvisory",
    "InMemoryAdvisoryIndex",
    "MatchResult",
    "MatchStatus",
    "OsvFormatError",
    "RangeEvent",
    "SeverityInfo",
    "UnsafeArchiveError",
    "VersionError",
    "VersionRange",
    "VulnDbError",
    "WriteCounts",
    "ZipLimits",
    "affected",
    "bucket_for_score",
    "compare",
    "detector_for",
    "import_paths",
    "in_range",
    "is_supported",
    "normalise_name",
    "open_store",
    "os_ecosystem",
    "parse_ecosystem",
    "parse_osv",
    "parse_version",
    "score_severity",
]


def open_store(db_url: str) -> tuple[SqlAdvisoryIndex, SqlAdvisoryWriter]:
    """Index and writer over the database at ``db_url`` (its schema must be migrated)."""
    from imagewarden.store.advisories import SqlAdvisoryIndex, SqlAdvisoryWriter
    from imagewarden.store.engine import make_engine

    engine = make_engine(db_url)
    return SqlAdvisoryIndex(engine), SqlAdvisoryWriter(engine)


def detector_for(db_url: str) -> Detector:
    """The vulnerability ``Detector`` reading advisories from the database at ``db_url``."""
    from imagewarden.scan.detect.vulns import VulnerabilityDetector

    index, _ = open_store(db_url)
    return VulnerabilityDetector(index)
