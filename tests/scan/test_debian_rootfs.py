"""A real Debian bookworm root filesystem (mmdebstrap), packed as real images and scanned.

The expected package set comes from dpkg itself (``dpkg-query --admindir``) on the same
root.  The rootfs is split into two layers so the merge is exercised: the lower layer
carries a *stale* dpkg status (with an extra package) plus two distroless-style
``status.d`` entries, and the upper layer rewrites the status, whites one entry out and
makes ``status.d`` opaque — only the real package set may survive.

Needs the Debian packages ``mmdebstrap`` and ``dpkg`` and the apt mirror configured on the
host (``/etc/apt/sources.list*``).
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from imagewarden.scan.cache import InMemoryLayerCache
from imagewarden.scan.pipeline import scan_image
from imagewarden.scan.source import open_source
from tests.testdata.images.build import (
    make_image,
    make_layer,
    write_docker_archive,
    write_oci_layout,
)

pytestmark = pytest.mark.slow

PACKAGES = "zlib1g,libssl3,openssl,ca-certificates,tzdata"
STATUS = "var/lib/dpkg/status"
STALE = (
    "Package: stale-package\nStatus: install ok installed\nArchitecture: amd64\nVersion: 9.9-9\n"
)
GHOST = "Package: ghost\nVersion: 1.0\nArchitecture: all\n"


def _mirror() -> str:
    for path in sorted(Path("/etc/apt").glob("sources.list*")) + sorted(
        Path("/etc/apt/sources.list.d").glob("*")
    ):
        if not path.is_file() or path.name.endswith(".disabled-by-farm"):
            continue
        text = path.read_text(errors="replace")
        for m in re.finditer(r"^URIs:\s*(\S+)", text, re.M):
            if "security" not in m.group(1):
                return m.group(1)
        for m in re.finditer(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)", text, re.M):
            if "security" not in m.group(1):
                return m.group(1)
    return "http://deb.debian.org/debian"


@dataclass(frozen=True)
class Rootfs:
    tar: Path  # the rootfs tarball mmdebstrap wrote
    root: Path  # just the dpkg database, extracted, for dpkg-query --admindir


@pytest.fixture(scope="session")
def debian_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Rootfs:
    if shutil.which("mmdebstrap") is None or shutil.which("dpkg-query") is None:
        pytest.fail("the slow tests need the Debian packages mmdebstrap and dpkg")
    work = tmp_path_factory.mktemp("debian")
    tar_path = work / "rootfs.tar"
    # --variant=essential: --variant=custom cannot run maintainer scripts without a shell
    cmd = [
        "mmdebstrap",
        "--variant=essential",
        f"--include={PACKAGES}",
        "--quiet",
        "bookworm",
        str(tar_path),
        _mirror(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    if proc.returncode != 0:
        pytest.fail(f"mmdebstrap failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    root = work / "root"
    (root / "var/lib/dpkg").mkdir(parents=True)
    with tarfile.open(tar_path) as tar:
        member = tar.getmember("./" + STATUS)
        fh = tar.extractfile(member)
        assert fh is not None
        (root / STATUS).write_bytes(fh.read())
    return Rootfs(tar_path, root)


def _expected(rootfs: Rootfs) -> set[tuple[str, str]]:
    out = subprocess.run(
        [
            "dpkg-query",
            "-W",
            "-f=${Package} ${Version}\\n",
            f"--admindir={rootfs.root / 'var/lib/dpkg'}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {tuple(line.split(" ", 1)) for line in out.splitlines() if line}  # type: ignore[misc]


def _two_layers(rootfs: Rootfs) -> tuple[bytes, bytes]:
    """Lower: the rootfs with a stale status and status.d entries; upper: the fixes."""
    real_status = (rootfs.root / STATUS).read_bytes()
    lower = io.BytesIO()
    with (
        tarfile.open(rootfs.tar) as src,
        tarfile.open(fileobj=lower, mode="w", format=tarfile.PAX_FORMAT) as dst,
    ):
        for member in src:
            if member.name == "./" + STATUS:
                stale = real_status + b"\n" + STALE.encode()
                member.size = len(stale)
                dst.addfile(member, io.BytesIO(stale))
            elif member.isreg():
                dst.addfile(member, src.extractfile(member))
            else:
                dst.addfile(member)
        for name, body in (("ghost", GHOST), ("ghost2", GHOST.replace("ghost", "ghost2"))):
            info = tarfile.TarInfo(f"./var/lib/dpkg/status.d/{name}")
            info.size = len(body)
            dst.addfile(info, io.BytesIO(body.encode()))
    upper = make_layer(
        [
            ("var/lib/dpkg/status.d/.wh.ghost", b""),
            ("var/lib/dpkg/status.d/.wh..wh..opq", b""),
            ("usr/share/doc/.wh.tzdata", b""),
            (STATUS, real_status),
        ],
        "none",
    ).tar
    return lower.getvalue(), upper


@pytest.fixture(scope="session")
def debian_images(
    debian_rootfs: Rootfs, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    work = tmp_path_factory.mktemp("debian-images")
    lower, upper = _two_layers(debian_rootfs)
    oci = make_image(
        [make_layer(lower, "zstd"), make_layer(upper, "gzip")], created="2025-05-20T00:00:00Z"
    )
    write_oci_layout(work / "oci", [("bookworm", oci)])
    docker = make_image([make_layer(lower, "none"), make_layer(upper, "none")])
    write_docker_archive(work / "docker.tar", [(["local/debian:bookworm"], docker)])
    return {
        "oci": f"oci:{work / 'oci'}:bookworm",
        "docker": f"docker-archive:{work / 'docker.tar'}",
    }


@pytest.mark.parametrize("kind", ["oci", "docker"])
def test_real_debian_rootfs_package_set(
    debian_rootfs: Rootfs, debian_images: dict[str, str], kind: str
) -> None:
    expected = _expected(debian_rootfs)
    assert (
        len(expected) > 20
        and ("openssl", next(v for n, v in expected if n == "openssl")) in expected
    )
    src = open_source(debian_images[kind])
    try:
        report = scan_image(src, cache=InMemoryLayerCache())
    finally:
        src.close()
    got = {(c.name, c.version) for c in report.components}
    assert got == expected
    assert report.os is not None and report.os.name == "debian:12"
    assert report.layer_count == 2
    libssl = next(c for c in report.components if c.name == "libssl3")
    assert libssl.source_name == "openssl"
    assert libssl.purl.startswith("pkg:deb/debian/libssl3@") and "distro=debian-12" in libssl.purl
    assert report.unknowns == ()
