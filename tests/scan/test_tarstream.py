"""The libarchive-based tar reader under the walker: odd and hostile headers, exact bytes."""

from __future__ import annotations

import io
import tarfile
from pathlib import PurePosixPath
from typing import IO, cast

import pytest

from imagewarden.scan.errors import (
    DigestMismatchError,
    LayerReadError,
    ScanError,
    UnsafeArchiveError,
)
from imagewarden.scan.tarstream import HARDLINK, REGULAR, SYMLINK, TarReader
from imagewarden.scan.walker import _posix_path, walk_layer
from tests.scan.conftest import Recording, as_layer
from tests.testdata.images.build import (
    BuiltLayer,
    Dir,
    File,
    Hardlink,
    Node,
    Symlink,
    layer_tar,
    make_layer,
    raw_tar,
    tar_info,
)


def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]], fmt: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _entries(tar: bytes, block: int = 64 * 1024) -> list[tuple[str, int, int, str, bool]]:
    with TarReader(io.BytesIO(tar).read, "test", block) as reader:
        return [(e.name, e.kind, e.size, e.linkname, e.sparse) for e in reader]


def _uncompressed(tar: bytes) -> BuiltLayer:
    return BuiltLayer(tar, tar, "application/vnd.oci.image.layer.v1.tar")


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
@pytest.mark.parametrize("block", [100, 512, 64 * 1024])
def test_entry_kinds_in_every_format_and_read_size(fmt: int, block: int) -> None:
    """Small read sizes put headers (and pax records) across chunk boundaries."""
    long = "want/" + "d" * 120 + "/f\u00e9"
    tar = _tar(
        [
            (tar_info("want", Dir()), None),
            (tar_info("want/a", File(b"alpha")), b"alpha"),
            (tar_info(long, File(b"x" * 700)), b"x" * 700),
            (tar_info("want/link", Symlink("a")), None),
            (tar_info("want/hard", Hardlink("want/a")), None),
        ],
        fmt,
    )
    assert [(n, k, s, link) for n, k, s, link, _ in _entries(tar, block)] == [
        ("want/", 0o040000, 0, ""),
        ("want/a", REGULAR, 5, ""),
        (long, REGULAR, 700, ""),
        ("want/link", SYMLINK, 0, "a"),
        ("want/hard", HARDLINK, 0, "want/a"),
    ]
    rec = Recording()
    walk_layer(as_layer(make_layer(tar, "gzip")), [rec])
    assert rec.got == {"want/a": b"alpha", long: b"x" * 700, "want/hard": b"alpha"}


def test_names_keep_undecodable_bytes_as_tarfile_did() -> None:
    info = tar_info("want/caf\udce9", File(b"1"))
    tar = _tar([(info, b"1")], tarfile.GNU_FORMAT)
    assert _entries(tar)[0][0] == "want/caf\udce9"


def test_contiguous_file_type_is_a_regular_file() -> None:
    info = tar_info("want/c", File(b"data"))
    info.type = tarfile.CONTTYPE
    rec = Recording()
    walk_layer(as_layer(make_layer(raw_tar([(info, b"data")]), "none")), [rec])
    assert rec.got == {"want/c": b"data"}


def test_devices_and_fifos_are_skipped_not_refused() -> None:
    dev = tar_info("dev/null", File(b""))
    dev.type, dev.devmajor, dev.devminor = tarfile.CHRTYPE, 1, 3
    fifo = tar_info("want/fifo", File(b""))
    fifo.type = tarfile.FIFOTYPE
    ok = tar_info("want/ok", File(b"ok"))
    rec = Recording()
    walk_layer(as_layer(make_layer(raw_tar([(dev, None), (fifo, None), (ok, b"ok")]))), [rec])
    assert rec.got == {"want/ok": b"ok"}


@pytest.mark.parametrize("flag", [b"Z", b"D", b"M"])
def test_unknown_entry_type_is_refused(flag: bytes) -> None:
    """libarchive would read these as regular files; the runtimes refuse them."""
    info = tar_info("want/odd", File(b"payload"))
    info.type = flag
    tar = raw_tar([(info, b"payload"), (tar_info("want/ok", File(b"")), b"")])
    with pytest.raises(UnsafeArchiveError, match=r"unknown type|claims 7 bytes"):
        walk_layer(as_layer(make_layer(tar)), [Recording()])


@pytest.mark.parametrize(
    "kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.DIRTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE]
)
@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_header_only_entry_claiming_data_does_not_hide_the_next_entry(
    kind: bytes, fmt: int
) -> None:
    """A file placed as the 'data' of a symlink/link/dir/device header: Go's archive/tar
    (what runtimes unpack with) and tarfile read those bytes as the next header, so the
    scanner must too, or it would miss a file the runtime creates."""
    head = tar_info("x", Symlink("y") if kind != tarfile.DIRTYPE else Dir())
    head.type, head.size = kind, 1024
    hidden = tar_info("want/hidden", File(b"evil")).tobuf(fmt) + b"evil".ljust(512, b"\0")
    tar = head.tobuf(fmt) + hidden + b"\0" * 1024
    rec = Recording()
    walk_layer(as_layer(make_layer(tar)), [rec])
    assert rec.got == {"want/hidden": b"evil"}


def test_corrupt_header_after_good_entries_is_an_error_not_the_end() -> None:
    """tarfile took a bad header after the first entry for the end of the archive (and
    dropped what followed); the layer is refused instead."""
    first = raw_tar([(tar_info("want/a", File(b"1")), b"1")])[:1024]
    rest = raw_tar([(tar_info("want/later", File(b"2")), b"2")])
    broken = bytearray(rest)
    broken[148:156] = b"0000000\0"  # wrong header checksum
    with pytest.raises(LayerReadError, match="broken tar stream"):
        walk_layer(as_layer(make_layer(first + bytes(broken))), [Recording()])


def test_pax_path_with_nul_is_refused() -> None:
    """libarchive cuts a pax path at a NUL; tarfile kept it and the walker refused it."""
    info = tar_info("want/p", File(b""))
    info.pax_headers = {"path": "want/pa\x00ssw"}
    tar = _tar([(info, b"")], tarfile.PAX_FORMAT)
    with pytest.raises(UnsafeArchiveError, match="NUL"):
        walk_layer(as_layer(make_layer(tar)), [Recording()])


@pytest.mark.parametrize("size", [900 * 1024, 5 * 1024 * 1024])
def test_extended_headers_large_and_oversized(size: int) -> None:
    info = tar_info("want/p", File(b"1"))
    info.pax_headers = {"comment": "c" * size}
    tar = _tar([(info, b"1")], tarfile.PAX_FORMAT)
    rec = Recording()
    if size < 1024 * 1024:
        walk_layer(as_layer(make_layer(tar, "none")), [rec])
        assert rec.got == {"want/p": b"1"}
    else:  # libarchive refuses pax headers above 1 MiB itself
        with pytest.raises(ScanError, match=r"too large|extended tar headers"):
            walk_layer(as_layer(make_layer(tar, "none")), [rec])


@pytest.mark.parametrize(
    "entries",
    [
        [("a/x", b"1"), ("a", Symlink("/etc")), ("a/y", b"2")],
        [("d/e/f", b"1"), ("d/e", Symlink("/tmp")), ("d/e/g/h", b"2")],
        [("d", Dir()), ("d", Symlink("/")), ("d/new", b"2")],
    ],
)
def test_write_through_a_symlink_that_replaced_a_seen_directory(
    entries: list[tuple[str, Node]],
) -> None:
    built = make_layer(layer_tar(entries))
    with pytest.raises(UnsafeArchiveError, match="through symlink"):
        walk_layer(as_layer(built), [Recording()])


def test_directory_replacing_a_symlink_is_fine_again() -> None:
    entries = [("a", Symlink("/etc")), ("a", Dir()), ("a/want", b"1"), ("want/z", b"z")]
    rec = Recording()
    facts = walk_layer(as_layer(make_layer(layer_tar(entries))), [rec])
    assert facts.symlinks == () and rec.got == {"want/z": b"z"}


def test_data_of_unwanted_files_is_hashed() -> None:
    """No skip callback: bytes of entries nobody reads still go through the diff_id hash."""
    tar = layer_tar({"big/unwanted": b"u" * 300_000, "want/a": b"a"})
    built = _uncompressed(tar)
    tampered = bytearray(tar)
    at = tar.index(b"u" * 1000) + 150_000
    tampered[at] = ord("v")
    layer = as_layer(built)
    layer = layer.__class__(
        layer.digest, layer.diff_id, layer.media_type, layer.size, lambda: io.BytesIO(tampered)
    )
    with pytest.raises(DigestMismatchError):
        walk_layer(layer, [Recording()])


def test_read_errors_cross_libarchive_unchanged() -> None:
    tar = layer_tar({"want/a": b"a" * 100_000})

    class Failing(io.RawIOBase):
        def __init__(self) -> None:
            self.pos = 0

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            if self.pos > 20_000:
                raise OSError("disk on fire")
            out = tar[self.pos : self.pos + min(size, 4096)]
            self.pos += len(out)
            return out

    layer = as_layer(_uncompressed(tar))
    layer = layer.__class__(
        layer.digest,
        layer.diff_id,
        layer.media_type,
        layer.size,
        lambda: cast(IO[bytes], Failing()),
    )
    with pytest.raises(LayerReadError, match="disk on fire"):
        walk_layer(layer, [Recording()])


@pytest.mark.parametrize("path", ["a", "usr/lib/x.so.1", "etc/.pwd.lock", "a/b/c/d/e.tar.gz"])
def test_fast_posix_path_is_a_posix_path(path: str) -> None:
    p, q = _posix_path(path), PurePosixPath(path)
    assert (p, hash(p), str(p), p.name, p.suffix, p.parts, p.parent) == (
        q,
        hash(q),
        str(q),
        q.name,
        q.suffix,
        q.parts,
        q.parent,
    )


def _with_global(name: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(
        fileobj=buf, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"comment": "hi"}
    ) as tar:
        tar.addfile(tar_info(name, File(b"")), io.BytesIO(b""))
    return buf.getvalue()


@pytest.mark.parametrize(
    "tar",
    [
        _tar([(tar_info("caf\u00e9/\u6f22\u5b57", File(b"")), b"")], tarfile.PAX_FORMAT),
        _tar([(tar_info("caf\udce9", File(b"")), b"")], tarfile.PAX_FORMAT),
        _tar([(tar_info("caf\u00e9", File(b"")), b"")], tarfile.USTAR_FORMAT),
        _tar([(tar_info("caf\udce9", File(b"")), b"")], tarfile.GNU_FORMAT),
        _tar([(tar_info("l" * 300, File(b"")), b"")], tarfile.GNU_FORMAT),
        _with_global("after/a/global/header"),
    ],
    ids=["pax-utf8", "pax-binary", "ustar-utf8", "gnu-latin1", "gnu-longname", "pax-global"],
)
def test_names_read_as_tarfile_reads_them(tar: bytes) -> None:
    with tarfile.open(fileobj=io.BytesIO(tar), mode="r|") as reference:
        expected = [m.name for m in reference]
    assert [e[0] for e in _entries(tar)] == expected
