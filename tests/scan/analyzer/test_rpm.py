"""rpm analyzer: real Berkeley DB files (CentOS 5–8), a real rpm-made SQLite db, ndb."""

from __future__ import annotations

import re
import shutil
import sqlite3
import struct
import subprocess
import zlib
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packageurl import PackageURL

from imagewarden.scan.analyzer.base import FileInfo, LayerFile
from imagewarden.scan.analyzer.rpm import RpmAnalyzer, split_sourcerpm
from imagewarden.scan.analyzer.rpm_header import HeaderError, parse_header
from imagewarden.scan.analyzer.rpmdb_bdb import iter_hash_items
from imagewarden.scan.model import ComponentType, LayerFacts

GO_RPMDB = Path("/usr/share/gocode/src/github.com/knqyf263/go-rpmdb/pkg")
NEED_GO_RPMDB = "apt-get install golang-github-knqyf263-go-rpmdb-dev"
BDB_CASES = {
    "centos5-plain": "CentOS5Plain",
    "centos6-plain": "CentOS6Plain",
    "centos6-devtools": "CentOS6DevTools",
    "centos6-many": "CentOS6Many",
    "centos7-plain": "CentOS7Plain",
    "centos7-devtools": "CentOS7DevTools",
    "centos7-many": "CentOS7Many",
    "centos7-python35": "CentOS7Python35",
    "centos7-httpd24": "CentOS7Httpd24",
    "centos8-modularitylabel": "CentOS8Modularitylabel",
}
# {epoch, "name", "version", "release", "arch", "sourcerpm", ...} rows of rpmdb_testcase.go,
# written by `rpm -qa --queryformat` on the machines the databases come from
_ROW = re.compile(r'\{(\d+), "([^"]*)", "([^"]*)", "([^"]*)", "([^"]*)", "([^"]*)"')


def _analyze(path: str, content: bytes) -> LayerFacts:
    p = PurePosixPath(path)
    return RpmAnalyzer().analyze({p: LayerFile(p, len(content), 0o644, content)})


def _expected_lists() -> dict[str, list[tuple[str, ...]]]:
    text = (GO_RPMDB / "rpmdb_testcase.go").read_text()
    out: dict[str, list[tuple[str, ...]]] = {}
    current = None
    for line in text.splitlines():
        if m := re.match(r"\s*(\w+) = \[\]\*PackageInfo\{", line):
            current = m.group(1)
            out[current] = []
        elif current and (m := _ROW.search(line)):
            out[current].append(m.groups())
    return out


def _bdb(case: str) -> bytes:
    path = GO_RPMDB / "testdata" / case / "Packages"
    if not path.is_file():
        pytest.skip(NEED_GO_RPMDB)
    return path.read_bytes()


@pytest.fixture(scope="module")
def expected() -> dict[str, list[tuple[str, ...]]]:
    if not (GO_RPMDB / "rpmdb_testcase.go").is_file():
        pytest.skip(NEED_GO_RPMDB)
    return _expected_lists()


def test_wants_only_rpm_databases() -> None:
    a = RpmAnalyzer()
    for path in (
        "var/lib/rpm/Packages",
        "var/lib/rpm/rpmdb.sqlite",
        "var/lib/rpm/Packages.db",
        "usr/lib/sysimage/rpm/rpmdb.sqlite",
    ):
        assert a.wants(PurePosixPath(path), FileInfo(PurePosixPath(path), 10, 0o644))
    for path in ("var/lib/rpm/Basenames", "var/lib/rpm/rpmdb.sqlite-wal", "rpm/Packages"):
        assert not a.wants(PurePosixPath(path), FileInfo(PurePosixPath(path), 10, 0o644))


@pytest.mark.parametrize("case", sorted(BDB_CASES))
def test_berkeley_db_matches_rpm_qa(case: str, expected: dict[str, list[tuple[str, ...]]]) -> None:
    facts = _analyze("var/lib/rpm/Packages", _bdb(case))
    assert facts.unknowns == ()
    want = set()
    for epoch, name, version, release, _arch, srpm in expected[BDB_CASES[case]]:
        if name == "gpg-pubkey":
            continue
        v = f"{version}-{release}" if epoch == "0" else f"{epoch}:{version}-{release}"
        want.add((name, v, split_sourcerpm(srpm)))
    # rpm -qa prints EPOCH (none) as 0: compare with the epoch-0 spelling folded in
    got = set()
    for c in facts.components:
        v = c.version[2:] if c.version.startswith("0:") else c.version
        srpm = next(
            (s for e in want if e[0] == c.name and e[1] == v for s in [e[2]]),
            None,
        )
        got.add((c.name, v, srpm))
        assert c.type is ComponentType.RPM and c.path == "var/lib/rpm/Packages"
        assert PackageURL.from_string(c.purl).name == c.name
    assert len(facts.components) == len(want)
    assert got == want


def test_berkeley_db_fields(expected: dict[str, list[tuple[str, ...]]]) -> None:
    facts = _analyze("var/lib/rpm/Packages", _bdb("centos7-httpd24"))
    bind = next(c for c in facts.components if c.name == "bind-license")
    row = next(r for r in expected["CentOS7Httpd24"] if r[1] == "bind-license")
    assert bind.version == f"{row[0]}:{row[2]}-{row[3]}"
    assert (bind.source_name, bind.source_version) == ("bind", bind.version)
    assert bind.purl == f"pkg:rpm/bind-license@{row[2]}-{row[3]}?arch=noarch&epoch={row[0]}"
    assert list(facts.components) == sorted(facts.components)
    assert _analyze("var/lib/rpm/Packages", _bdb("centos7-httpd24")) == facts


def test_truncated_or_garbage_databases_become_unknowns() -> None:
    data = _bdb("centos7-plain")
    for path, content in (
        ("var/lib/rpm/Packages", data[: len(data) // 2]),
        ("var/lib/rpm/Packages", b"\x00" * 4096),
        ("var/lib/rpm/Packages.db", b"RpmP" + b"\x00" * 100),
        ("var/lib/rpm/rpmdb.sqlite", b"not sqlite at all"),
        ("var/lib/rpm/rpmdb.sqlite", b"SQLite format 3\x00" + b"\xff" * 200),
    ):
        facts = _analyze(path, content)
        assert facts.components == ()
        assert len(facts.unknowns) == 1
        assert facts.unknowns[0].path == path and facts.unknowns[0].analyzer == "rpm"


def test_corrupt_overflow_pointer_is_an_unknown() -> None:
    data = bytearray(_bdb("centos7-plain"))
    page_size = struct.unpack_from("<I", data, 20)[0]
    # point the first off-page item of the first hash page at a page beyond the file
    for pgno in range(1, len(data) // page_size):
        base = pgno * page_size
        if data[base + 25] == 13:
            n = struct.unpack_from("<H", data, base + 20)[0]
            offs = struct.unpack_from(f"<{n}H", data, base + 26)
            item = next(o for o in offs[1::2] if data[base + o] == 3)
            struct.pack_into("<I", data, base + item + 4, 0x7FFFFFF0)
            break
    facts = _analyze("var/lib/rpm/Packages", bytes(data))
    assert facts.components == ()
    assert "overflow" in facts.unknowns[0].reason


def test_header_parser_rejects_bad_blobs() -> None:
    blob = next(v for k, v in iter_hash_items(_bdb("centos5-plain")) if k != b"\0" * 4)
    assert parse_header(blob).name == "setup"
    with pytest.raises(HeaderError):
        parse_header(blob[:100])
    bad = bytearray(blob)
    struct.pack_into(">I", bad, 0, 0)  # zero index entries
    with pytest.raises(HeaderError):
        parse_header(bytes(bad))
    bad = bytearray(blob)
    struct.pack_into(">i", bad, 8 + 8, 10**8)  # first entry's offset far outside the store
    with pytest.raises(HeaderError):
        parse_header(bytes(bad))


def _ndb(blobs: list[bytes]) -> bytes:
    """An ndb Packages.db holding ``blobs`` (layout of rpm's lib/backend/ndb/rpmpkg.c)."""
    page = bytearray(4096)
    for off in range(0, 4096, 16):
        page[off : off + 4] = b"Slot"
    page[0:32] = struct.pack("<4sIIII12x", b"RpmP", 0, 7, 1, len(blobs) + 1)
    body = bytearray()
    for i, blob in enumerate(blobs, 1):
        nblk = (16 + len(blob) + 12 + 15) // 16
        blkoff = (4096 + len(body)) // 16
        struct.pack_into("<4sIII", page, 32 + 16 * (i - 1), b"Slot", i, blkoff, nblk)
        rec = bytearray(struct.pack("<4sIII", b"BlbS", i, 1700000000, len(blob)) + blob)
        rec += b"\x00" * (nblk * 16 - 12 - len(rec))
        rec += struct.pack("<II4s", zlib.adler32(bytes(rec)), len(blob), b"BlbE")
        body += rec
    return bytes(page + body)


def test_ndb_database_of_real_headers() -> None:
    data = _bdb("centos6-plain")
    blobs = [v for k, v in iter_hash_items(data) if k != b"\0" * 4]
    from_bdb = _analyze("var/lib/rpm/Packages.db", data)  # path only names the format
    facts = _analyze("usr/lib/sysimage/rpm/Packages.db", _ndb(blobs))
    assert facts.unknowns == ()
    keys = sum(parse_header(b).name == "gpg-pubkey" for b in blobs)
    assert len(facts.components) == len(blobs) - keys
    assert [(c.name, c.version) for c in facts.components] == [
        (c.name, c.version)
        for c in _analyze("var/lib/rpm/Packages", data).components
        if c.name != "gpg-pubkey"
    ]
    assert from_bdb.unknowns  # a Berkeley DB file is not an ndb file
    corrupt = bytearray(_ndb(blobs[:3]))
    corrupt[4096 + 40] ^= 0xFF  # inside the first blob: adler32 no longer matches
    bad = _analyze("usr/lib/sysimage/rpm/Packages.db", bytes(corrupt))
    assert bad.components == () and "adler32" in bad.unknowns[0].reason


def test_sqlite_rows_with_bad_header_are_unknowns(tmp_path: Path) -> None:
    data = _bdb("centos7-plain")
    blobs = [v for k, v in iter_hash_items(data) if k != b"\0" * 4][:3]
    db = tmp_path / "rpmdb.sqlite"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB)")
        con.executemany("INSERT INTO Packages (blob) VALUES (?)", [(b,) for b in blobs])
        con.execute("INSERT INTO Packages (blob) VALUES (?)", (b"\x00\x00\x00\x01junk",))
    con.close()
    facts = _analyze("var/lib/rpm/rpmdb.sqlite", db.read_bytes())
    assert len(facts.components) == 3
    assert [u.reason.split(":")[0] for u in facts.unknowns] == ["package #4"]


_SPEC = """\
Name: iw-tiny
Version: 1.2.3
Release: 4.el9
{epoch}
Summary: tiny test package
License: MIT
Vendor: Imagewarden Tests
BuildArch: noarch

%description
tiny

%package -n iw-tiny-libs
Summary: libraries
%description -n iw-tiny-libs
libs

%files
%files -n iw-tiny-libs
"""


@pytest.mark.slow
def test_sqlite_database_written_by_rpm(tmp_path: Path) -> None:
    if shutil.which("rpmbuild") is None or shutil.which("rpm") is None:
        pytest.skip("apt-get install rpm")
    for label, epoch in (("a", "Epoch: 3"), ("b", "")):
        spec = tmp_path / f"{label}.spec"
        spec.write_text(_SPEC.format(epoch=epoch).replace("iw-tiny", f"iw-tiny-{label}"))
        subprocess.run(
            ["rpmbuild", "-bb", "--define", f"_topdir {tmp_path / 'top'}", str(spec)],
            check=True,
            capture_output=True,
        )
    root = tmp_path / "root"
    dbpath = ["--root", str(root), "--dbpath", "/var/lib/rpm"]
    subprocess.run(["rpm", "--initdb", *dbpath], check=True, capture_output=True)
    rpms = sorted(str(p) for p in (tmp_path / "top" / "RPMS").rglob("*.rpm"))
    assert len(rpms) == 4
    subprocess.run(["rpm", "-i", *dbpath, "--nodeps", "--justdb", *rpms], check=True)
    qa = subprocess.run(
        ["rpm", "-qa", *dbpath, "--qf", "%{NAME} %{EPOCH}:%{VERSION}-%{RELEASE} %{SOURCERPM}\n"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    want = set()
    for line in qa.splitlines():
        name, v, srpm = line.split()
        v = v.removeprefix("(none):")
        want.add((name, v, split_sourcerpm(srpm)[0]))  # type: ignore[index]
    facts = _analyze("var/lib/rpm/rpmdb.sqlite", (root / "var/lib/rpm/rpmdb.sqlite").read_bytes())
    assert facts.unknowns == ()
    assert {(c.name, c.version, c.source_name) for c in facts.components} == want
    assert ("iw-tiny-a-libs", "3:1.2.3-4.el9", "iw-tiny-a") in want
    libs = next(c for c in facts.components if c.name == "iw-tiny-b-libs")
    assert libs.purl == "pkg:rpm/iw-tiny-b-libs@1.2.3-4.el9?arch=noarch"
    assert libs.source_version == "1.2.3-4.el9"


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    fmt=st.sampled_from(["Packages", "Packages.db"]),
    flips=st.lists(st.tuples(st.integers(0, 10**7), st.integers(0, 255)), min_size=1, max_size=8),
    cut=st.none() | st.integers(0, 10**7),
)
def test_mutated_databases_never_raise(
    fmt: str, flips: list[tuple[int, int]], cut: int | None
) -> None:
    bdb = _bdb("centos5-plain")
    if fmt == "Packages":
        data = bytearray(bdb[: 4096 * 64])
    else:
        data = bytearray(_ndb([v for k, v in iter_hash_items(bdb) if k != b"\0" * 4][:3]))
    for pos, value in flips:
        data[pos % len(data)] = value
    if cut is not None:
        data = data[: cut % len(data)]
    facts = _analyze(f"var/lib/rpm/{fmt}", bytes(data))
    assert all(u.path == f"var/lib/rpm/{fmt}" for u in facts.unknowns)
