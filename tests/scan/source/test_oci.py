"""OCI layout directories and OCI archives: resolution, platforms, tags, digests, hostile input."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from imagewarden.scan.errors import (
    DigestMismatchError,
    LayerReadError,
    SourceError,
    UnsafeArchiveError,
)
from imagewarden.scan.pipeline import scan_image
from imagewarden.scan.source.base import Platform
from imagewarden.scan.source.oci_archive import OciArchiveSource
from imagewarden.scan.source.oci_layout import OciLayoutSource
from tests.testdata.images.build import (
    Image,
    make_image,
    make_layer,
    oci_layout_files,
    write_oci_archive,
    write_oci_layout,
)

ALPINE = {
    "etc/alpine-release": "3.18.4\n",
    "lib/apk/db/installed": "P:musl\nV:1.2.4-r2\nA:x86_64\no:musl\n",
}


def _image(arch: str = "amd64", variant: str | None = None, extra: str = "") -> Image:
    return make_image(
        [ALPINE, {"etc/motd": f"arch {arch} {extra}"}], architecture=arch, variant=variant
    )


def _blob_path(root: Path, digest: str) -> Path:
    return root / "blobs" / "sha256" / digest.split(":", 1)[1]


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_layout_resolves_and_scans(tmp_path: Path, compression: str) -> None:
    img = make_image([ALPINE], compression=compression)
    write_oci_layout(tmp_path, [("3.18", img)])
    src = OciLayoutSource(tmp_path)
    assert src.manifest().digest == img.manifest_digest
    assert src.config().digest == img.config_digest
    assert [(layer.digest, layer.diff_id) for layer in src.layers()] == [
        (x.digest, x.diff_id) for x in img.layers
    ]
    report = scan_image(src)
    assert report.os is not None and report.os.name == "alpine:v3.18"
    assert [(c.name, c.version, c.source_name) for c in report.components] == [
        ("musl", "1.2.4-r2", "musl")
    ]
    assert report.repo_tags == ("3.18",)
    assert report.image_id == img.config_digest


def test_tag_selection(tmp_path: Path) -> None:
    a, b = _image(extra="a"), _image(extra="b")
    write_oci_layout(tmp_path, [("a", a), ("b", b)])
    assert OciLayoutSource(tmp_path, "b").config().digest == b.config_digest
    assert OciLayoutSource(tmp_path, "a").config().digest == a.config_digest
    with pytest.raises(SourceError, match="no image tagged"):
        OciLayoutSource(tmp_path, "c")
    with pytest.raises(SourceError, match="name one with :TAG"):
        OciLayoutSource(tmp_path)


def test_multi_arch_index_picks_the_platform(tmp_path: Path) -> None:
    amd, arm, armv7 = _image("amd64"), _image("arm64", "v8"), _image("arm", "v7")
    write_oci_layout(tmp_path, multiarch=[arm, armv7, amd])
    assert OciLayoutSource(tmp_path).config().digest == amd.config_digest  # default linux/amd64
    assert (
        OciLayoutSource(tmp_path, None, Platform.parse("linux/arm64")).config().digest
        == arm.config_digest
    )
    assert (
        OciLayoutSource(tmp_path, "latest", Platform.parse("linux/arm/v7")).config().digest
        == armv7.config_digest
    )
    with pytest.raises(
        SourceError, match=r"no manifest for platform linux/s390x.*available: linux/amd64"
    ):
        OciLayoutSource(tmp_path, None, Platform.parse("linux/s390x"))


def test_lone_image_of_another_platform_is_accepted_without_explicit_platform(
    tmp_path: Path,
) -> None:
    arm = _image("arm64")
    write_oci_layout(tmp_path, multiarch=[arm])
    assert OciLayoutSource(tmp_path).config().architecture == "arm64"
    with pytest.raises(SourceError, match="no manifest for platform"):
        OciLayoutSource(tmp_path, None, Platform())


def test_manifest_digest_mismatch(tmp_path: Path) -> None:
    img = _image()
    write_oci_layout(tmp_path, [("t", img)])
    p = _blob_path(tmp_path, img.manifest_digest)
    p.write_bytes(p.read_bytes().replace(b'"schemaVersion":2', b'"schemaVersion": 2'))
    with pytest.raises(DigestMismatchError, match="manifest"):
        OciLayoutSource(tmp_path)


def test_config_digest_mismatch(tmp_path: Path) -> None:
    img = _image()
    write_oci_layout(tmp_path, [("t", img)])
    p = _blob_path(tmp_path, img.config_digest)
    p.write_bytes(p.read_bytes().replace(b"amd64", b"arm64"))
    with pytest.raises(DigestMismatchError, match="config"):
        OciLayoutSource(tmp_path)


def test_layer_blob_digest_mismatch(tmp_path: Path) -> None:
    img = _image()
    write_oci_layout(tmp_path, [("t", img)])
    path = _blob_path(tmp_path, img.layers[1].digest)
    good = path.read_bytes()
    # another valid layer of the same size: only the digest can tell
    candidates = (make_layer({"etc/motd": f"arch amd{n} "}, "gzip").blob for n in range(100))
    evil = next(b for b in candidates if len(b) == len(good) and b != good)
    path.write_bytes(evil)
    src = OciLayoutSource(tmp_path)
    with pytest.raises(DigestMismatchError, match="layer"):
        scan_image(src)


@pytest.mark.parametrize("change", [b"\0", b"\0" * 4096, -1])
def test_layer_blob_of_another_size_than_declared(tmp_path: Path, change: bytes | int) -> None:
    """A blob longer or shorter than its descriptor's ``size`` is refused before a byte of it
    is parsed (a small declared layer cannot make the walk read a huge blob)."""
    img = _image()
    write_oci_layout(tmp_path, [("t", img)])
    path = _blob_path(tmp_path, img.layers[1].digest)
    data = path.read_bytes()
    path.write_bytes(data + change if isinstance(change, bytes) else data[:change])
    with pytest.raises(LayerReadError, match=r"the blob is \d+ bytes, its manifest declares"):
        scan_image(OciLayoutSource(tmp_path))


def test_diff_id_mismatch_in_config(tmp_path: Path) -> None:
    layers = [make_layer(ALPINE)]
    img = make_image(layers, diff_ids=["sha256:" + "1" * 64])
    write_oci_layout(tmp_path, [("t", img)])
    with pytest.raises(DigestMismatchError, match="diff_id"):
        scan_image(OciLayoutSource(tmp_path))


def test_missing_blobs(tmp_path: Path) -> None:
    img = _image()
    write_oci_layout(tmp_path / "a", [("t", img)])
    _blob_path(tmp_path / "a", img.layers[0].digest).unlink()
    src = OciLayoutSource(tmp_path / "a")  # layers are opened lazily
    with pytest.raises(SourceError, match="missing blob"):
        scan_image(src)
    write_oci_layout(tmp_path / "b", [("t", img)])
    _blob_path(tmp_path / "b", img.config_digest).unlink()
    with pytest.raises(SourceError, match="missing blob"):
        OciLayoutSource(tmp_path / "b")


def test_not_a_layout(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="oci-layout"):
        OciLayoutSource(tmp_path)
    (tmp_path / "oci-layout").write_text('{"imageLayoutVersion": "2.0.0"}')
    with pytest.raises(SourceError, match="imageLayoutVersion"):
        OciLayoutSource(tmp_path)


def _rewrite_manifest(tmp_path: Path, img: Image, edit: dict[str, object]) -> None:
    """Write a layout whose single manifest is ``img``'s with ``edit`` applied (digests kept valid)."""
    files = oci_layout_files([("t", img)])
    doc = json.loads(img.manifest)
    doc.update(edit)
    data = json.dumps(doc).encode()
    digest = files.blob(data)
    index = json.loads(files.files["index.json"])
    index["manifests"][0].update({"digest": digest, "size": len(data)})
    files.files["index.json"] = json.dumps(index).encode()
    files.write_dir(tmp_path)


def test_unsupported_layer_media_type(tmp_path: Path) -> None:
    img = _image()
    layers = json.loads(img.manifest)["layers"]
    layers[0]["mediaType"] = "application/vnd.example.weird"
    _rewrite_manifest(tmp_path, img, {"layers": layers})
    with pytest.raises(SourceError, match="unsupported layer media type"):
        OciLayoutSource(tmp_path)


def test_artifact_config_is_not_an_image(tmp_path: Path) -> None:
    img = _image()
    cfg = json.loads(img.manifest)["config"]
    cfg["mediaType"] = "application/vnd.cncf.helm.config.v1+json"
    _rewrite_manifest(tmp_path, img, {"config": cfg})
    with pytest.raises(SourceError, match="not an image config"):
        OciLayoutSource(tmp_path)


def test_layer_count_must_match_diff_ids(tmp_path: Path) -> None:
    img = _image()
    layers = json.loads(img.manifest)["layers"][:1]
    _rewrite_manifest(tmp_path, img, {"layers": layers})
    with pytest.raises(SourceError, match="diff_ids"):
        OciLayoutSource(tmp_path)


def test_bad_digest_strings_never_touch_the_filesystem(tmp_path: Path) -> None:
    (tmp_path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    bad = {
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": "sha256:../../../etc/passwd",
            }
        ]
    }
    (tmp_path / "index.json").write_text(json.dumps(bad))
    with pytest.raises(SourceError, match="bad digest"):
        OciLayoutSource(tmp_path)


# ------------------------------------------------------------------------------------------
# archives


def test_archive_reads_in_place(tmp_path: Path) -> None:
    img = make_image([ALPINE, {"etc/motd": "hi"}], compression="zstd")
    path = write_oci_archive(tmp_path / "img.tar", [("v", img)])
    before = sorted(p.name for p in tmp_path.iterdir())
    src = OciArchiveSource(path, "v")
    try:
        report = scan_image(src)
    finally:
        src.close()
    assert report.os is not None and report.os.name == "alpine:v3.18"
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing extracted


def test_archive_multi_arch(tmp_path: Path) -> None:
    amd, arm = _image("amd64"), _image("arm64")
    path = write_oci_archive(tmp_path / "img.tar", multiarch=[amd, arm])
    with OciArchiveSource(path, None, Platform.parse("linux/arm64")) as src:
        assert src.config().digest == arm.config_digest


def test_archive_with_traversal_member(tmp_path: Path) -> None:
    path = tmp_path / "evil.tar"
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("../../evil-marker")
        tar.addfile(info)
    with pytest.raises(UnsafeArchiveError, match="escapes"):
        OciArchiveSource(path)
    assert not (tmp_path.parent / "evil-marker").exists()


def test_archive_with_member_link_loop(tmp_path: Path) -> None:
    img = _image()
    files = oci_layout_files([("t", img)])
    path = tmp_path / "loop.tar"
    with tarfile.open(path, "w") as tar:
        for name, data in files.files.items():
            if name == "index.json":
                for n, target in (("index.json", "a"), ("a", "index.json")):
                    info = tarfile.TarInfo(n)
                    info.type, info.linkname = tarfile.SYMTYPE, target
                    tar.addfile(info)
                continue
            import io

            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(UnsafeArchiveError, match="loop"):
        OciArchiveSource(path)


def test_not_an_archive(tmp_path: Path) -> None:
    (tmp_path / "x.tar").write_bytes(b"garbage" * 100)
    with pytest.raises(SourceError):
        OciArchiveSource(tmp_path / "x.tar")
