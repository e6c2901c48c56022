"""Builders of hostile images as real OCI layouts (issue 8 §3).

Each builder writes one image under a directory and returns (layout directory, image ID).
The big ones are streamed to disk (a million tar entries, a gzip bomb) or sparse (a
100 GB blob that takes no space), so building them costs seconds, not gigabytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from tests.testdata.images.build import (
    LAYER_MEDIA,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    BuiltLayer,
    File,
    Hardlink,
    Symlink,
    make_image,
    make_layer,
    tar_info,
    write_oci_layout,
)

GiB = 1024**3
MiB = 1024**2
OS_RELEASE = 'NAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n'
STATUS = "Package: libc6\nStatus: install ok installed\nVersion: 2.36-9\n"
# built from two halves so this file itself is not the EICAR test file to any scanner
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
BASE = {"etc/os-release": OS_RELEASE, "var/lib/dpkg/status": STATUS}


def _json(doc: object) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_layout_from_blobs(
    root: Path, tag: str, layers: list[tuple[str, str, str, int]], *, diff_ids: list[str]
) -> tuple[Path, str]:
    """A layout whose layer blobs (``(media type, digest, blob path already in place, size)``)
    were written by the caller; the config, manifest and index are written here."""
    config = _json(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": "2024-01-02T03:04:05Z",
            "config": {"Env": ["PATH=/usr/bin:/bin"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": f"layer {i}"} for i in range(len(layers))],
        }
    )
    manifest = _json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": _digest(config), "size": len(config)},
            "layers": [{"mediaType": mt, "digest": d, "size": size} for mt, d, _, size in layers],
        }
    )
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    for data in (config, manifest):
        (blobs / _digest(data).split(":", 1)[1]).write_bytes(data)
    (root / "oci-layout").write_bytes(_json({"imageLayoutVersion": "1.0.0"}))
    (root / "index.json").write_bytes(
        _json(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [
                    {
                        "mediaType": OCI_MANIFEST,
                        "digest": _digest(manifest),
                        "size": len(manifest),
                        "annotations": {"org.opencontainers.image.ref.name": tag},
                    }
                ],
            }
        )
    )
    return root, _digest(config)


def _simple(root: Path, tag: str, layers: list[BuiltLayer | dict[str, object]]) -> tuple[Path, str]:
    image = make_image(layers)  # type: ignore[arg-type]
    return write_oci_layout(root, [(tag, image)]), image.config_digest


def good(root: Path) -> tuple[Path, str]:
    """A well-formed image: the control that must scan normally next to the hostile ones."""
    return _simple(root, "good:1", [BASE, {"srv/app.conf": "x=1\n"}])


# --- paths and links -------------------------------------------------------------------------


def _raw_layer(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> BuiltLayer:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return make_layer(buf.getvalue(), "gzip")


def traversal(root: Path, marker: Path) -> tuple[Path, str]:
    """An entry named ``../../…/<marker>`` (relative escape to an absolute target)."""
    name = "../" * 32 + str(marker).lstrip("/")
    return _simple(
        root, "traversal:1", [BASE, _raw_layer([(tar_info(name, File(b"pwned")), b"pwned")])]
    )


def _file_info(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def absolute(root: Path, marker: Path) -> tuple[Path, str]:
    """An entry with an absolute name outside any root: ``/tmp/...``."""
    return _simple(root, "absolute:1", [BASE, _raw_layer([_file_info(str(marker), b"pwned")])])


def symlink_write(root: Path, marker: Path) -> tuple[Path, str]:
    """A symlink to the marker's directory, then a file written through it."""
    link = tarfile.TarInfo("evil")
    link.type, link.linkname = tarfile.SYMTYPE, str(marker.parent)
    return _simple(
        root,
        "symlink-write:1",
        [BASE, _raw_layer([(link, None), _file_info(f"evil/{marker.name}", b"pwned")])],
    )


def hardlink_out(root: Path) -> tuple[Path, str]:
    """A hard link to ``/etc/shadow`` of the host, named like a file analyzers read."""
    layer = make_layer([("etc/os-release", Hardlink("../../../../etc/shadow"))])
    return _simple(root, "hardlink:1", [BASE, layer])


def symlink_loops(root: Path) -> tuple[Path, str]:
    """Symlink cycles, including one on the path an analyzer follows (os-release)."""
    layer = make_layer(
        [
            ("etc/os-release", Symlink("../usr/lib/os-release")),
            ("usr/lib/os-release", Symlink("/etc/os-release")),
            ("a", Symlink("b")),
            ("b", Symlink("a/x")),
            ("self", Symlink("self/self")),
        ]
    )
    return _simple(root, "loops:1", [{"var/lib/dpkg/status": STATUS}, layer])


def device_nodes(root: Path) -> tuple[Path, str]:
    """Character and block devices and a FIFO, some under names analyzers and scanners read."""
    members: list[tuple[tarfile.TarInfo, bytes | None]] = []
    for name, kind, major, minor in [
        ("dev/sda", tarfile.BLKTYPE, 8, 0),
        ("dev/mem", tarfile.CHRTYPE, 1, 1),
        ("dev/zero", tarfile.CHRTYPE, 1, 5),
        ("var/lib/dpkg/status.d/evil", tarfile.CHRTYPE, 1, 5),  # a wanted name
        ("srv/pipe", tarfile.FIFOTYPE, 0, 0),
        ("/dev/iw-hostile-node", tarfile.CHRTYPE, 1, 3),
    ]:
        info = tarfile.TarInfo(name)
        info.type, info.devmajor, info.devminor = kind, major, minor
        members.append((info, None))
    return _simple(root, "devices:1", [BASE, _raw_layer(members)])


# --- sizes and counts ------------------------------------------------------------------------


def _write_stream_layer(
    path: Path, chunks: Iterator[bytes], level: int = 1
) -> tuple[str, str, int]:
    """gzip ``chunks`` into ``path`` (one member); → (diff_id, blob digest, blob size)."""
    diff, blob, size = hashlib.sha256(), hashlib.sha256(), 0
    comp = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    with path.open("wb") as fh:
        for chunk in chunks:
            diff.update(chunk)
            out = comp.compress(chunk)
            blob.update(out)
            fh.write(out)
            size += len(out)
        out = comp.flush()
        blob.update(out)
        fh.write(out)
        size += len(out)
    return "sha256:" + diff.hexdigest(), "sha256:" + blob.hexdigest(), size


def _place(root: Path, tmp: Path, digest: str) -> None:
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    tmp.rename(blobs / digest.split(":", 1)[1])


def million_entries(root: Path, entries: int = 1_000_001) -> tuple[Path, str]:
    """One layer of ``entries`` empty regular files with distinct names (ustar headers made
    by hand: tarfile would take minutes), gzip-compressed."""
    template = bytearray(tar_info("x", File(b"")).tobuf(tarfile.USTAR_FORMAT))
    assert len(template) == 512
    template[0:100] = bytes(100)
    template[148:156] = b" " * 8
    base_sum = sum(template)

    def chunks() -> Iterator[bytes]:
        batch = bytearray()
        for i in range(entries):
            name = b"d%04d/f%07d" % (i // 1000, i)
            header = bytearray(template)
            header[0 : len(name)] = name
            header[148:156] = b"%06o\0 " % (base_sum + sum(name))
            batch += header
            if len(batch) >= 4 * MiB:
                yield bytes(batch)
                batch.clear()
        yield bytes(batch) + bytes(1024)

    root.mkdir(parents=True, exist_ok=True)
    tmp = root / "layer.tmp"
    diff_id, digest, size = _write_stream_layer(tmp, chunks())
    _place(root, tmp, digest)
    return write_layout_from_blobs(
        root, "million:1", [(LAYER_MEDIA["gzip"], digest, "", size)], diff_ids=[diff_id]
    )


def gzip_bomb(root: Path, inflated: int = 2 * GiB) -> tuple[Path, str]:
    """One file of ``inflated`` zero bytes: a ~2 MB blob (multi-member gzip, the same
    64 MiB-of-zeros member repeated), ratio ~1000:1, a valid tar to its end."""
    header = tar_info("srv/bomb.bin", File(b"")).tobuf(tarfile.GNU_FORMAT)
    info = tarfile.TarInfo.frombuf(header, "utf-8", "surrogateescape")
    info.size = inflated
    header = info.tobuf(tarfile.GNU_FORMAT)
    zeros = bytes(64 * MiB)
    member = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros_gz = member.compress(zeros) + member.flush()
    diff = hashlib.sha256(header)
    for _ in range(inflated // len(zeros)):
        diff.update(zeros)
    diff.update(bytes(1024))
    head_gz = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    tail_gz = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / "layer.tmp"
    blob = hashlib.sha256()
    with tmp.open("wb") as fh:
        parts = [head_gz.compress(header) + head_gz.flush()]
        parts += [zeros_gz] * (inflated // len(zeros))
        parts.append(tail_gz.compress(bytes(1024)) + tail_gz.flush())
        size = 0
        for p in parts:
            fh.write(p)
            blob.update(p)
            size += len(p)
    digest = "sha256:" + blob.hexdigest()
    _place(root, tmp, digest)
    return write_layout_from_blobs(
        root,
        "bomb:1",
        [(LAYER_MEDIA["gzip"], digest, "", size)],
        diff_ids=["sha256:" + diff.hexdigest()],
    )


def sparse_entry(root: Path, apparent: int = 100 * 10**9) -> tuple[Path, str]:
    """A PAX (GNU 1.0) sparse file whose apparent size is 100 GB, 1 KiB of real data."""
    info = tarfile.TarInfo("srv/sparse.img")
    info.size = 1024
    info.pax_headers = {
        "GNU.sparse.major": "1",
        "GNU.sparse.minor": "0",
        "GNU.sparse.name": "srv/sparse.img",
        "GNU.sparse.realsize": str(apparent),
    }
    data = b"1\n0\n512\n".ljust(512, b"\0") + b"A" * 512
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(data))
    return _simple(root, "sparse:1", [BASE, make_layer(buf.getvalue(), "gzip")])


def _sparse_blob_layout(root: Path, tag: str, size: int, declared: int) -> tuple[Path, str]:
    """A base layer, then a layer whose blob is a ``size``-byte sparse file (no disk used)
    under the digest the manifest names, with ``declared`` as its descriptor's size."""
    base = make_layer(BASE, "gzip")
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (blobs / base.digest.split(":", 1)[1]).write_bytes(base.blob)
    claimed = _digest(f"the {tag} layer".encode())
    with (blobs / claimed.split(":", 1)[1]).open("wb") as fh:
        fh.truncate(size)
    return write_layout_from_blobs(
        root,
        tag,
        [
            (base.media_type, base.digest, "", len(base.blob)),
            (LAYER_MEDIA["none"], claimed, "", declared),
        ],
        diff_ids=[base.diff_id, _digest(b"its diff_id")],
    )


def huge_blob(root: Path, size: int = 100 * 10**9) -> tuple[Path, str]:
    """A manifest whose second layer is a 100 GB blob, and says so."""
    return _sparse_blob_layout(root, "huge-blob:1", size, size)


def understated_blob(root: Path, size: int = 100 * 10**9) -> tuple[Path, str]:
    """A manifest that declares a 10 KiB layer whose blob is a 100 GB (sparse) file: the
    declared size must stop the read, not the layer-size limit."""
    return _sparse_blob_layout(root, "understated-blob:1", size, 10 * 1024)


def config_mismatch(root: Path) -> tuple[Path, str]:
    """An image whose config blob is changed on disk after it was built (and registered):
    its bytes no longer hash to the digest the manifest names."""
    image = make_image([BASE, {"srv/config-mismatch": "1\n"}])
    layout = write_oci_layout(root, [("cfg:1", image)])
    return layout, image.config_digest


def tamper_config(layout: Path, image_id: str) -> None:
    path = layout / "blobs" / "sha256" / image_id.split(":", 1)[1]
    path.write_bytes(path.read_bytes().replace(b"amd64", b"arm64"))


def layer_mismatch(root: Path) -> tuple[Path, str]:
    """A layer blob replaced by another valid layer (right format, wrong digest)."""
    image = make_image([BASE, {"srv/layer-mismatch": "1\n"}])
    layout = write_oci_layout(root, [("layer:1", image)])
    other = make_layer({"srv/layer-mismatch": "2\n"})
    (layout / "blobs" / "sha256" / image.layers[1].digest.split(":", 1)[1]).write_bytes(other.blob)
    return layout, image.config_digest


# --- the malware scanner ---------------------------------------------------------------------


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buf.getvalue()


def nested_archives(root: Path, depth: int = 200) -> tuple[Path, str]:
    """EICAR at the bottom of ``depth`` nested zips, and a nested zip bomb (10 × 10 × 10
    members of 4 MiB of zeros: 4 GiB inflated from a few hundred KiB)."""
    data = _zip({"payload/eicar.com": EICAR})
    for level in range(depth):
        data = _zip({f"level{level}.zip": data})
    level1 = _zip({f"zero{i}.bin": bytes(4 * MiB) for i in range(10)})
    level2 = _zip({f"l1-{i}.zip": level1 for i in range(10)})
    bomb = _zip({f"l2-{i}.zip": level2 for i in range(10)})
    return _simple(root, "nested:1", [BASE, {"opt/deep.zip": data, "opt/bomb.zip": bomb}])
