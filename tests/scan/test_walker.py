"""The streaming layer walker on real tar layers: compression, links, whiteouts, limits."""

from __future__ import annotations

import gzip
import io
import tarfile
import time
from pathlib import Path, PurePosixPath

import pytest

from imagewarden.scan.analyzer.base import FileInfo
from imagewarden.scan.analyzer.dpkg import DpkgAnalyzer
from imagewarden.scan.analyzer.os_release import OsReleaseAnalyzer
from imagewarden.scan.errors import (
    DigestMismatchError,
    LayerReadError,
    ScanError,
    UnsafeArchiveError,
)
from imagewarden.scan.model import Digest
from imagewarden.scan.source.base import Layer, LocalBlob
from imagewarden.scan.walker import WalkLimits, normalize_path, resolve_symlinks, walk_layer
from tests.scan.conftest import STATUS, Counting, Exploding, Recording, as_layer
from tests.testdata.images.build import (
    BuiltLayer,
    Dir,
    File,
    Hardlink,
    Symlink,
    compress,
    layer_tar,
    make_layer,
    raw_tar,
    tar_info,
)


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_compression_detected_by_magic_and_wanted_files_read(compression: str) -> None:
    rec = Recording()
    built = make_layer(
        {"want/a": b"alpha", "want/sub/b": b"beta", "other/c": b"gamma"}, compression
    )
    facts = walk_layer(as_layer(built), [rec])
    assert rec.got == {"want/a": b"alpha", "want/sub/b": b"beta"}
    # every file the layer writes, wanted or not: it replaces what lower layers said there
    assert facts.facts_paths == ("other/c", "want/a", "want/sub/b")


def test_multi_member_gzip_is_one_stream() -> None:
    tar = layer_tar({"want/x": b"1" * 5000, "want/y": b"2" * 5000})
    blob = gzip.compress(tar[:3000], mtime=0) + gzip.compress(tar[3000:], mtime=0)
    rec = Recording()
    walk_layer(as_layer(BuiltLayer(tar, blob, "x")), [rec])
    assert rec.got == {"want/x": b"1" * 5000, "want/y": b"2" * 5000}


def test_names_are_normalised() -> None:
    rec = Recording()
    built = make_layer([("./want/a", b"1"), ("/want/b", b"2"), ("want/./c/../d", b"3")])
    walk_layer(as_layer(built), [rec])
    assert rec.got == {"want/a": b"1", "want/b": b"2", "want/d": b"3"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [("./a/b", "a/b"), ("/a//b/", "a/b"), ("a/./b/../c", "a/c"), (".", ""), ("./", "")],
)
def test_normalize_path(name: str, expected: str) -> None:
    assert normalize_path(name) == expected


@pytest.mark.parametrize("name", ["../x", "a/../../x", "/../etc/passwd", "./../../x"])
def test_normalize_path_rejects_escapes(name: str) -> None:
    with pytest.raises(UnsafeArchiveError, match="escapes"):
        normalize_path(name)


def test_whiteouts_and_opaque_dirs_recorded() -> None:
    built = make_layer(
        [
            ("etc/.wh.gone", b""),
            ("var/lib/dpkg/status.d/.wh..wh..opq", b""),
            (".wh.top", b""),
            ("x/.wh..wh.plnk", b""),  # aufs metadata: ignored
        ]
    )
    facts = walk_layer(as_layer(built), [])
    assert facts.whiteouts == ("etc/gone", "top")
    assert facts.opaque_dirs == ("var/lib/dpkg/status.d",)


def test_symlinks_recorded() -> None:
    built = make_layer(
        {"etc/os-release": Symlink("../usr/lib/os-release"), "bin": Symlink("usr/bin")}
    )
    facts = walk_layer(as_layer(built), [])
    assert facts.symlinks == (("bin", "usr/bin"), ("etc/os-release", "../usr/lib/os-release"))


def test_hard_link_to_an_earlier_wanted_file() -> None:
    rec = Recording()
    built = make_layer([("want/orig", b"payload"), ("want/link", Hardlink("want/orig"))])
    walk_layer(as_layer(built), [rec])
    assert rec.got == {"want/orig": b"payload", "want/link": b"payload"}


def test_hard_link_to_an_unwanted_file_is_read_in_a_second_pass() -> None:
    rec = Recording()
    opened = 0
    built = make_layer([("store/blob", b"deep"), ("want/link", Hardlink("./store/blob"))])
    layer = as_layer(built)
    inner_open = layer.open

    def counting_open():  # type: ignore[no-untyped-def]
        nonlocal opened
        opened += 1
        return inner_open()

    from dataclasses import replace

    walk_layer(replace(layer, open=counting_open), [rec])
    assert rec.got == {"want/link": b"deep"}
    assert opened == 2


def test_hard_link_to_missing_target_is_unknown() -> None:
    rec = Recording()
    facts = walk_layer(as_layer(make_layer([("want/link", Hardlink("nowhere"))])), [rec])
    assert [(u.path, u.analyzer) for u in facts.unknowns] == [("want/link", "recording")]
    assert rec.got == {}


def test_file_above_the_cap_is_unknown_not_read() -> None:
    rec = Recording()
    built = make_layer({"want/big": b"x" * 5000, "want/small": b"ok"})
    facts = walk_layer(as_layer(built), [rec], WalkLimits(max_file_size=1000))
    assert rec.got == {"want/small": b"ok"}
    assert len(facts.unknowns) == 1
    assert facts.unknowns[0].path == "want/big" and "cap" in facts.unknowns[0].reason


def test_failing_analyzer_becomes_unknown() -> None:
    built = make_layer({"a.boom": b"x", "var/lib/dpkg/status": STATUS})
    facts = walk_layer(as_layer(built), [Exploding(), DpkgAnalyzer()])
    assert [(u.path, u.analyzer) for u in facts.unknowns] == [("a.boom", "exploding")]
    assert "kaboom" in facts.unknowns[0].reason
    assert {c.name for c in facts.components} == {"libc6", "zlib1g"}


def test_buffer_budget_runs_analyzers_early_without_losing_files() -> None:
    counting = Counting(Recording())
    files = {f"want/{i}": bytes([i]) * 400 for i in range(10)}
    walk_layer(as_layer(make_layer(files)), [counting], WalkLimits(max_buffered_bytes=1000))
    assert counting.calls >= 4
    assert sorted(counting.paths) == sorted(files)


def test_only_wanted_analyzers_are_called() -> None:
    dpkg = Counting(DpkgAnalyzer())
    osr = Counting(OsReleaseAnalyzer())
    walk_layer(as_layer(make_layer({"var/lib/dpkg/status": STATUS})), [dpkg, osr])
    assert (dpkg.calls, osr.calls) == (1, 0)


def test_empty_layer() -> None:
    tar = layer_tar({})
    facts = walk_layer(as_layer(BuiltLayer(tar, compress(tar, "gzip"), "x")), [Recording()])
    assert facts.components == () and facts.whiteouts == ()


# ------------------------------------------------------------------------------------------
# hostile layers


def _assert_nothing_written(tmp_path: Path, marker: str) -> None:
    for base in (Path.cwd(), tmp_path, tmp_path.parent, Path("/tmp"), Path("/etc")):
        assert (
            not list(base.glob(f"**/{marker}"))
            if base == tmp_path
            else not (base / marker).exists()
        )


@pytest.mark.parametrize(
    "name", ["../escape-marker-1", "a/../../escape-marker-1", "/../../../tmp/escape-marker-1"]
)
def test_traversal_entry(name: str, tmp_path: Path) -> None:
    built = make_layer([(name, b"pwned")])
    with pytest.raises(UnsafeArchiveError, match="escapes"):
        walk_layer(as_layer(built), [Recording()])
    _assert_nothing_written(tmp_path, "escape-marker-1")


@pytest.mark.parametrize("target", ["/etc", "../../../../tmp", "/"])
def test_write_through_symlink(target: str, tmp_path: Path) -> None:
    built = make_layer([("evil", Symlink(target)), ("evil/escape-marker-2", b"pwned")])
    with pytest.raises(UnsafeArchiveError, match="through symlink"):
        walk_layer(as_layer(built), [Recording()])
    _assert_nothing_written(tmp_path, "escape-marker-2")


def test_hard_link_escaping_the_root() -> None:
    built = make_layer([("want/passwd", Hardlink("../../../etc/passwd"))])
    with pytest.raises(UnsafeArchiveError, match="escapes"):
        walk_layer(as_layer(built), [Recording()])


def test_symlink_loop_is_recorded_and_resolution_stops() -> None:
    built = make_layer([("a", Symlink("b")), ("b", Symlink("/a")), ("c", Symlink("c/d"))])
    facts = walk_layer(as_layer(built), [])
    links = dict(facts.symlinks)
    assert links == {"a": "b", "b": "/a", "c": "c/d"}
    for path in ("a", "a/x", "c"):
        resolved, problem = resolve_symlinks(path, links, max_hops=40)
        assert resolved is None and problem is not None and "hops" in problem


def test_resolve_symlinks_stays_inside_the_root() -> None:
    links = {"etc/os-release": "../usr/lib/os-release", "up": "../../../../usr", "abs": "/usr/lib"}
    assert resolve_symlinks("etc/os-release", links) == ("usr/lib/os-release", None)
    assert resolve_symlinks("up/lib/x", links) == ("usr/lib/x", None)
    assert resolve_symlinks("abs/os-release", links) == ("usr/lib/os-release", None)


def test_gzip_bomb_stops_on_ratio() -> None:
    tar = layer_tar({"zeros": File(b"\0" * (24 * 1024 * 1024))})
    built = BuiltLayer(tar, gzip.compress(tar, compresslevel=9, mtime=0), "x")
    assert len(tar) / len(built.blob) > 500
    limits = WalkLimits(max_ratio=100, ratio_grace_bytes=1024 * 1024)
    start = time.monotonic()
    with pytest.raises(UnsafeArchiveError, match="ratio"):
        walk_layer(as_layer(built), [Recording()], limits)
    assert time.monotonic() - start < 5


def test_layer_byte_limit() -> None:
    built = make_layer({"a": b"x" * 200_000})
    with pytest.raises(UnsafeArchiveError, match="bytes"):
        walk_layer(as_layer(built), [], WalkLimits(max_layer_bytes=100_000))


def test_huge_entry_header_is_refused_without_reading() -> None:
    info = tar_info("want/huge", File(b""))
    info.size = 10 * 10**9  # a header claiming 10 GB, no data behind it
    tar = raw_tar([(info, None)])[:1024]  # header only
    built = BuiltLayer(tar, tar, "x")
    with pytest.raises(UnsafeArchiveError, match="10000000000 bytes"):
        walk_layer(as_layer(built), [Recording()])


def test_sparse_entry_with_huge_apparent_size_is_refused() -> None:
    info = tarfile.TarInfo("want/sparse")
    info.size = 1024
    info.pax_headers = {
        "GNU.sparse.major": "1",
        "GNU.sparse.minor": "0",
        "GNU.sparse.name": "want/sparse",
        "GNU.sparse.realsize": str(10 * 10**9),
    }
    data = b"1\n0\n512\n".ljust(512, b"\0") + b"A" * 512
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(data))
    built = make_layer(buf.getvalue(), "gzip")
    with pytest.raises(UnsafeArchiveError, match="limit"):
        walk_layer(as_layer(built), [Recording()])
    # below the entry limit it is still never read: an Unknown
    facts = walk_layer(as_layer(built), [Recording()], WalkLimits(max_entry_size=20 * 10**9))
    assert [u.reason for u in facts.unknowns] == ["sparse file not read"]


def test_too_many_entries() -> None:
    header = tar_info("f", File(b"")).tobuf(tarfile.USTAR_FORMAT)
    tar = header * 200_000 + b"\0" * 1024
    built = BuiltLayer(tar, tar, "x")
    start = time.monotonic()
    with pytest.raises(UnsafeArchiveError, match="more than 1000 entries"):
        walk_layer(as_layer(built), [Recording()], WalkLimits(max_entries=1000))
    assert time.monotonic() - start < 5


def test_path_depth_and_length_limits() -> None:
    deep = make_layer([("/".join(["d"] * 50) + "/f", b"x")])
    with pytest.raises(UnsafeArchiveError, match="deeper"):
        walk_layer(as_layer(deep), [], WalkLimits(max_path_depth=20))
    long = make_layer([("x" * 300, b"x")])
    with pytest.raises(UnsafeArchiveError, match="longer"):
        walk_layer(as_layer(long), [], WalkLimits(max_path_length=200))


def test_truncated_gzip() -> None:
    tar = layer_tar({"want/a": bytes(range(256)) * 400, "want/b": b"b" * 1000})
    blob = compress(tar, "gzip")
    cut = blob[: len(blob) // 2]
    with pytest.raises(LayerReadError, match="truncated"):
        walk_layer(as_layer(BuiltLayer(tar, cut, "x")), [Recording()])


def test_corrupt_gzip() -> None:
    tar = layer_tar({"want/a": bytes(range(256)) * 400})
    blob = bytearray(compress(tar, "gzip"))
    blob[40:60] = b"\xff" * 20
    with pytest.raises(LayerReadError):
        walk_layer(as_layer(BuiltLayer(tar, bytes(blob), "x")), [Recording()])


def test_truncated_zstd_is_an_error() -> None:
    tar = layer_tar({"want/a": bytes(range(256)) * 400, "want/b": b"b" * 1000})
    blob = compress(tar, "zstd")
    with pytest.raises(ScanError):
        walk_layer(as_layer(BuiltLayer(tar, blob[: len(blob) // 2], "x")), [Recording()])


def test_not_a_tar() -> None:
    data = b"this is not a tar archive at all" * 40
    with pytest.raises(LayerReadError):
        walk_layer(as_layer(BuiltLayer(data, compress(data, "gzip"), "x")), [])


def test_layer_digest_mismatch() -> None:
    good = make_layer({"a": b"1"})
    other = make_layer({"a": b"2"})
    layer = as_layer(BuiltLayer(good.tar, other.blob, good.media_type))
    layer = layer.__class__(
        layer.digest.__class__(good.digest), layer.diff_id, layer.media_type, layer.size, layer.open
    )
    with pytest.raises(DigestMismatchError, match="blob"):
        walk_layer(layer, [])


def test_diff_id_mismatch() -> None:
    good = make_layer({"a": b"1"})
    other = make_layer({"a": b"2"})
    with pytest.raises(DigestMismatchError, match="diff_id"):
        walk_layer(as_layer(BuiltLayer(other.tar, good.blob, good.media_type)), [])


def test_directories_are_fine() -> None:
    facts = walk_layer(
        as_layer(make_layer({"usr": Dir(), "usr/lib": Dir(), "usr/lib/x": b"1"})), []
    )
    assert facts == facts.__class__(facts_paths=("usr/lib/x",))


# --- declared sizes and local blobs ------------------------------------------------------------


class _Zeros(io.RawIOBase):
    """An endless stream of NUL bytes that counts what was read from it."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        n = 1 << 20 if size is None or size < 0 else size
        self.read_bytes += n
        return bytes(n)


def test_a_blob_longer_than_declared_is_refused_without_reading_the_rest() -> None:
    """A descriptor that declares a small blob cannot make the walk read a huge one: the
    stream is read to the declared size plus one byte, then refused."""
    zeros = _Zeros()
    layer = Layer(
        Digest("sha256:" + "0" * 64), Digest("sha256:" + "1" * 64), "x", 10_240, open=lambda: zeros
    )
    with pytest.raises(LayerReadError, match="larger than the 10240 bytes declared"):
        walk_layer(layer, [])
    assert zeros.read_bytes <= 10_241


def test_a_blob_shorter_than_declared_is_refused() -> None:
    built = make_layer({"a": b"1"})
    layer = as_layer(built)
    short = Layer(layer.digest, layer.diff_id, layer.media_type, layer.size + 1, open=layer.open)
    with pytest.raises(LayerReadError, match="shorter than the"):
        walk_layer(short, [])


def _local(built: BuiltLayer, path: Path, prefix: bytes = b"") -> Layer:
    """``built``'s blob as a local file (after ``prefix``, as a member inside an archive)."""
    path.write_bytes(prefix + built.blob + b"trailing bytes of the archive")
    blob = LocalBlob(str(path), len(prefix), len(built.blob))
    layer = as_layer(built)
    return Layer(layer.digest, layer.diff_id, layer.media_type, layer.size, layer.open, blob)


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_local_blob_gives_the_same_facts_as_the_stream(compression: str, tmp_path: Path) -> None:
    """Hashed on a second thread, parsed through its own handle: same facts as streaming."""
    files = {"want/a": b"alpha", "want/b": Hardlink("want/a"), "x": Symlink("want/a"), "w": Dir()}
    built = make_layer(files, compression)
    streamed, local = Recording(), Recording()
    facts = walk_layer(as_layer(built), [streamed])
    assert walk_layer(_local(built, tmp_path / "blob", b"P" * 1536), [local]) == facts
    assert local.got == streamed.got == {"want/a": b"alpha", "want/b": b"alpha"}


@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_local_blob_digest_mismatch(compression: str, tmp_path: Path) -> None:
    """A byte flipped inside a file nobody reads still fails the layer (blob or diff_id)."""
    built = make_layer({"want/a": b"alpha", "skip/b": b"b" * 4000}, compression)
    layer = _local(built, tmp_path / "blob")
    data = bytearray((tmp_path / "blob").read_bytes())
    at = data.find(b"b" * 4000) if compression == "none" else len(built.blob) // 2
    data[at] ^= 0x01
    (tmp_path / "blob").write_bytes(bytes(data))
    with pytest.raises((DigestMismatchError, LayerReadError)):
        walk_layer(layer, [Recording()])


def test_local_blob_written_while_it_is_read_fails_the_layer(tmp_path: Path) -> None:
    """The blob is read through two handles (parse, hash): a write in between must fail the
    layer, never pair the facts of one content with the digest of another."""
    built = make_layer({"want/a": b"alpha", "want/z": b"omega"}, "none")
    layer = _local(built, tmp_path / "blob")

    class Writer(Recording):
        def wants(self, path: PurePosixPath, info: FileInfo) -> bool:
            if str(path) == "want/z":
                with open(tmp_path / "blob", "r+b") as fh:  # same bytes, new ctime
                    fh.write((tmp_path / "blob").read_bytes()[:16])
            return super().wants(path, info)

    with pytest.raises(LayerReadError, match="changed while the layer was read"):
        walk_layer(layer, [Writer()])


def test_local_blob_of_another_size_than_declared(tmp_path: Path) -> None:
    built = make_layer({"a": b"1"}, "gzip")
    layer = _local(built, tmp_path / "blob")
    wrong = Layer(
        layer.digest, layer.diff_id, layer.media_type, layer.size - 1, layer.open, layer.local
    )
    with pytest.raises(LayerReadError, match="its manifest declares"):
        walk_layer(wrong, [])
