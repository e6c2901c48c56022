"""Frozen domain values of the inventory (no HTTP, no SQL)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum, IntEnum, StrEnum

from imagewarden.inventory.errors import InvalidInputError

__all__ = [
    "CategoryState",
    "ComponentRecord",
    "ContainerReport",
    "FilterClause",
    "FilterKind",
    "HistoryStep",
    "HostReport",
    "HostSnapshot",
    "ImageDetail",
    "ImageQuery",
    "ImageReport",
    "ImageRow",
    "ReportOutcome",
    "RiskRecord",
    "ScanOutcome",
    "ScanStatus",
    "SecurityRisk",
    "SimpleImage",
    "SortField",
    "VirusRecord",
    "VulnerabilityRecord",
    "normalise_image_id",
    "parse_time",
]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class ScanStatus(StrEnum):
    NOT_SCAN = "NOT_SCAN"
    SCANNING = "SCANNING"
    SCANNED = "SCANNED"
    SCAN_ERR = "SCAN_ERR"


class SecurityRisk(StrEnum):
    VIRUS = "VirusCnt"
    RISK = "RiskCnt"
    TRUSTED = "IsTrustImage"
    CRITICAL = "CriticalLevelVul"
    HIGH = "HighLevelVul"
    MEDIUM = "MediumLevelVul"
    LOW = "LowLevelVul"


class FilterKind(Enum):
    IMAGE_NAME = "ImageName"
    IMAGE_ID = "ImageID"
    SCAN_STATUS = "ScanStatus"
    SECURITY_RISK = "SecurityRisk"


class SortField(StrEnum):
    """Sortable ImagesInfo fields (wire name → column in the store)."""

    CREATE_TIME = "CreateTime"
    IMAGE_NAME = "ImageName"
    SIZE = "Size"
    HOST_CNT = "HostCnt"
    SUPER_NODE_CNT = "SuperNodeCnt"
    CONTAINER_CNT = "ContainerCnt"
    SCAN_TIME = "ScanTime"
    VUL_CNT = "VulCnt"
    VIRUS_CNT = "VirusCnt"
    RISK_CNT = "RiskCnt"
    COMPONENT_CNT = "ComponentCnt"
    CRITICAL = "CriticalLevelVulCnt"
    HIGH = "HighLevelVulCnt"
    MEDIUM = "MediumLevelVulCnt"
    LOW = "LowLevelVulCnt"
    IS_SUGGEST = "IsSuggest"
    IS_AUTHORIZED = "IsAuthorized"


@dataclass(frozen=True)
class FilterClause:
    """One API filter entry: OR across ``values``; clauses are ANDed together."""

    kind: FilterKind
    values: tuple[str, ...]
    exact: bool = False


@dataclass(frozen=True)
class ImageQuery:
    clauses: tuple[FilterClause, ...] = ()
    sort: SortField = SortField.CREATE_TIME
    descending: bool = True
    limit: int = 10
    offset: int = 0


@dataclass(frozen=True)
class ImageRow:
    image_id: str
    image_name: str
    create_time: datetime | None
    size: int
    host_cnt: int
    super_node_cnt: int
    container_cnt: int
    scan_time: datetime | None
    vul_cnt: int
    virus_cnt: int
    risk_cnt: int
    is_trust_image: bool
    os_name: str
    agent_error: str
    scan_error: str
    scan_status: str
    scan_virus_error: str
    scan_vul_error: str
    scan_risk_error: str
    is_suggest: int
    is_authorized: int
    component_cnt: int
    critical_level_vul_cnt: int
    high_level_vul_cnt: int
    medium_level_vul_cnt: int
    low_level_vul_cnt: int
    is_latest_image: bool
    recommended_fix: bool
    solution: str
    reason: str


def parse_time(value: str | None, parameter: str) -> datetime | None:
    """RFC 3339 / ISO 8601 (``Z`` or an offset; naive = UTC; nanoseconds allowed) → naive UTC."""
    if value is None or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    if "." in text:  # Docker and OCI configs carry nanoseconds; Python takes microseconds
        head, _, rest = text.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        text = f"{head}.{digits[:6]}{rest[len(digits) :]}"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(parameter, f"`{value}` is not an RFC 3339 time") from None
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt.replace(microsecond=0)


def normalise_image_id(value: str, parameter: str = "ImageID") -> str:
    """``sha256:<64 hex>`` or bare hex → ``sha256:<64 lowercase hex>``."""
    v = value.strip().lower()
    if v.startswith("sha256:"):
        v = v[7:]
    if not _HEX64.match(v):
        raise InvalidInputError(parameter, f"`{value}` is not an image ID (sha256:<64 hex digits>)")
    return "sha256:" + v


@dataclass(frozen=True)
class HostReport:
    host_id: str
    host_name: str = ""
    ips: tuple[str, ...] = ()
    is_super_node: bool = False


@dataclass(frozen=True)
class ImageReport:
    image_id: str  # normalised
    repo_tags: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()
    size: int = 0
    create_time: datetime | None = None
    os_name: str | None = None
    architecture: str | None = None


@dataclass(frozen=True)
class ContainerReport:
    container_id: str
    image_id: str  # normalised
    name: str = ""
    state: str = ""


@dataclass(frozen=True)
class HostSnapshot:
    host: HostReport
    images: tuple[ImageReport, ...] = ()
    containers: tuple[ContainerReport, ...] = ()


@dataclass(frozen=True)
class ReportOutcome:
    host_id: str
    image_count: int
    container_count: int
    removed_images: int
    removed_containers: int


@dataclass(frozen=True)
class ComponentRecord:
    name: str
    version: str
    type: str
    path: str = ""
    purl: str = ""
    source_name: str | None = None
    source_version: str | None = None
    layer: str | None = None
    #: the OS package that installed this language component (``Component.owner``)
    owner: str | None = None


@dataclass(frozen=True)
class VulnerabilityRecord:
    advisory_id: str
    cve_id: str
    component: str
    version: str
    component_type: str
    severity: str  # CRITICAL | HIGH | MEDIUM | LOW | UNKNOWN
    cvss_score: float | None = None
    cvss_vector: str | None = None
    fixed_versions: tuple[str, ...] = ()
    summary: str = ""
    detail: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class VirusRecord:
    """One malware finding of an image (DescribeAssetImageVirusList's ImageVirusInfo)."""

    path: str
    file_name: str
    virus_name: str
    risk_level: int  # 1 low .. 4 critical (drilldown.Level)
    md5: str = ""
    size: int = 0
    tags: tuple[str, ...] = ()
    desc: str = ""
    solution: str = ""
    engine: str = ""  # yara | hash | clamav
    layer: str = ""


@dataclass(frozen=True)
class RiskRecord:
    """One risk finding of an image: sensitive information in a file, the config or the
    history (``kind`` "sensitive"), or a risky build step (``kind`` "build").

    Never holds the secret itself: ``excerpt`` and ``instruction`` are redacted.
    """

    kind: str  # "sensitive" | "build"
    rule_id: str
    behavior: int
    type: int
    level: int  # 1 low .. 4 critical
    desc: str
    instruction: str = ""
    path: str = ""
    line: int = 0
    excerpt: str = ""
    layer: str = ""


@dataclass(frozen=True)
class HistoryStep:
    """One entry of the image config's history, for DescribeAssetImageDetail's BuildHistory.

    ``created_by`` is redacted before it gets here (``jobs.scanning.redact_instruction``).
    """

    created: str
    created_by: str
    empty_layer: bool = False
    comment: str = ""


@dataclass(frozen=True)
class ScanOutcome:
    """The result of scanning one image, as the inventory stores it.

    ``status`` is SCANNED or SCAN_ERR.  A failed scan (SCAN_ERR) keeps no counts and no
    findings: an unfinished or failed scan never reads as clean.  A category error
    (``vul_error`` etc.) on an otherwise finished scan keeps the other categories' results.
    ``*_scanned`` say which categories this scan covered (asked for and a detector ran): a
    category it did not cover reads "not scanned" (status 0), never "clean".
    ``virus_cnt`` / ``risk_cnt`` are the number of records (ImagesInfo.RiskCnt counts the
    sensitive-information and the risky-build-step findings together).
    """

    image_id: str
    status: ScanStatus
    scan_time: datetime
    os_name: str = ""
    error: str = ""
    vul_error: str = ""
    virus_error: str = ""
    risk_error: str = ""
    components: tuple[ComponentRecord, ...] = ()
    vulnerabilities: tuple[VulnerabilityRecord, ...] = ()
    viruses: tuple[VirusRecord, ...] = ()
    risks: tuple[RiskRecord, ...] = ()
    vul_scanned: bool = True
    virus_scanned: bool = True
    risk_scanned: bool = True
    author: str = ""
    build_history: tuple[HistoryStep, ...] = ()

    @property
    def virus_cnt(self) -> int:
        return len(self.viruses)

    @property
    def risk_cnt(self) -> int:
        return len(self.risks)


class CategoryState(IntEnum):
    """A scan category's state as VirusScanStatus (and Detail's ``Status``) report it."""

    NOT_SCANNED = 0
    SCANNING = 1
    DONE = 2
    ERROR = 3
    CANCELLED = 4


@dataclass(frozen=True)
class ImageDetail:
    """What DescribeAssetImageDetail shows of one image."""

    image_id: str
    image_name: str
    repo_digests: tuple[str, ...]
    create_time: datetime | None
    size: int
    host_cnt: int
    container_cnt: int
    super_node_cnt: int
    scan_time: datetime | None
    vul_cnt: int
    virus_cnt: int
    build_risk_cnt: int  # Detail.RiskCnt: risky build steps
    sensitive_cnt: int  # Detail.SensitiveInfoCnt: secrets in files, config, history
    is_trust_image: bool
    os_name: str
    architecture: str
    author: str
    build_history: tuple[HistoryStep, ...]
    agent_error: str
    scan_error: str
    scan_vul_error: str
    scan_virus_error: str
    scan_risk_error: str
    scan_status: str
    status: CategoryState  # of the scan as a whole
    vul_state: CategoryState
    virus_state: CategoryState
    risk_state: CategoryState
    remain_seconds: int
    is_authorized: int
    solution: str
    reason: str


@dataclass(frozen=True)
class SimpleImage:
    """A row of DescribeAssetImageSimpleList."""

    image_id: str
    image_name: str
    container_cnt: int
    scan_time: datetime | None
    size: int
