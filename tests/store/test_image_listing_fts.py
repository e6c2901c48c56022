"""ImageName substrings through the trigram index (SQLite FTS5 ``images_fts``, PostgreSQL
pg_trgm), the indexes of migration 0012, and the statements cached per query shape."""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite

from imagewarden.inventory.filters import build_image_query
from imagewarden.inventory.models import ImageQuery
from imagewarden.inventory.service import InventoryService
from imagewarden.store import images as image_store
from imagewarden.store.engine import make_engine, make_sessionmaker
from tests.factories import host, image, image_id

#: label -> tags; lowercase, mixed case, non-ASCII, and the LIKE / FTS5 specials % _ " \
NAMES = {
    "nginx": ("docker.io/library/nginx:1.25", "nginx:latest"),
    "nginx-ui": ("ghcr.io/acme/nginx-ui:2",),
    "ngx": ("ngx:1",),
    "cafe": ("registry.example/Café-API:1",),
    "strasse": ("registry.example/straße:3",),
    "istanbul": ("registry.example/İstanbul:1",),
    "pct": ("registry.example/load-50%off:1",),
    "under": ("registry.example/a_b:1",),
    "axb": ("registry.example/axb:1",),
    "quote": ('registry.example/say"hi":1',),
    "backslash": ("registry.example/back\\slash:1",),
    "two": ("registry.example/redis:7", "mirror.example/cache:7"),
    "untagged": (),
}
NEEDLES = (
    "nginx",
    "NGINX",  # the filter lowercases
    "nginx-ui",
    "ngx",
    "ng",  # two characters: LIKE only
    "x",  # one character: LIKE only
    "café",
    "CAFÉ-api",
    "straße",
    "İstanbul",
    "50%",
    "%",
    "a_b",
    "_",
    'y"hi"',
    '"',
    "back\\slash",
    "\\",
    "s:7\nmir",  # names are newline-joined; a needle spanning two names matches as LIKE does
    "redis:7",
    "nothing-like-this",
    "<none>",
)


def q(values: list[str], limit: int = 100, offset: int = 0) -> ImageQuery:
    return build_image_query(
        [("ImageName", values, False)], by=None, order=None, limit=limit, offset=offset
    )


def expected(values: list[str]) -> set[str]:
    """The reference: a case-insensitive (Python lower) substring of any current name."""
    wanted = [v.strip().lower() for v in values]
    out = set()
    for label, tags in NAMES.items():
        search = "\n".join(t.lower() for t in sorted(tags))
        if any(w in search for w in wanted):
            out.add(image_id(label))
    return out


@pytest.fixture
def acct(service: InventoryService) -> int:
    account = service.account_id("acme")
    service.report_host(account, host("h1", [image(label, *tags) for label, tags in NAMES.items()]))
    return account


def listed(service: InventoryService, account: int, query: ImageQuery) -> tuple[set[str], int]:
    rows, total = service.list_images(account, query)
    return {r.image_id for r in rows}, total


@pytest.mark.parametrize("needle", NEEDLES)
def test_substring_filter_matches_the_reference(
    service: InventoryService, acct: int, needle: str
) -> None:
    want = expected([needle])
    got, total = listed(service, acct, q([needle]))
    assert got == want
    assert total == len(want)
    # a one-row page: TotalCount comes from count_images, not from the page
    page, total = listed(service, acct, q([needle], limit=1))
    assert total == len(want)
    assert page <= want


@pytest.mark.parametrize(
    "values", [["nginx", "redis"], ["ng", "redis"], ["café", "a_b", '"'], ["x", "_"]]
)
def test_several_values_are_ored(service: InventoryService, acct: int, values: list[str]) -> None:
    want = expected(values)
    assert listed(service, acct, q(values)) == (want, len(want))


#: images_fts is the SQLite trigram index (PostgreSQL uses pg_trgm): these run on SQLite only
_sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@_sqlite_only
def test_three_characters_or_more_go_through_the_trigram_table(
    db_url: str, service: InventoryService, acct: int
) -> None:
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            # empty the index only (external content: the images rows stay)
            conn.execute(text("INSERT INTO images_fts (images_fts) VALUES ('delete-all')"))
        assert listed(service, acct, q(["nginx"])) == (set(), 0)
        assert listed(service, acct, q(["ngx"])) == (set(), 0)
        # shorter needles have no trigram and never ask the index
        assert listed(service, acct, q(["ng"]))[0] == expected(["ng"]) != set()
        # one short value makes the whole clause a LIKE
        assert listed(service, acct, q(["nginx", "ng"]))[0] == expected(["nginx", "ng"])
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO images_fts (images_fts) VALUES ('rebuild')"))
        assert listed(service, acct, q(["nginx"]))[0] == expected(["nginx"]) != set()
    finally:
        engine.dispose()


def _fts_in_sync(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            # rank 1: compare the index with the content table (raises SQLITE_CORRUPT_VTAB)
            conn.execute(
                text("INSERT INTO images_fts (images_fts, rank) VALUES ('integrity-check', 1)")
            )
    finally:
        engine.dispose()


@_sqlite_only
def test_the_trigram_table_follows_renames_and_prunes(
    db_url: str, service: InventoryService
) -> None:
    acct = service.account_id("acme")
    service.report_host(acct, host("h1", [image("a", "old-name:1"), image("b", "keep:1")]))
    _fts_in_sync(db_url)
    assert listed(service, acct, q(["old-name"]))[0] == {image_id("a")}
    # the same image now carries another tag on every host
    service.report_host(acct, host("h1", [image("a", "new-name:2"), image("b", "keep:1")]))
    _fts_in_sync(db_url)
    assert listed(service, acct, q(["old-name"])) == (set(), 0)
    assert listed(service, acct, q(["new-name"]))[0] == {image_id("a")}
    # the host drops the image; once pruned, the row and its index entry are gone
    service.report_host(acct, host("h1", [image("b", "keep:1")]))
    assert service.prune_images(acct) == 1
    _fts_in_sync(db_url)
    assert listed(service, acct, q(["keep"]))[0] == {image_id("b")}
    assert listed(service, acct, q(["new-name"])) == (set(), 0)


# --- the indexes of 0012 serve the statements as written ----------------------------------
def _plan(db_url: str, query: ImageQuery, index: str) -> str:
    """The plan of the page statement; on SQLite with ``INDEXED BY index``, which fails
    ("no query solution") unless the index can serve the WHERE as written (a planner's
    choice on an empty test table says nothing; after ANALYZE on real data it takes them,
    see benchmarks/README.md).  PostgreSQL: with sequential scans and sorts disabled."""
    assert query.offset < image_store._DEFERRED_FROM  # one FROM images
    engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine).begin() as s:
            conn = s.connection()
            dialect = conn.dialect.name
            stmt = image_store._list_statement(query, dialect)
            params = image_store._params(query, dialect, 1)
            params.update(limit=query.limit, offset=query.offset)
            if dialect == "sqlite":
                compiled = stmt.compile(
                    dialect=conn.dialect, compile_kwargs={"render_postcompile": True}
                )
                sql = str(compiled)
                assert sql.count("FROM images \n") == 1
                sql = sql.replace("FROM images \n", f"FROM images INDEXED BY {index}\n")
                args = tuple(
                    compiled.construct_params(params)[k] for k in compiled.positiontup or ()
                )
                rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", args).all()
                return "\n".join(str(r[-1]) for r in rows)
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            conn.exec_driver_sql("SET LOCAL enable_sort = off")
            # expanded: LIMIT / OFFSET may be written into the text (store/images.py)
            state = stmt.compile(dialect=conn.dialect).construct_expanded_state(params)
            rows = conn.exec_driver_sql(f"EXPLAIN {state.statement}", state.parameters).all()
            return "\n".join(str(r[0]) for r in rows)
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("risk", "index"),
    [
        ("VirusCnt", "virus"),
        ("RiskCnt", "risk"),
        ("IsTrustImage", "trusted"),
        ("CriticalLevelVul", "critical"),
        ("HighLevelVul", "high"),
        ("MediumLevelVul", "medium"),
        ("LowLevelVul", "low"),
        ("VulCnt", "vul"),
    ],
)
def test_a_security_risk_page_can_walk_its_partial_index(
    db_url: str, risk: str, index: str
) -> None:
    query = build_image_query(
        [("SecurityRisk", [risk], False)], by=None, order=None, limit=10, offset=50
    )
    name = f"ix_images_account_create_{index}"
    plan = _plan(db_url, query, name)
    assert name in plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan  # the index gives the order


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_an_is_suggest_sort_can_walk_its_expression_index(db_url: str, order: str) -> None:
    query = build_image_query([], by="IsSuggest", order=order, limit=10, offset=50)
    plan = _plan(db_url, query, "ix_images_account_suggest")
    assert "ix_images_account_suggest" in plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan


# --- statements cached per shape ----------------------------------------------------------
SHAPES = [
    [],
    [("ScanStatus", ["scanned", "scanErr"], False)],
    [("SecurityRisk", ["VirusCnt", "HighLevelVul"], False)],
    [("ImageName", ["nginx", "ng"], False)],
    [("ImageName", ["nginx", "redis"], False), ("ScanStatus", ["notScan"], False)],
    [("ImageName", ["nginx:1", "redis:7"], True)],
    [("ImageID", ["ab", "ff", "0f"], False)],
    [("ImageID", ["a" * 64], True)],
]


@pytest.mark.parametrize("filters", SHAPES)
@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_params_are_exactly_the_bound_names(filters: list[Any], dialect: str) -> None:
    query = build_image_query(filters, by=None, order=None, limit=10, offset=0)
    bound: dict[str, Any] = {"account_id": 5}
    stmt = image_store._bound_where(query, dialect, bound)
    assert image_store._params(query, dialect, 5) == bound
    d = sqlite.dialect() if dialect == "sqlite" else postgresql.dialect()
    assert set(stmt.compile(dialect=d).params) == set(bound)


def test_a_cached_statement_serves_other_values_of_its_shape(
    service: InventoryService, acct: int
) -> None:
    image_store._STATEMENTS.clear()
    for needle in ("nginx", "redis", "café", "a_b"):  # one shape: one value, >= 3 chars
        assert listed(service, acct, q([needle]))[0] == expected([needle])
    assert len([k for k in image_store._STATEMENTS if k[0] == "list"]) == 1


@pytest.mark.parametrize(
    ("limit", "offset"), [(5, 0), (5, 5), (5, 10), (5, 12), (5, 13), (5, 40), (100, 0)]
)
def test_list_page_totals_equal_the_count(
    db_url: str, service: InventoryService, acct: int, limit: int, offset: int
) -> None:
    engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine).begin() as s:
            query = build_image_query([], by="ImageName", order="asc", limit=limit, offset=offset)
            rows, total = image_store.list_page(s, acct, query)
            assert total == image_store.count_images(s, acct, query) == len(NAMES)
            assert len(rows) == max(0, min(limit, len(NAMES) - offset))
    finally:
        engine.dispose()


def test_random_names_and_needles_match_the_reference(
    db_url: str, service: InventoryService
) -> None:
    """The trigram path (and the LIKE, for short needles) against Python's ``in`` on the
    stored names, for random names over an alphabet of the awkward characters (and
    needles that span two names of an image)."""
    rng = random.Random(12)
    alphabet = 'abcAB:/._-%"\\ éÉßİı0'
    acct = service.account_id("rand")
    names: dict[str, tuple[str, ...]] = {}
    for i in range(60):
        tags = tuple(
            "".join(rng.choice(alphabet) for _ in range(rng.randrange(3, 12)))
            for _ in range(rng.randrange(0, 3))
        )
        names[f"r{i}"] = tags
    service.report_host(acct, host("h1", [image(label, *tags) for label, tags in names.items()]))
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            # what the LIKE reads: the stored, lowercased, newline-joined names
            searches = dict(
                conn.execute(
                    text("SELECT image_id, names_search FROM images WHERE account_id = :a"),
                    {"a": acct},
                ).all()
            )
    finally:
        engine.dispose()
    assert len(searches) == len(names)
    needles = []
    for _ in range(150):
        text_ = rng.choice([s for s in searches.values() if s] or ["x"])
        start = rng.randrange(len(text_))
        needles.append(text_[start : start + rng.randrange(1, 7)])
        needles.append("".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 5))))
    for needle in needles:
        if not needle.strip():
            continue
        low = needle.strip().lower()
        want = {iid for iid, search in searches.items() if low in search}
        assert listed(service, acct, q([needle])) == (want, len(want)), repr(needle)


@pytest.mark.parametrize("needle", ["nginx", "registry", ".example/", "redis:7", "zzz"])
@pytest.mark.parametrize("by", ["CreateTime", "ImageName", "IsSuggest", "Size", "ScanTime"])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_both_plans_of_a_trigram_page_return_the_same_rows(
    db_url: str, service: InventoryService, acct: int, needle: str, by: str, order: str
) -> None:
    """``list_page`` picks between reading every match and walking the sort index by the
    match count (SQLite; PostgreSQL's statement is the same either way); both must give
    the same page, at every Offset."""
    engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine).begin() as s:
            every = image_store.list_images(
                s,
                acct,
                build_image_query(
                    [("ImageName", [needle], False)], by=by, order=order, limit=100, offset=0
                ),
            )
            assert {r.image_id for r in every} == expected([needle])
            for limit, offset in ((3, 0), (3, 3), (2, 5), (5, 100), (1, len(every))):
                query = build_image_query(
                    [("ImageName", [needle], False)],
                    by=by,
                    order=order,
                    limit=limit,
                    offset=offset,
                )
                want = every[offset : offset + limit]
                for walk in (True, False):
                    assert image_store.list_images(s, acct, query, walk=walk) == want
                assert image_store.list_page(s, acct, query) == (want, len(every))
    finally:
        engine.dispose()


@_sqlite_only
def test_a_sole_owner_counts_from_the_trigram_table_alone_and_only_then(
    db_url: str, service: InventoryService, acct: int
) -> None:
    """While one account holds every image, a substring's TotalCount is the trigram
    table's match count (no per-match account probe); once another account holds images
    with the same names, each account counts only its own."""
    from sqlalchemy import event

    engine = service._sessions.kw["bind"]  # type: ignore[attr-defined]
    counted_alone: list[bool] = []

    def seen(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        flat = " ".join(statement.split()).lower()
        if flat.startswith("select count(*)") and "images_fts" in flat:
            counted_alone.append(flat.startswith("select count(*) as count_1 from images_fts"))

    event.listen(engine, "after_cursor_execute", seen)
    try:
        for needle in ("nginx", "registry", "zzz"):
            want = expected([needle])
            assert listed(service, acct, q([needle], limit=1))[1] == len(want), needle
        assert counted_alone and all(counted_alone)

        other = service.account_id("other")
        clones = [image(f"other-{label}", *tags) for label, tags in NAMES.items()]
        service.report_host(other, host("h9", clones[:5]))
        counted_alone.clear()
        for needle in ("nginx", "registry", "zzz"):
            want = expected([needle])
            assert listed(service, acct, q([needle], limit=1))[1] == len(want), needle
            theirs = {
                image_id(f"other-{label}") for label in list(NAMES)[:5] if image_id(label) in want
            }
            assert listed(service, other, q([needle])) == (theirs, len(theirs)), needle
        assert counted_alone and not any(counted_alone)
    finally:
        event.remove(engine, "after_cursor_execute", seen)
