"""Core inventory tables: accounts, keys, hosts, images, names, containers and scan results.

Times are stored as naive UTC datetimes (both dialects agree on that), booleans as
booleans, lists as JSON.  Per-image aggregates that DescribeAssetImageList sorts and
filters on (HostCnt, SuperNodeCnt, ContainerCnt, scan counts) are columns of ``images``,
maintained by the writers in this package, so listing never aggregates at read time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from imagewarden.inventory.repository import repository_of
from imagewarden.store.base import Base

__all__ = [
    "Account",
    "ApiKey",
    "Container",
    "Host",
    "HostImage",
    "Image",
    "ImageComponent",
    "ImageName",
    "ImageRisk",
    "ImageVirus",
    "ImageVulnerability",
]

BigIntPk = BigInteger().with_variant(Integer(), "sqlite")


def _repository_default(context: Any) -> str:
    """``image_names.repository`` from the row's name, whoever inserts it (Core or ORM)."""
    return repository_of(str(context.get_current_parameters()["name"]))


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class ApiKey(Base):
    __tablename__ = "api_keys"

    secret_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    #: the SecretKey encrypted with the server key (Fernet); a database dump alone is useless
    secret_key_enc: Mapped[bytes] = mapped_column(LargeBinary)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Host(Base):
    __tablename__ = "hosts"
    __table_args__ = (UniqueConstraint("account_id", "host_id", name="uq_hosts_account_host"),)

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    host_id: Mapped[str] = mapped_column(String(128))
    host_name: Mapped[str] = mapped_column(String(255), default="")
    ips: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_super_node: Mapped[bool] = mapped_column(Boolean, default=False)
    last_report_at: Mapped[datetime] = mapped_column(DateTime)


#: as migration 0012 writes them ({true}: the dialect's boolean literal)
_SUGGEST = (
    "CASE WHEN (scan_status = 'SCANNED' AND container_cnt > 0 AND virus_cnt > 0) THEN 1 "
    "WHEN (scan_status = 'SCANNED' AND container_cnt > 0 AND critical_cnt > 0) THEN 1 "
    "WHEN (scan_status = 'SCANNED' AND container_cnt > 0 AND high_cnt > 0 "
    "AND recommended_fix IS {true}) THEN 1 ELSE 0 END"
)
_RISK_PREDICATES = (
    ("virus", "virus_cnt > 0"),
    ("risk", "risk_cnt > 0"),
    ("trusted", "is_trusted IS {true}"),
    ("critical", "critical_cnt > 0"),
    ("high", "high_cnt > 0"),
    ("medium", "medium_cnt > 0"),
    ("low", "low_cnt > 0"),
    ("vul", "vul_cnt > 0"),
)


class Image(Base):
    __tablename__ = "images"
    __table_args__ = (
        UniqueConstraint("account_id", "image_id", name="uq_images_account_image"),
        Index("ix_images_account_create", "account_id", "create_time", "image_id"),
        # an ImageID prefix page in the default order (CreateTime) walks its key range
        # here and sorts by the create time it holds (0014)
        Index("ix_images_account_image_create", "account_id", "image_id", "create_time"),
        Index("ix_images_account_name", "account_id", "image_name", "image_id"),
        # one index per sortable column (0003): every By, both orders, walks an index
        *(
            Index(f"ix_images_account_{c}", "account_id", c, "image_id")
            for c in (
                "size",
                "host_cnt",
                "super_node_cnt",
                "container_cnt",
                "scan_time",
                "vul_cnt",
                "virus_cnt",
                "risk_cnt",
                "component_cnt",
                "critical_cnt",
                "high_cnt",
                "medium_cnt",
                "low_cnt",
                "is_authorized",
            )
        ),
        # 0012: IsSuggest is sorted by the expression computed when read (store.images)
        Index(
            "ix_images_account_suggest",
            "account_id",
            text(f"({_SUGGEST.format(true='1')})"),
            "image_id",
        ).ddl_if(dialect="sqlite"),
        Index(
            "ix_images_account_suggest",
            "account_id",
            text(f"({_SUGGEST.format(true='true')})"),
            "image_id",
            # index-only there needs the columns the expression reads
            postgresql_include=[
                "scan_status",
                "container_cnt",
                "virus_cnt",
                "critical_cnt",
                "high_cnt",
                "recommended_fix",
            ],
        ).ddl_if(dialect="postgresql"),
        # 0012: one partial index per SecurityRisk value, for its pages on the default sort
        *(
            Index(
                f"ix_images_account_create_{suffix}",
                "account_id",
                "create_time",
                "image_id",
                sqlite_where=text(cond.format(true="1")),
            ).ddl_if(dialect="sqlite")
            for suffix, cond in _RISK_PREDICATES
        ),
        *(
            Index(
                f"ix_images_account_create_{suffix}",
                "account_id",
                text("create_time DESC NULLS LAST"),
                text("image_id DESC"),
                postgresql_where=text(cond.format(true="true")),
            ).ddl_if(dialect="postgresql")
            for suffix, cond in _RISK_PREDICATES
        ),
        # 0012 (SQLite): an ImageName substring's matches (FTS5 table images_fts, created by
        # the migration only) are checked against the account without reading a row
        Index("ix_images_account_pk", "account_id", "id").ddl_if(dialect="sqlite"),
        # a ScanStatus filter on the default sort (CreateTime desc) pages on the index at any
        # Offset; PostgreSQL needs the DESC NULLS LAST spelling to walk it (see below)
        Index(
            "ix_images_account_status_create",
            "account_id",
            "scan_status",
            "create_time",
            "image_id",
        ).ddl_if(dialect="sqlite"),
        Index(
            "ix_images_account_status_create_desc",
            "account_id",
            "scan_status",
            text("create_time DESC NULLS LAST"),
            text("image_id DESC"),
        ).ddl_if(dialect="postgresql"),
        # PostgreSQL cannot serve DESC NULLS LAST from the ascending index (SQLite can)
        *(
            Index(
                f"ix_images_account_{c}_desc",
                "account_id",
                text(f"{c} DESC NULLS LAST"),
                text("image_id DESC"),
            ).ddl_if(dialect="postgresql")
            for c in ("create_time", "scan_time")
        ),
        Index(
            "ix_images_names_trgm",
            "names_search",
            postgresql_using="gin",
            postgresql_ops={"names_search": "gin_trgm_ops"},
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    image_id: Mapped[str] = mapped_column(String(80))
    #: the primary repo:tag (the name most hosts report; ties broken alphabetically)
    image_name: Mapped[str] = mapped_column(String(512), default="")
    #: every current name, lowercased and newline-joined, for substring search
    names_search: Mapped[str] = mapped_column(Text, default="")
    repo_digests: Mapped[list[str]] = mapped_column(JSON, default=list)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    create_time: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    os_name: Mapped[str] = mapped_column(String(128), default="")
    architecture: Mapped[str] = mapped_column(String(64), default="")
    first_seen: Mapped[datetime] = mapped_column(DateTime)
    #: where the image's bytes can be read for scanning ("registry:...", "oci:/path", ...)
    source_ref: Mapped[str] = mapped_column(Text, default="", server_default="")

    host_cnt: Mapped[int] = mapped_column(Integer, default=0)
    super_node_cnt: Mapped[int] = mapped_column(Integer, default=0)
    container_cnt: Mapped[int] = mapped_column(Integer, default=0)

    is_trusted: Mapped[bool] = mapped_column(Boolean, default=False)
    is_authorized: Mapped[int] = mapped_column(Integer, default=0)  # undecided: store/licences.py

    scan_status: Mapped[str] = mapped_column(String(16), default="NOT_SCAN")
    scan_time: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    agent_error: Mapped[str] = mapped_column(Text, default="")
    scan_error: Mapped[str] = mapped_column(Text, default="")
    scan_vul_error: Mapped[str] = mapped_column(Text, default="")
    scan_virus_error: Mapped[str] = mapped_column(Text, default="")
    scan_risk_error: Mapped[str] = mapped_column(Text, default="")
    vul_cnt: Mapped[int] = mapped_column(Integer, default=0)
    virus_cnt: Mapped[int] = mapped_column(Integer, default=0)
    risk_cnt: Mapped[int] = mapped_column(Integer, default=0)
    component_cnt: Mapped[int] = mapped_column(Integer, default=0)
    critical_cnt: Mapped[int] = mapped_column(Integer, default=0)
    high_cnt: Mapped[int] = mapped_column(Integer, default=0)
    medium_cnt: Mapped[int] = mapped_column(Integer, default=0)
    low_cnt: Mapped[int] = mapped_column(Integer, default=0)
    is_suggest: Mapped[int] = mapped_column(Integer, default=0)
    is_latest_image: Mapped[bool] = mapped_column(Boolean, default=False)
    recommended_fix: Mapped[bool] = mapped_column(Boolean, default=False)
    solution: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    # 0007: config facts for DescribeAssetImageDetail (history redacted before it gets here)
    author: Mapped[str] = mapped_column(Text, default="", server_default="")
    build_history: Mapped[list[dict[str, Any]]] = mapped_column(
        JSON, default=list, server_default=text("'[]'")
    )
    #: the categories the latest recorded scan covered: one not asked for is "not scanned",
    #: never "clean"
    vul_scanned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    virus_scanned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    risk_scanned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ImageName(Base):
    """Every repo:tag an image currently carries on some host (for ExactMatch on ImageName)."""

    __tablename__ = "image_names"
    __table_args__ = (
        Index("ix_image_names_account_name", "account_id", "name"),
        # 0011: the images of one repository, for IsLatestImage (store.latest)
        Index("ix_image_names_account_repository", "account_id", "repository"),
    )

    image_pk: Mapped[int] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(512), primary_key=True)
    account_id: Mapped[int] = mapped_column(BigInteger)
    #: ``inventory.repository.repository_of(name)``, filled in by every insert (0011)
    repository: Mapped[str] = mapped_column(
        String(512), default=_repository_default, server_default=""
    )


class HostImage(Base):
    __tablename__ = "host_images"
    __table_args__ = (Index("ix_host_images_image", "image_pk"),)

    host_pk: Mapped[int] = mapped_column(
        ForeignKey("hosts.id", ondelete="CASCADE"), primary_key=True
    )
    image_pk: Mapped[int] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    #: the tags this host has for the image
    repo_tags: Mapped[list[str]] = mapped_column(JSON, default=list)


class Container(Base):
    __tablename__ = "containers"
    __table_args__ = (
        UniqueConstraint("host_pk", "container_id", name="uq_containers_host_container"),
        Index("ix_containers_image", "image_pk"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(BigInteger)
    host_pk: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"))
    image_pk: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    container_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(255), default="")
    state: Mapped[str] = mapped_column(String(32), default="")


class ImageComponent(Base):
    """The component list of an image's latest scan."""

    __tablename__ = "image_components"
    __table_args__ = (Index("ix_image_components_image", "image_pk"),)

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    image_pk: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(512))
    version: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(32))
    path: Mapped[str] = mapped_column(Text, default="")
    purl: Mapped[str] = mapped_column(Text, default="")
    source_name: Mapped[str | None] = mapped_column(String(512), nullable=True)
    source_version: Mapped[str | None] = mapped_column(String(255), nullable=True)
    layer: Mapped[str | None] = mapped_column(String(80), nullable=True)
    #: the OS package that installed this language component ("deb:python3-requests"):
    #: matched only through that package (0010_component_owner)
    owner: Mapped[str | None] = mapped_column(String(512), nullable=True)


class ImageVulnerability(Base):
    """The vulnerability findings of an image's latest scan."""

    __tablename__ = "image_vulnerabilities"
    __table_args__ = (Index("ix_image_vulnerabilities_image", "image_pk"),)

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    image_pk: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    advisory_id: Mapped[str] = mapped_column(String(128))
    cve_id: Mapped[str] = mapped_column(String(128))
    component: Mapped[str] = mapped_column(String(512))
    version: Mapped[str] = mapped_column(String(255))
    component_type: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    cvss_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    cvss_vector: Mapped[str | None] = mapped_column(String(255), nullable=True)
    fixed_versions: Mapped[list[str]] = mapped_column(JSON, default=list)
    summary: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ImageVirus(Base):
    """The malware findings of an image's latest scan (DescribeAssetImageVirusList)."""

    __tablename__ = "image_viruses"
    __table_args__ = (Index("ix_image_viruses_image", "image_pk"),)

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    image_pk: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(Text)
    file_name: Mapped[str] = mapped_column(String(512))
    virus_name: Mapped[str] = mapped_column(String(255))
    risk_level: Mapped[int] = mapped_column(Integer)
    md5: Mapped[str] = mapped_column(String(64), default="")
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    description: Mapped[str] = mapped_column(Text, default="")
    solution: Mapped[str] = mapped_column(Text, default="")
    engine: Mapped[str] = mapped_column(String(32), default="")
    layer: Mapped[str] = mapped_column(String(80), default="")
    #: when this finding (same path, name and md5) was first seen; kept across re-scans
    first_scan_time: Mapped[datetime] = mapped_column(DateTime)
    latest_scan_time: Mapped[datetime] = mapped_column(DateTime)


class ImageRisk(Base):
    """The risk findings of an image's latest scan (DescribeAssetImageRiskList).

    ``kind`` is "sensitive" (a secret in a file, the config or the history) or "build" (a
    risky build step).  No column ever holds a secret: ``excerpt`` and ``instruction`` come
    redacted from the detector.
    """

    __tablename__ = "image_risks"
    __table_args__ = (Index("ix_image_risks_image", "image_pk"),)

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    image_pk: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    rule_id: Mapped[str] = mapped_column(String(128))
    behavior: Mapped[int] = mapped_column(Integer)
    type: Mapped[int] = mapped_column(Integer)
    level: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text, default="")
    instruction: Mapped[str] = mapped_column(Text, default="")
    path: Mapped[str] = mapped_column(Text, default="")
    line: Mapped[int] = mapped_column(Integer, default=0)
    excerpt: Mapped[str] = mapped_column(Text, default="")
    layer: Mapped[str] = mapped_column(String(80), default="")
