"""Image queries for DescribeAssetImageList, built from a typed ImageQuery for both dialects.

How a page stays cheap on a million images (numbers in ``benchmarks/README.md``):

- every sortable column has an ``(account_id, column, image_id)`` index (migration 0003),
  and the ORDER BY is spelled so the index serves it in both directions: ``NULLS LAST``
  only on the two nullable columns (``create_time``, ``scan_time``); IsSuggest, computed
  when read, has an index on the same expression (0012), so it is spelled with inline
  constants, as are the SecurityRisk conditions that partial indexes (0012) serve;
- a deep page first walks the sort index for the ``image_id`` of the page only (covering:
  no row is read for the skipped ``Offset`` rows), then reads those rows;
- ``TotalCount`` of ScanStatus / SecurityRisk filters (and of no filter) is summed from
  ``image_counts``, per-account counts per combination of status and risk flags kept
  exact by triggers in the writing transaction; ImageName / ImageID filters count the
  matching rows through their indexes (ImageID prefixes as an index range, substrings of
  three or more characters through a pg_trgm index on PostgreSQL, where the ``LIKE``
  decides, and on SQLite through the case-sensitive FTS5 trigram table ``images_fts``,
  which is exact on its own; shorter substrings are a ``LIKE`` over the account);
- the statements of ``list_images`` / ``count_images`` are built once per query shape
  (filter kinds, value counts, SecurityRisk values, sort, order, deferred or not) with the
  values as bound parameters, on Core columns, and run on the session's connection: no
  ``select()`` construction or ORM compilation per request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    ForeignKeyConstraint,
    Integer,
    PrimaryKeyConstraint,
    Select,
    String,
    Table,
    Text,
    and_,
    bindparam,
    case,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy import MetaData as _MetaData
from sqlalchemy.orm import Session
from sqlalchemy.sql.base import Executable

from imagewarden.inventory.models import (
    FilterClause,
    FilterKind,
    ImageQuery,
    ImageRow,
    SortField,
)
from imagewarden.store.base import Base
from imagewarden.store.tables import Image, ImageName

__all__ = [
    "IMAGE_COUNTS",
    "Check",
    "count_images",
    "list_images",
    "list_page",
    "list_page_checked",
    "set_trust",
]

#: per-account image counts per (scan status, trust, "count > 0" flags); maintained by the
#: triggers of migration 0003 on every insert, delete and relevant update of ``images``
IMAGE_COUNTS = Table(
    "image_counts",
    Base.metadata,
    Column("account_id", BigInteger().with_variant(Integer(), "sqlite"), nullable=False),
    Column("scan_status", String(16), nullable=False),
    Column("is_trusted", Boolean, nullable=False),
    Column("has_virus", Boolean, nullable=False),
    Column("has_risk", Boolean, nullable=False),
    Column("has_critical", Boolean, nullable=False),
    Column("has_high", Boolean, nullable=False),
    Column("has_medium", Boolean, nullable=False),
    Column("has_low", Boolean, nullable=False),
    Column("has_vul", Boolean, nullable=False),
    Column("n", BigInteger, nullable=False),
    ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
    PrimaryKeyConstraint(
        "account_id",
        "scan_status",
        "is_trusted",
        "has_virus",
        "has_risk",
        "has_critical",
        "has_high",
        "has_medium",
        "has_low",
        "has_vul",
    ),
)
_C = IMAGE_COUNTS.c

_I = cast(Table, Image.__table__)
_N = cast(Table, ImageName.__table__)
#: the FTS5 trigram table of migration 0012 (SQLite only; external content: rowid = images.id)
_FTS = Table("images_fts", _MetaData(), Column("rowid", Integer), Column("names_search", Text))
#: a substring shorter than this has no trigram: it is matched by LIKE alone
_TRIGRAM = 3


def _k(sql: str) -> Any:
    """An inline SQL constant: the partial and expression indexes of 0012 match on it."""
    return literal_column(sql)


# --- key-focus images (IsSuggest), computed when read, so it follows every scan and every
# host report at once: a scanned image that runs in at least one container and has a
# critical vulnerability, malware, or a high vulnerability with a fix available.  Spelled
# exactly as the expression index ``ix_images_account_suggest`` of 0012.
_RUNNING = and_(_I.c.scan_status == _k("'SCANNED'"), _I.c.container_cnt > _k("0"))
_SUGGEST_REASONS = (
    (and_(_RUNNING, _I.c.virus_cnt > _k("0")), "running containers; malware found in the image"),
    (
        and_(_RUNNING, _I.c.critical_cnt > _k("0")),
        "running containers; critical vulnerabilities",
    ),
    (
        and_(_RUNNING, _I.c.high_cnt > _k("0"), _I.c.recommended_fix.is_(True)),
        "running containers; high-severity vulnerabilities with a fix available",
    ),
)
IS_SUGGEST = case(*((cond, _k("1")) for cond, _ in _SUGGEST_REASONS), else_=_k("0"))
_REASON = case(*((cond, literal(text)) for cond, text in _SUGGEST_REASONS), else_=_I.c.reason)
_SOLUTION = case(
    (
        IS_SUGGEST == 1,
        literal(
            "Rebuild the image on fixed packages (DescribeAssetImageVulList lists the fixed "
            "versions; DescribeAssetImageVirusList the infected files) and redeploy the "
            "containers that run it."
        ),
    ),
    else_=_I.c.solution,
)

_SORT_COLUMNS: dict[SortField, Any] = {
    SortField.CREATE_TIME: _I.c.create_time,
    SortField.IMAGE_NAME: _I.c.image_name,
    SortField.SIZE: _I.c.size,
    SortField.HOST_CNT: _I.c.host_cnt,
    SortField.SUPER_NODE_CNT: _I.c.super_node_cnt,
    SortField.CONTAINER_CNT: _I.c.container_cnt,
    SortField.SCAN_TIME: _I.c.scan_time,
    SortField.VUL_CNT: _I.c.vul_cnt,
    SortField.VIRUS_CNT: _I.c.virus_cnt,
    SortField.RISK_CNT: _I.c.risk_cnt,
    SortField.COMPONENT_CNT: _I.c.component_cnt,
    SortField.CRITICAL: _I.c.critical_cnt,
    SortField.HIGH: _I.c.high_cnt,
    SortField.MEDIUM: _I.c.medium_cnt,
    SortField.LOW: _I.c.low_cnt,
    SortField.IS_SUGGEST: IS_SUGGEST,
    SortField.IS_AUTHORIZED: _I.c.is_authorized,
}
#: the only sort columns that can be NULL ("empty values sort last"); on the others
#: NULLS LAST is a no-op that would stop PostgreSQL from walking the index backwards
_NULLABLE = {SortField.CREATE_TIME, SortField.SCAN_TIME}

#: constants inline: each is the predicate of a partial index of 0012
_RISK_CONDITIONS: dict[str, Any] = {
    "VirusCnt": _I.c.virus_cnt > _k("0"),
    "RiskCnt": _I.c.risk_cnt > _k("0"),
    "IsTrustImage": _I.c.is_trusted.is_(True),
    "CriticalLevelVul": _I.c.critical_cnt > _k("0"),
    "HighLevelVul": _I.c.high_cnt > _k("0"),
    "MediumLevelVul": _I.c.medium_cnt > _k("0"),
    "LowLevelVul": _I.c.low_cnt > _k("0"),
    "VulCnt": _I.c.vul_cnt > _k("0"),
}
#: the same conditions on the flags of ``image_counts``
_RISK_FLAGS: dict[str, Any] = {
    "VirusCnt": _C.has_virus.is_(True),
    "RiskCnt": _C.has_risk.is_(True),
    "IsTrustImage": _C.is_trusted.is_(True),
    "CriticalLevelVul": _C.has_critical.is_(True),
    "HighLevelVul": _C.has_high.is_(True),
    "MediumLevelVul": _C.has_medium.is_(True),
    "LowLevelVul": _C.has_low.is_(True),
    "VulCnt": _C.has_vul.is_(True),
}
#: the ImagesInfo columns, read without the ORM (a page is 10-100 plain tuples)
_ROW_COLUMNS = (
    _I.c.image_id,
    _I.c.image_name,
    _I.c.create_time,
    _I.c.size,
    _I.c.host_cnt,
    _I.c.super_node_cnt,
    _I.c.container_cnt,
    _I.c.scan_time,
    _I.c.vul_cnt,
    _I.c.virus_cnt,
    _I.c.risk_cnt,
    _I.c.is_trusted,
    _I.c.os_name,
    _I.c.agent_error,
    _I.c.scan_error,
    _I.c.scan_status,
    _I.c.scan_virus_error,
    _I.c.scan_vul_error,
    _I.c.scan_risk_error,
    IS_SUGGEST,
    _I.c.is_authorized,
    _I.c.component_cnt,
    _I.c.critical_cnt,
    _I.c.high_cnt,
    _I.c.medium_cnt,
    _I.c.low_cnt,
    _I.c.is_latest_image,
    _I.c.recommended_fix,
    _SOLUTION,
    _REASON,
)
#: from this Offset on, the page's image IDs are found on the index first (deferred join)
_DEFERRED_FROM = 100
_HEX = "0123456789abcdef"


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _fts_query(values: Sequence[str]) -> str:
    """An FTS5 query matching any of ``values`` as a substring (each a quoted phrase)."""
    return " OR ".join('"' + v.replace('"', '""') + '"' for v in values)


def _use_fts(dialect: str, values: Sequence[str]) -> bool:
    return dialect == "sqlite" and all(len(v) >= _TRIGRAM for v in values)


def _prefix_upper(hexpart: str) -> str | None:
    """The smallest hex string greater than every string starting with ``hexpart``."""
    stripped = hexpart.rstrip("f")
    if not stripped:
        return None
    return stripped[:-1] + _HEX[_HEX.index(stripped[-1]) + 1]


def _id_prefix(lo: Any, pattern: Any, hi: Any | None) -> ColumnElement[bool]:
    # the LIKE decides; the range lets the (account_id, image_id) index find the candidates
    # (hex digits and "sha256:" compare the same in every collation we run on)
    cond = [_I.c.image_id >= lo, _I.c.image_id.like(pattern)]
    if hi is not None:
        cond.append(_I.c.image_id < hi)
    return and_(*cond)


def _name_substring(
    patterns: Sequence[Any], fts: Any | None, walk: bool = False
) -> ColumnElement[bool]:
    if fts is None:
        return or_(*(_I.c.names_search.like(p, escape="\\") for p in patterns))
    # the case-sensitive trigram table answers exactly what the LIKE would for needles of
    # three or more characters: a phrase of a needle's trigrams at consecutive positions
    # is the needle as a substring, and both sides were lowercased the same way (Python's
    # lower(), when written and in filters.py).  So no row is read to decide: with the
    # (account_id, id) index of 0012 a TotalCount reads no table row at all.
    # ``walk``: spelled ``id + 0`` so SQLite cannot drive the query from the matches (one
    # row read per match, then a sort) and walks the sort index instead, probing the
    # matches' rowids (see ``list_page``)
    pk = _I.c.id + _k("0") if walk else _I.c.id
    return pk.in_(select(_FTS.c.rowid).where(_FTS.c.names_search.match(fts)))


def _condition(
    account: Any,
    clause: FilterClause,
    dialect: str,
    bind: Any = None,
    walk: bool = False,
) -> ColumnElement[bool]:
    """One clause's condition; with ``bind(name, value, expanding=False)`` the values are
    bound parameters (the cached statements), else literal values."""
    vals = clause.values
    if bind is None:

        def bind(_name: str, value: Any, expanding: bool = False) -> Any:
            return value

    if clause.kind is FilterKind.IMAGE_NAME:
        if clause.exact:
            # driven from the (account_id, name) index of image_names, not probed per image
            return _I.c.id.in_(
                select(_N.c.image_pk).where(
                    _N.c.account_id == account, _N.c.name.in_(bind("v", list(vals), True))
                )
            )
        if _use_fts(dialect, vals):
            return _name_substring((), bind("fts", _fts_query(vals)), walk)
        return _name_substring(
            [bind(f"l{j}", f"%{_like_escape(v)}%") for j, v in enumerate(vals)], None
        )
    if clause.kind is FilterKind.IMAGE_ID:
        if clause.exact:
            return _I.c.image_id.in_(bind("v", [f"sha256:{v}" for v in vals], True))
        parts = []
        for j, v in enumerate(vals):
            upper = _prefix_upper(v)
            parts.append(
                _id_prefix(
                    bind(f"lo{j}", f"sha256:{v}"),
                    bind(f"p{j}", f"sha256:{v}%"),
                    None if upper is None else bind(f"hi{j}", f"sha256:{upper}"),
                )
            )
        return or_(*parts)
    if clause.kind is FilterKind.SCAN_STATUS:
        return _I.c.scan_status.in_(bind("v", list(vals), True))
    if clause.kind is FilterKind.SECURITY_RISK:
        return or_(*(_RISK_CONDITIONS[v] for v in vals))
    return false()  # pragma: no cover - every kind is handled above


def _where(account_id: int, query: ImageQuery, dialect: str = "") -> list[ColumnElement[bool]]:
    """The conditions with literal values (exports, licences, scan tasks); ``dialect``
    ``"sqlite"`` lets substring filters use the trigram table."""
    return [
        _I.c.account_id == account_id,
        *(_condition(account_id, c, dialect) for c in query.clauses),
    ]


def _order(query: ImageQuery) -> list[Any]:
    col = _SORT_COLUMNS[query.sort]
    primary = col.desc() if query.descending else col.asc()
    if query.sort in _NULLABLE:
        primary = primary.nulls_last()
    tiebreak = _I.c.image_id.desc() if query.descending else _I.c.image_id.asc()
    return [primary, tiebreak]


# --- statements cached per query shape --------------------------------------------------------
def _clause_shape(clause: FilterClause, dialect: str) -> tuple[Any, ...]:
    """What of a clause decides the statement's text (not the bound values)."""
    vals = clause.values
    if clause.kind is FilterKind.SECURITY_RISK:
        return (clause.kind, vals)
    if clause.kind is FilterKind.IMAGE_NAME and not clause.exact:
        return (clause.kind, False, len(vals), _use_fts(dialect, vals))
    if clause.kind is FilterKind.IMAGE_ID and not clause.exact:
        return (clause.kind, False, tuple(_prefix_upper(v) is None for v in vals))
    return (clause.kind, clause.exact)


def _bound_where(
    query: ImageQuery, dialect: str, params: dict[str, Any], walk: bool = False
) -> ColumnElement[bool]:
    """The WHERE with every value a bound parameter; fills ``params`` with this query's."""
    account: Any = bindparam("account_id")
    conds: list[ColumnElement[bool]] = [_I.c.account_id == account]
    for i, clause in enumerate(query.clauses):

        def bind(name: str, value: Any, expanding: bool = False, i: int = i) -> Any:
            key = f"c{i}_{name}"
            params[key] = value
            return bindparam(key, expanding=expanding)

        conds.append(_condition(account, clause, dialect, bind, walk))
    return and_(*conds)


def _params(query: ImageQuery, dialect: str, account_id: int) -> dict[str, Any]:
    """This query's values under the names ``_bound_where`` binds them to, built without
    any SQL construct (that is the per-request cost the cached statements save)."""
    params: dict[str, Any] = {"account_id": account_id}
    for i, c in enumerate(query.clauses):
        vals = c.values
        if c.kind is FilterKind.IMAGE_NAME:
            if c.exact:
                params[f"c{i}_v"] = list(vals)
                continue
            if _use_fts(dialect, vals):
                params[f"c{i}_fts"] = _fts_query(vals)
            else:
                for j, v in enumerate(vals):
                    params[f"c{i}_l{j}"] = f"%{_like_escape(v)}%"
        elif c.kind is FilterKind.IMAGE_ID:
            if c.exact:
                params[f"c{i}_v"] = [f"sha256:{v}" for v in vals]
                continue
            for j, v in enumerate(vals):
                params[f"c{i}_lo{j}"] = f"sha256:{v}"
                params[f"c{i}_p{j}"] = f"sha256:{v}%"
                upper = _prefix_upper(v)
                if upper is not None:
                    params[f"c{i}_hi{j}"] = f"sha256:{upper}"
        elif c.kind is FilterKind.SCAN_STATUS:
            params[f"c{i}_v"] = list(vals)
    return params


_LIMIT = bindparam("limit", type_=Integer)
_OFFSET = bindparam("offset", type_=Integer)
#: the same, written into the SQL text at execution (SQLAlchemy's compiled statement stays
#: one).  PostgreSQL plans a ``LIMIT $n`` as if it returned 10 % of the rows, so a prepared
#: page statement never earns a generic plan and is planned again on every execution (most
#: of the backend's CPU for a cheap page); with the numbers in the text, psycopg's prepared
#: statement gets a generic plan after five executions.  Only for pages without filter
#: values (no filter, SecurityRisk): a generic plan of a ScanStatus / ImageName / ImageID
#: value is a guess at its selectivity, and those keep being planned for their values.
_LIMIT_TEXT = bindparam("limit", type_=Integer, literal_execute=True)
_OFFSET_TEXT = bindparam("offset", type_=Integer, literal_execute=True)
#: (dialect, shape) -> statement; bounded: shapes are few (kinds x counts x sorts), but a
#: client can vary value counts and SecurityRisk sets, so the cache is cleared when full
_STATEMENTS: dict[tuple[Any, ...], Executable] = {}
_MAX_STATEMENTS = 2048


def _cached(key: tuple[Any, ...], build: Callable[[], Executable]) -> Executable:
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        if len(_STATEMENTS) >= _MAX_STATEMENTS:
            _STATEMENTS.clear()
        stmt = _STATEMENTS[key] = build()
    return stmt


def _deferred(query: ImageQuery) -> bool:
    """Whether the page's image IDs are found first and its rows then (a deferred join):
    for deep pages, and for ImageID prefixes, whose candidates come as a key range in ID
    order and are sorted from an index that holds the sort key (0003, 0014) without
    reading their rows."""
    return query.offset >= _DEFERRED_FROM or any(
        c.kind is FilterKind.IMAGE_ID and not c.exact for c in query.clauses
    )


def _list_statement(
    query: ImageQuery,
    dialect: str,
    walk: bool = False,
    extra: Sequence[ColumnElement[Any]] = (),
) -> Executable:
    where = _bound_where(query, dialect, {}, walk)
    order = _order(query)
    columns = (*_ROW_COLUMNS, *extra)
    in_text = dialect == "postgresql" and all(
        c.kind is FilterKind.SECURITY_RISK for c in query.clauses
    )
    limit, offset = (_LIMIT_TEXT, _OFFSET_TEXT) if in_text else (_LIMIT, _OFFSET)
    if not _deferred(query):
        return select(*columns).where(where).order_by(*order).limit(limit).offset(offset)
    page = select(_I.c.image_id).where(where).order_by(*order).limit(limit).offset(offset)
    return (
        select(*columns)
        .where(
            _I.c.account_id == bindparam("account_id"), _I.c.image_id.in_(page.scalar_subquery())
        )
        .order_by(*order)
        .limit(limit)
    )


def _shape(query: ImageQuery, dialect: str) -> tuple[Any, ...]:
    return tuple(_clause_shape(c, dialect) for c in query.clauses)


#: a condition a caller has the page statement carry as a column (the licences' "settled"
#: check), and the values of its bound parameters
Check = tuple[ColumnElement[bool], Mapping[str, Any]]
_N_ROW = len(_ROW_COLUMNS)


def _page(
    session: Session,
    account_id: int,
    query: ImageQuery,
    *,
    walk: bool = False,
    check: Check | None = None,
) -> tuple[list[ImageRow], int | None, bool | None]:
    """One page, in one statement, with what it carries: (rows, the ``image_counts``
    TotalCount of a countable query, the value of ``check``).  Both ride on every row as
    uncorrelated scalar subqueries (evaluated once per statement: an InitPlan on PostgreSQL),
    so they come from the page's own snapshot; an empty page carries neither (``None``)."""
    conn = session.connection()
    dialect = conn.dialect.name
    deferred = _deferred(query)
    shape = _shape(query, dialect)
    countable = _countable(query)
    key = (
        "list",
        dialect,
        shape,
        query.sort,
        query.descending,
        deferred,
        walk,
        countable,
        None if check is None else id(check[0]),  # the statement keeps the object alive
    )

    def build() -> Executable:
        extra: list[ColumnElement[Any]] = []
        if countable:
            extra.append(_counts_statement(query).scalar_subquery())
        if check is not None:
            extra.append(check[0])
        return _list_statement(query, dialect, walk, extra)

    stmt = _cached(key, build)
    params = _params(query, dialect, account_id)
    params["limit"] = query.limit
    params["offset"] = query.offset
    if countable:
        params.update(_count_params(query))
    if check is not None:
        params.update(check[1])
    result = conn.execute(stmt, params).all()
    if not countable and check is None:
        return [ImageRow(*cast(tuple[Any, ...], r)) for r in result], None, None
    rows = [ImageRow(*r[:_N_ROW]) for r in result]
    if not result:
        return rows, None, None
    first = result[0]
    total = int(first[_N_ROW] or 0) if countable else None
    checked = bool(first[-1]) if check is not None else None
    return rows, total, checked


def list_images(
    session: Session, account_id: int, query: ImageQuery, *, walk: bool = False
) -> list[ImageRow]:
    """One page.  ``walk`` (SQLite trigram substrings; ``list_page`` decides) pages along
    the sort index: the matches then cannot drive the query (read every match, sort)."""
    return _page(session, account_id, query, walk=walk)[0]


def _countable(query: ImageQuery) -> bool:
    return all(c.kind in (FilterKind.SCAN_STATUS, FilterKind.SECURITY_RISK) for c in query.clauses)


def _counts_statement(query: ImageQuery) -> Select[Any]:
    cond: list[ColumnElement[bool]] = [_C.account_id == bindparam("account_id")]
    for i, c in enumerate(query.clauses):
        if c.kind is FilterKind.SCAN_STATUS:
            cond.append(_C.scan_status.in_(bindparam(f"s{i}", expanding=True)))
        else:
            cond.append(or_(*(_RISK_FLAGS[v] for v in c.values)))
    return select(func.sum(_C.n)).where(and_(*cond))


def _count_params(query: ImageQuery) -> dict[str, Any]:
    return {
        f"s{i}": list(c.values)
        for i, c in enumerate(query.clauses)
        if c.kind is FilterKind.SCAN_STATUS
    }


def count_images(session: Session, account_id: int, query: ImageQuery) -> int:
    conn = session.connection()
    dialect = conn.dialect.name
    shape = _shape(query, dialect)
    if _countable(query):
        stmt = _cached(("sum", shape), lambda: _counts_statement(query))
        params: dict[str, Any] = {"account_id": account_id, **_count_params(query)}
        return int(conn.execute(stmt, params).scalar() or 0)
    stmt = _cached(
        ("count", dialect, shape),
        lambda: select(func.count()).select_from(_I).where(_bound_where(query, dialect, {})),
    )
    return int(conn.execute(stmt, _params(query, dialect, account_id)).scalar() or 0)


#: walk the sort index rather than read every match when (Offset + Limit) x account size
#: < this x matches^2: walking costs ~(Offset + Limit) x size / matches index-only probes
#: (~0.4 us each), reading ~3 us per match plus the sort (SQLite, 1M images; README).
#: PostgreSQL is left to its planner: its pg_trgm statistics estimate the matches, and
#: forcing either plan measured no better there.
_WALK_FACTOR = 8


_ALL_IMAGES = select(func.sum(_C.n))
_FTS_COUNT = (
    select(func.count()).select_from(_FTS).where(_FTS.c.names_search.match(bindparam("fts")))
)


def _sole_owner_fts_count(session: Session, query: ImageQuery, size: int) -> int | None:
    """The TotalCount of a query that is one ImageName substring (SQLite, trigram table),
    when the account holds every image of the store (``size``: its image count): then the
    trigram table's matches are the account's, and counting them needs no probe of the
    ``(account_id, id)`` index per match (40,756 matches at 1M: ~5 ms instead of ~30).
    None when that does not hold (another account has images, or other filters)."""
    if len(query.clauses) != 1:
        return None
    conn = session.connection()
    if int(conn.execute(_ALL_IMAGES).scalar() or 0) != size:
        return None
    fts = _fts_query(query.clauses[0].values)
    return int(conn.execute(_FTS_COUNT, {"fts": fts}).scalar() or 0)


def _has_trigram_clause(query: ImageQuery, dialect: str) -> bool:
    return any(
        c.kind is FilterKind.IMAGE_NAME and not c.exact and _use_fts(dialect, c.values)
        for c in query.clauses
    )


def list_page(session: Session, account_id: int, query: ImageQuery) -> tuple[list[ImageRow], int]:
    """A page and its TotalCount, in the caller's transaction (see ``list_page_checked``)."""
    rows, total, _ = list_page_checked(session, account_id, query)
    return rows, total


def list_page_checked(
    session: Session, account_id: int, query: ImageQuery, check: Check | None = None
) -> tuple[list[ImageRow], int, bool | None]:
    """A page, its TotalCount, and the value of ``check`` read by the page's statement
    (``None`` when no row carried it: an empty page), in the caller's transaction.

    The TotalCount of a ScanStatus / SecurityRisk / no filter query (the ``image_counts``
    sum) rides on the page's statement too, so such a page is one statement.  Other counts
    are skipped when the page itself shows them: a page shorter than ``Limit`` that is not
    empty is the end of the filtered set, so TotalCount is ``Offset`` plus its length (the
    same snapshot answered both; an empty page past the end still counts).

    A SQLite trigram substring is counted first (through ``images_fts`` and the
    ``(account_id, id)`` index: no row read), and the count picks the page's plan, which
    SQLite's planner cannot (it does not know how many rows match): few matches are read
    and sorted, many are found by walking the sort index (at Offset 0 that stops after a
    few dozen entries).  Either plan returns the same rows.
    """
    if _has_trigram_clause(query, session.connection().dialect.name):
        size = count_images(session, account_id, ImageQuery())
        total = _sole_owner_fts_count(session, query, size)
        if total is None:
            total = count_images(session, account_id, query)
        if query.offset >= total:
            return [], total, None
        walk = (query.offset + query.limit) * size < _WALK_FACTOR * total * total
        rows, _, checked = _page(session, account_id, query, walk=walk, check=check)
        return rows, total, checked
    rows, carried, checked = _page(session, account_id, query, check=check)
    if 0 < len(rows) < query.limit or (query.offset == 0 and not rows):
        return rows, query.offset + len(rows), checked
    if carried is not None:
        return rows, carried, checked
    return rows, count_images(session, account_id, query), checked


def set_trust(session: Session, account_id: int, image_ids: Sequence[str], trusted: bool) -> int:
    rows = session.scalars(
        select(Image).where(Image.account_id == account_id, Image.image_id.in_(image_ids))
    ).all()
    for img in rows:
        img.is_trusted = trusted
    return len(rows)
