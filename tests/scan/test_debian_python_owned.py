"""A real Debian bookworm root filesystem with Debian's Python packages (mmdebstrap).

Every Python distribution in it was installed by dpkg (python3-pip, python3-requests, ...):
each must be reported, owned by the Debian package dpkg itself says installed it
(``dpkg-query --admindir ROOT -S PATH``), and matched only through that package.  A
distribution pip installs on top (an upper layer) is not owned.

Needs the Debian packages ``mmdebstrap`` and ``dpkg`` and the apt mirror configured on the
host, like ``tests/scan/test_debian_rootfs.py``.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from imagewarden.scan.cache import InMemoryLayerCache
from imagewarden.scan.pipeline import scan_image
from imagewarden.scan.source import open_source
from tests.scan.test_debian_rootfs import PACKAGES, _mirror
from tests.testdata.images.build import make_image, make_layer, write_oci_layout

pytestmark = pytest.mark.slow

#: the benchmark's "python" image (benchmarks/scan.py IMAGES["python"])
PYTHON_PACKAGES = (
    PACKAGES + ",python3,python3-pip,python3-setuptools,python3-wheel,python3-requests"
)
PIP_DIST = "usr/local/lib/python3.11/dist-packages/requests-2.28.1.dist-info"


@pytest.fixture(scope="session")
def python_rootfs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(rootfs tarball, extracted dpkg database directory)."""
    if shutil.which("mmdebstrap") is None or shutil.which("dpkg-query") is None:
        pytest.fail("the slow tests need the Debian packages mmdebstrap and dpkg")
    work = tmp_path_factory.mktemp("debian-python")
    tar_path = work / "rootfs.tar"
    cmd = [
        "mmdebstrap",
        "--variant=essential",
        f"--include={PYTHON_PACKAGES}",
        "--quiet",
        "bookworm",
        str(tar_path),
        _mirror(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    if proc.returncode != 0:
        pytest.fail(f"mmdebstrap failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    admin = work / "dpkg"
    with tarfile.open(tar_path) as tar:
        for member in tar:
            name = member.name.removeprefix("./")
            if member.isreg() and (
                name == "var/lib/dpkg/status" or name.startswith("var/lib/dpkg/info/")
            ):
                target = admin / name.removeprefix("var/lib/dpkg/")
                target.parent.mkdir(parents=True, exist_ok=True)
                fh = tar.extractfile(member)
                assert fh is not None
                target.write_bytes(fh.read())
    return tar_path, admin


def _dpkg_owner(admin: Path, path: str) -> str:
    """The package ``dpkg -S`` names for ``/path`` (dpkg's own answer, not ours)."""
    out = subprocess.run(
        ["dpkg-query", f"--admindir={admin}", "-S", f"/{path}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    package = out.split(":", 1)[0].strip()
    return package.split(",")[0].strip()


def test_debian_installed_dists_are_owned(python_rootfs: tuple[Path, Path], tmp_path: Path) -> None:
    tar_path, admin = python_rootfs
    pip_layer = make_layer(
        {f"{PIP_DIST}/METADATA": "Metadata-Version: 2.1\nName: requests\nVersion: 2.28.1\n"}
    )
    image = make_image([make_layer(tar_path.read_bytes(), "none"), pip_layer])
    layout = write_oci_layout(tmp_path / "oci", [("python", image)])
    src = open_source(f"oci:{layout}:python")
    try:
        report = scan_image(src, cache=InMemoryLayerCache())
    finally:
        src.close()

    debs = {c.name for c in report.components if c.type == "deb"}
    dists = [c for c in report.components if c.type == "pypi" and c.path != f"{PIP_DIST}/METADATA"]
    assert len(dists) == 10, sorted((c.name, c.path) for c in dists)
    expected = {c.path: f"deb:{_dpkg_owner(admin, c.path)}" for c in dists}
    assert {c.path: c.owner for c in dists} == expected
    assert all(owner.removeprefix("deb:") in debs for owner in expected.values())
    assert expected[next(c.path for c in dists if c.name == "requests")] == "deb:python3-requests"
    pip = [c for c in report.components if c.path == f"{PIP_DIST}/METADATA"]
    assert [(c.name, c.owner) for c in pip] == [("requests", None)]
    # every other language component Debian put there (none expected besides Python) is owned
    assert [c for c in report.components if c.type not in ("deb", "pypi") and c.owner is None] == []
