"""python-dist analyzer: Debian's dist-packages, a real pip install, small real-format files."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

from imagewarden.scan.analyzer.base import FileInfo, LayerFile
from imagewarden.scan.analyzer.python_dist import (
    PythonDistAnalyzer,
    normalise_name,
    parse_core_metadata,
)
from imagewarden.scan.model import ComponentType, LayerFacts

DIST_PACKAGES = Path("/usr/lib/python3/dist-packages")


def _analyze(files: dict[str, bytes]) -> LayerFacts:
    return PythonDistAnalyzer().analyze(
        {PurePosixPath(k): LayerFile(PurePosixPath(k), len(v), 0o644, v) for k, v in files.items()}
    )


def _walk(root: Path, image_prefix: str) -> LayerFacts:
    """Offer every file under ``root`` (as ``image_prefix/...``) like the layer walker does."""
    a = PythonDistAnalyzer()
    wanted: dict[PurePosixPath, LayerFile] = {}
    for f in sorted(root.rglob("*")):
        if not f.is_file() or f.is_symlink():
            continue
        p = PurePosixPath(image_prefix, f.relative_to(root).as_posix())
        st = f.stat()
        if a.wants(p, FileInfo(p, st.st_size, st.st_mode)):
            data = f.read_bytes()
            wanted[p] = LayerFile(p, len(data), st.st_mode, data)
    return a.analyze(wanted)


def test_wants() -> None:
    a = PythonDistAnalyzer()

    def w(path: str) -> bool:
        return a.wants(PurePosixPath(path), FileInfo(PurePosixPath(path), 1, 0o644))

    assert w("usr/lib/python3.11/site-packages/six-1.16.0.dist-info/METADATA")
    assert w("app/vendor/idna-2.10.dist-info/METADATA")  # pip install --target
    assert w("usr/lib/python3/dist-packages/PyJWT-2.6.0.egg-info/PKG-INFO")
    assert w("usr/lib/python2.7/dist-packages/foo-1.0.egg-info")
    assert not w("src/project/foo.egg-info/PKG-INFO")  # a source checkout
    assert not w("usr/lib/python3/dist-packages/six-1.16.0.dist-info/RECORD")
    assert not w("usr/lib/python3/site-packages/PKG-INFO")


def test_debian_dist_packages_match_importlib() -> None:
    if not DIST_PACKAGES.is_dir():
        pytest.skip("no /usr/lib/python3/dist-packages (apt-get install python3-yaml)")
    want = {
        (d.metadata["Name"], d.version)
        for d in importlib.metadata.distributions(path=[str(DIST_PACKAGES)])
    }
    if not want:
        pytest.skip("no Python distributions installed by Debian")
    facts = _walk(DIST_PACKAGES, "usr/lib/python3/dist-packages")
    assert facts.unknowns == ()
    assert {(c.name, c.version) for c in facts.components} == want
    assert all(c.type is ComponentType.PYPI for c in facts.components)
    assert list(facts.components) == sorted(facts.components)


@pytest.mark.slow
def test_pip_install_target(tmp_path: Path) -> None:
    target = tmp_path / "site-packages"
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile"),
            *("--disable-pip-version-check", "--target", str(target), "six==1.16.0", "idna==2.10"),
        ],
        check=True,
        capture_output=True,
    )
    listed = json.loads(
        subprocess.run(
            [sys.executable, "-m", "pip", "list", "--path", str(target), "--format", "json"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    facts = _walk(target, "usr/local/lib/python3.11/site-packages")
    assert facts.unknowns == ()
    assert sorted((normalise_name(c.name), c.version) for c in facts.components) == sorted(
        (normalise_name(p["name"]), p["version"]) for p in listed
    )
    assert {c.purl for c in facts.components} == {"pkg:pypi/six@1.16.0", "pkg:pypi/idna@2.10"}
    six = next(c for c in facts.components if c.name == "six")
    assert six.path == "usr/local/lib/python3.11/site-packages/six-1.16.0.dist-info/METADATA"


METADATA = b"""\
Metadata-Version: 2.1
Name: Zope.Interface_Extra
Version: 5.4.0
Summary: a long
  folded summary
Classifier: A
Classifier: B

Name: not-a-header
"""

PKG_INFO_LATIN1 = "Metadata-Version: 1.0\nName: caf\xe9\nVersion: 0.1\nAuthor: J\xf6rg\n".encode(
    "latin-1"
)


def test_small_real_format_files() -> None:
    site = "usr/lib/python3/dist-packages"
    facts = _analyze(
        {
            f"{site}/Zope.Interface_Extra-5.4.0.dist-info/METADATA": METADATA,
            f"{site}/cafe-0.1.egg-info": PKG_INFO_LATIN1,
            f"{site}/broken-1.dist-info/METADATA": b"Metadata-Version: 2.1\nSummary: x\n",
            f"{site}/empty.egg-info/PKG-INFO": b"",
        }
    )
    assert [(c.name, c.version, c.purl) for c in facts.components] == [
        ("Zope.Interface_Extra", "5.4.0", "pkg:pypi/zope-interface-extra@5.4.0"),
        ("caf\xe9", "0.1", "pkg:pypi/caf%c3%a9@0.1"),
    ]
    assert [u.path for u in facts.unknowns] == [
        f"{site}/broken-1.dist-info/METADATA",
        f"{site}/empty.egg-info/PKG-INFO",
    ]
    assert parse_core_metadata(METADATA.decode())["Summary"] == "a long folded summary"
