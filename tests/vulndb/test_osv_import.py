"""Importing real OSV records into real SQLite and PostgreSQL databases."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from imagewarden.store.advisories import AdvisoryRow, SqlAdvisoryIndex, SqlAdvisoryWriter
from imagewarden.vulndb import (
    ImportSourceError,
    UnsafeArchiveError,
    ZipLimits,
    import_paths,
    parse_osv,
)
from imagewarden.vulndb.osv_import import iter_documents
from tests.vulndb.fixtures import OSV_DIR

ALL_IDS = sorted(p.stem for p in OSV_DIR.rglob("*.json"))


def _load(name: str) -> dict[str, object]:
    path = next(OSV_DIR.rglob(f"{name}.json"))
    data: dict[str, object] = json.loads(path.read_text())
    return data


def _write(path: Path, record: dict[str, object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return path


def test_the_testdata_is_what_the_tests_expect() -> None:
    assert len(ALL_IDS) == 8
    for p in OSV_DIR.rglob("*.json"):
        rec = json.loads(p.read_text())
        assert rec["id"] == p.stem
        assert rec["references"], f"{p.name} must cite its source"


def test_directory_import_counts_and_status(vuln_engine: Engine) -> None:
    writer = SqlAdvisoryWriter(vuln_engine)
    report = import_paths([OSV_DIR], writer)
    assert report.records == 8
    assert (report.counts.inserted, report.counts.updated, report.counts.unchanged) == (8, 0, 0)
    assert report.invalid == 0
    status = writer.status()
    assert status.advisories == 8
    assert status.withdrawn == 0
    per_eco = {e.ecosystem: e.advisories for e in status.ecosystems}
    assert per_eco == {
        "Alpine:v3.18": 1,
        "Debian:12": 1,
        "Go": 1,
        "Maven": 1,
        "PyPI": 3,  # urllib3, requests, paramiko (Terrapin)
        "RubyGems": 1,
        "crates.io": 1,
        "npm": 1,
    }
    assert all(e.supported for e in status.ecosystems)
    assert status.last_import is not None
    assert status.last_import.records == 8
    assert status.last_import.sources == (str(OSV_DIR),)


def test_reimport_is_idempotent(vuln_engine: Engine) -> None:
    writer = SqlAdvisoryWriter(vuln_engine)
    import_paths([OSV_DIR], writer)
    with vuln_engine.connect() as conn:
        before = conn.execute(select(AdvisoryRow.id, AdvisoryRow.imported_at)).all()
    again = import_paths([OSV_DIR], writer)
    assert (again.counts.inserted, again.counts.updated, again.counts.unchanged) == (0, 0, 8)
    with vuln_engine.connect() as conn:
        after = conn.execute(select(AdvisoryRow.id, AdvisoryRow.imported_at)).all()
    assert sorted(before) == sorted(after)
    index = SqlAdvisoryIndex(vuln_engine)
    assert len(list(index.candidates("PyPI", "urllib3"))) == 1
    assert len(next(iter(index.candidates("PyPI", "urllib3"))).affected) == 2


def test_newer_modified_replaces_and_older_is_ignored(vuln_engine: Engine, tmp_path: Path) -> None:
    writer = SqlAdvisoryWriter(vuln_engine)
    import_paths([OSV_DIR], writer)
    rec = _load("GHSA-j8r2-6x86-q33q")
    newer = dict(rec, modified="2024-01-01T00:00:00Z", summary="updated summary")
    older = dict(rec, modified="2020-01-01T00:00:00Z", summary="stale summary")
    r1 = import_paths([_write(tmp_path / "newer.json", newer)], writer)
    assert (r1.counts.updated, r1.counts.inserted) == (1, 0)
    r2 = import_paths([_write(tmp_path / "older.json", older)], writer)
    assert r2.counts.older == 1
    (adv,) = SqlAdvisoryIndex(vuln_engine).candidates("PyPI", "requests")
    assert adv.summary == "updated summary"
    assert adv.modified.year == 2024
    with vuln_engine.connect() as conn:
        source = conn.execute(
            select(AdvisoryRow.source).where(AdvisoryRow.id == "GHSA-j8r2-6x86-q33q")
        ).scalar_one()
    assert source.endswith("newer.json")  # provenance follows the stored version


def test_withdrawn_records_leave_matching(vuln_engine: Engine, tmp_path: Path) -> None:
    writer = SqlAdvisoryWriter(vuln_engine)
    import_paths([OSV_DIR], writer)
    index = SqlAdvisoryIndex(vuln_engine)
    assert [a.id for a in index.candidates("npm", "minimist")] == ["GHSA-xvch-5gv4-984h"]
    rec = _load("GHSA-xvch-5gv4-984h")
    gone = dict(rec, modified="2024-02-02T00:00:00Z", withdrawn="2024-02-02T00:00:00Z")
    report = import_paths([_write(tmp_path / "w.json", gone)], writer)
    assert report.withdrawn == 1
    assert list(index.candidates("npm", "minimist")) == []
    status = writer.status()
    assert status.withdrawn == 1
    assert "npm" not in {e.ecosystem for e in status.ecosystems}


def test_aliases_upstream_and_provenance(vuln_engine: Engine) -> None:
    writer = SqlAdvisoryWriter(vuln_engine)
    import_paths([OSV_DIR], writer)
    index = SqlAdvisoryIndex(vuln_engine)
    (dsa,) = index.candidates("Debian:12", "openssl")
    assert dsa.aliases == ("CVE-2023-5363",)  # from "upstream"
    assert dsa.references[0] == "https://www.debian.org/security/2023/dsa-5532"
    (alp,) = index.candidates("Alpine:v3.18", "openssl")
    assert alp.aliases == ("CVE-2023-5363",)
    with vuln_engine.connect() as conn:
        rows = dict(conn.execute(select(AdvisoryRow.id, AdvisoryRow.source)).all())
    assert rows["DSA-5532-1"].endswith("debian/DSA-5532-1.json")
    assert set(rows) == set(ALL_IDS)


def test_unsupported_ecosystem_is_stored_but_not_matched(
    vuln_engine: Engine, tmp_path: Path
) -> None:
    # the real requests record, re-keyed to an ecosystem we do not match (Packagist)
    rec = _load("GHSA-j8r2-6x86-q33q")
    affected = json.loads(json.dumps(rec["affected"]))
    affected[0]["package"]["ecosystem"] = "Packagist"
    writer = SqlAdvisoryWriter(vuln_engine)
    import_paths([_write(tmp_path / "p.json", dict(rec, affected=affected))], writer)
    assert list(SqlAdvisoryIndex(vuln_engine).candidates("Packagist", "requests")) == []
    (eco,) = writer.status().ecosystems
    assert (eco.ecosystem, eco.supported, eco.advisories) == ("Packagist", False, 1)


def test_invalid_documents_are_counted_not_fatal(vuln_engine: Engine, tmp_path: Path) -> None:
    shutil.copytree(OSV_DIR / "ghsa", tmp_path / "feed")
    (tmp_path / "feed" / "broken.json").write_text("{not json")
    (tmp_path / "feed" / "no-id.json").write_text(json.dumps({"modified": "2024-01-01T00:00:00Z"}))
    report = import_paths([tmp_path / "feed"], SqlAdvisoryWriter(vuln_engine))
    assert report.records == 6
    assert report.invalid == 2
    assert any("broken.json" in e for e in report.errors)


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_zip_export_import_matches_directory_import(vuln_engine: Engine, tmp_path: Path) -> None:
    members = {p.name: p.read_bytes() for p in sorted(OSV_DIR.rglob("*.json"))}
    archive = _zip(tmp_path / "all.zip", members)
    writer = SqlAdvisoryWriter(vuln_engine)
    report = import_paths([archive], writer)
    assert (report.records, report.counts.inserted) == (8, 8)
    with vuln_engine.connect() as conn:
        src = conn.execute(
            select(AdvisoryRow.source).where(AdvisoryRow.id == "GHSA-jfh8-c2jp-5v3q")
        ).scalar_one()
    assert src == f"{archive}!GHSA-jfh8-c2jp-5v3q.json"
    assert import_paths([OSV_DIR], writer).counts.unchanged == 8


@pytest.mark.parametrize("name", ["../escape.json", "/abs/x.json", "a/../../b.json", "c:\\x.json"])
def test_zip_path_tricks_are_refused(tmp_path: Path, name: str) -> None:
    archive = _zip(
        tmp_path / "evil.zip", {name: (OSV_DIR / "ghsa/GHSA-xvch-5gv4-984h.json").read_bytes()}
    )

    class NoWrites:
        def write_batch(self, batch: object) -> object:
            raise AssertionError("nothing may be written from an unsafe archive")

        def record_import(self, report: object) -> None:
            pass

    with pytest.raises(UnsafeArchiveError):
        import_paths([archive], NoWrites())  # type: ignore[arg-type]


def test_zip_bomb_is_refused(tmp_path: Path) -> None:
    bomb = (
        b'{"id": "X", "modified": "2024-01-01T00:00:00Z", "details": "'
        + b" " * (8 * 1024 * 1024)
        + b'"}'
    )
    archive = _zip(tmp_path / "bomb.zip", {"bomb.json": bomb})
    with pytest.raises(UnsafeArchiveError, match="compression ratio"):
        list(iter_documents([archive]))


def test_zip_member_size_limit(tmp_path: Path) -> None:
    data = (OSV_DIR / "ghsa/GHSA-jfh8-c2jp-5v3q.json").read_bytes()
    archive = _zip(tmp_path / "big.zip", {"big.json": data})
    with pytest.raises(UnsafeArchiveError, match="exceed"):
        list(iter_documents([archive], ZipLimits(max_member_bytes=1024)))
    assert len(list(iter_documents([archive]))) == 1


def test_missing_path_is_an_import_source_error(tmp_path: Path) -> None:
    with pytest.raises(ImportSourceError):
        list(iter_documents([tmp_path / "nope"]))


def test_a_json_list_of_records_is_accepted() -> None:
    data = json.dumps([_load("GHSA-xvch-5gv4-984h"), _load("GHSA-hxqx-xwvh-44m2")]).encode()
    items = parse_osv(data, "list.json")
    assert [i.advisory.id for i in items] == ["GHSA-xvch-5gv4-984h", "GHSA-hxqx-xwvh-44m2"]
    assert items[0].content_hash != items[1].content_hash


def test_content_hash_ignores_formatting() -> None:
    rec = _load("GHSA-xvch-5gv4-984h")
    a = parse_osv(json.dumps(rec).encode(), "a")[0]
    b = parse_osv(json.dumps(rec, indent=4, sort_keys=True).encode(), "b")[0]
    assert a.content_hash == b.content_hash
