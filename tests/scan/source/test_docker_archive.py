"""docker-archive (``docker save``) in the classic and the OCI-style layout, and ``open_source``."""

from __future__ import annotations

import gzip
import json
import tarfile
from pathlib import Path

import pytest

from imagewarden.scan.errors import DigestMismatchError, SourceError
from imagewarden.scan.pipeline import scan_image
from imagewarden.scan.source import open_source, split_ref
from imagewarden.scan.source.docker_archive import DockerArchiveSource
from imagewarden.scan.source.oci_archive import OciArchiveSource
from imagewarden.scan.source.oci_layout import OciLayoutSource
from tests.scan.conftest import STATUS
from tests.testdata.images.build import (
    Files,
    docker_archive_files,
    make_image,
    write_docker_archive,
    write_oci_archive,
    write_oci_layout,
)

DEB = {"etc/os-release": 'ID=debian\nVERSION_ID="12"\n', "var/lib/dpkg/status": STATUS}


@pytest.mark.parametrize("layout", ["legacy", "oci"])
def test_scan_docker_archive(tmp_path: Path, layout: str) -> None:
    img = make_image([DEB, {"var/lib/dpkg/status.d/x": "Package: x\nVersion: 1\n"}])
    path = write_docker_archive(
        tmp_path / "d.tar", [(["example/app:1.0", "example/app:latest"], img)], layout=layout
    )
    src = DockerArchiveSource(path)
    try:
        assert src.manifest().repo_tags == ("example/app:1.0", "example/app:latest")
        assert src.config().digest == img.config_digest
        assert [layer.diff_id for layer in src.layers()] == [x.diff_id for x in img.layers]
        report = scan_image(src)
    finally:
        src.close()
    assert report.os is not None and report.os.name == "debian:12"
    assert {(c.name, c.version) for c in report.components} == {
        ("libc6", "2.36-9+deb12u4"),
        ("zlib1g", "1:1.2.13.dfsg-1+b1"),
        ("x", "1"),
    }
    assert report.image_id == img.config_digest


def test_select_by_index_and_tag(tmp_path: Path) -> None:
    a, b = make_image([DEB]), make_image([{"etc/alpine-release": "3.19.0\n"}])
    path = write_docker_archive(tmp_path / "d.tar", [(["a:1"], a), (["b:2"], b)])
    with DockerArchiveSource(path, 1) as src:
        assert src.config().digest == b.config_digest
    with DockerArchiveSource(path, "a:1") as src:
        assert src.config().digest == a.config_digest
    with pytest.raises(SourceError, match="choose one"):
        DockerArchiveSource(path)
    with pytest.raises(SourceError, match="no image #5"):
        DockerArchiveSource(path, 5)
    with pytest.raises(SourceError, match="no image tagged"):
        DockerArchiveSource(path, "c:3")


def test_config_tampered(tmp_path: Path) -> None:
    img = make_image([DEB])
    files = docker_archive_files([(["a:1"], img)])
    name = f"{img.config_digest.split(':')[1]}.json"
    files.files[name] = files.files[name].replace(b"amd64", b"arm64")
    path = files.write_tar(tmp_path / "d.tar")
    with pytest.raises(DigestMismatchError, match="config"):
        DockerArchiveSource(path)


def test_layer_tampered(tmp_path: Path) -> None:
    img = make_image([DEB])
    files = docker_archive_files([(["a:1"], img)])
    name = next(n for n in files.files if n.endswith("layer.tar"))
    files.files[name] = files.files[name].replace(b"libc6", b"libc7")
    path = files.write_tar(tmp_path / "d.tar")
    with DockerArchiveSource(path) as src, pytest.raises(DigestMismatchError, match="diff_id"):
        scan_image(src)


def test_compressed_classic_layer_is_named_by_its_hash(tmp_path: Path) -> None:
    img = make_image([DEB])
    files = docker_archive_files([(["a:1"], img)])
    name = next(n for n in files.files if n.endswith("layer.tar"))
    files.files[name] = gzip.compress(files.files[name], mtime=0)
    with DockerArchiveSource(files.write_tar(tmp_path / "d.tar")) as src:
        assert src.layers()[0].media_type.endswith("gzip")
        assert src.layers()[0].digest != src.layers()[0].diff_id
        assert len(scan_image(src).components) == 2


def test_missing_layer_and_missing_manifest(tmp_path: Path) -> None:
    img = make_image([DEB])
    files = docker_archive_files([(["a:1"], img)])
    del files.files[next(n for n in files.files if n.endswith("layer.tar"))]
    with pytest.raises(SourceError, match="missing layer"):
        DockerArchiveSource(files.write_tar(tmp_path / "d.tar"))
    empty = Files({"hello": b"x"}).write_tar(tmp_path / "e.tar")
    with pytest.raises(SourceError, match=r"manifest\.json"):
        DockerArchiveSource(empty)


def test_duplicate_layer_stored_as_symlink(tmp_path: Path) -> None:
    """docker save stores a repeated layer once and links the second directory to it."""
    img = make_image([DEB, DEB])  # the same layer twice
    files = docker_archive_files([(["a:1"], img)])
    manifest = json.loads(files.files["manifest.json"])
    first, second = manifest[0]["Layers"]
    del files.files[second]
    path = tmp_path / "d.tar"
    files.write_tar(path)
    with tarfile.open(path, "a") as tar:
        info = tarfile.TarInfo(second)
        info.type, info.linkname = tarfile.SYMTYPE, f"../{first}"
        tar.addfile(info)
    with DockerArchiveSource(path) as src:
        report = scan_image(src)
    assert len(report.components) == 2


# ------------------------------------------------------------------------------------------
# open_source


def test_split_ref(tmp_path: Path) -> None:
    archive = tmp_path / "x.tar"
    archive.write_bytes(b"")
    assert split_ref(f"docker-archive:{archive}:repo/app:1.0") == (
        "docker-archive",
        str(archive),
        "repo/app:1.0",
    )
    assert split_ref(f"docker-archive:{archive}") == ("docker-archive", str(archive), None)
    assert split_ref(f"oci:{tmp_path}:v1") == ("oci", str(tmp_path), "v1")
    assert split_ref("registry:example.com/a/b:1") == ("registry", "example.com/a/b:1", None)
    assert split_ref("docker://example.com/a/b@sha256:" + "a" * 64)[0] == "docker"
    assert split_ref(str(archive)) == ("", str(archive), None)


def test_open_source_dispatch(tmp_path: Path) -> None:
    img = make_image([DEB])
    write_oci_layout(tmp_path / "layout", [("v1", img)])
    write_oci_archive(tmp_path / "oci.tar", [("v1", img)])
    write_docker_archive(tmp_path / "d.tar", [(["r/a:1"], img), (["r/b:2"], img)])
    cases = [
        (f"oci:{tmp_path / 'layout'}:v1", OciLayoutSource),
        (str(tmp_path / "layout"), OciLayoutSource),
        (f"oci-archive:{tmp_path / 'oci.tar'}:v1", OciArchiveSource),
        (str(tmp_path / "oci.tar"), OciArchiveSource),
        (f"docker-archive:{tmp_path / 'd.tar'}:r/b:2", DockerArchiveSource),
        (f"docker-archive:{tmp_path / 'd.tar'}:1", DockerArchiveSource),
        (f"docker-archive:{tmp_path / 'd.tar'}:@0", DockerArchiveSource),
    ]
    for ref, kind in cases:
        src = open_source(ref)
        try:
            assert isinstance(src, kind), ref
            assert src.config().digest == img.config_digest
        finally:
            src.close()
    with pytest.raises(SourceError, match="choose one"):
        open_source(str(tmp_path / "d.tar"))
    with pytest.raises(SourceError, match="no such file"):
        open_source(f"oci:{tmp_path / 'nope'}")
