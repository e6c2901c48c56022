"""The layer cache: keys, both implementations, and shared base layers analysed once."""

from __future__ import annotations

from pathlib import Path

from imagewarden.scan.analyzer.apk import ApkAnalyzer
from imagewarden.scan.analyzer.dpkg import DpkgAnalyzer
from imagewarden.scan.analyzer.os_release import OsReleaseAnalyzer
from imagewarden.scan.cache import DirLayerCache, InMemoryLayerCache, cache_key
from imagewarden.scan.model import (
    Component,
    ComponentType,
    FileOwnership,
    LayerFacts,
    OsInfo,
    Unknown,
)
from imagewarden.scan.pipeline import scan_image
from imagewarden.scan.source.oci_layout import OciLayoutSource
from tests.scan.conftest import STATUS, Counting
from tests.testdata.images.build import make_image, make_layer, write_oci_layout

FACTS = LayerFacts(
    os=OsInfo("debian", "12", "debian:12", "Debian", "etc/os-release"),
    components=(
        Component(
            ComponentType.DEB,
            "libc6",
            "2.36",
            "var/lib/dpkg/status",
            "pkg:deb/debian/libc6@2.36",
            "dpkg",
            "glibc",
            "2.36",
        ),
    ),
    unknowns=(Unknown("x", "dpkg", "bad"),),
    facts_paths=("var/lib/dpkg/status",),
    whiteouts=("a/b",),
    opaque_dirs=("c",),
    symlinks=(("etc/os-release", "../usr/lib/os-release"),),
    os_files=(OsInfo("debian", "12", "debian:12", "Debian", "etc/os-release"),),
    owned_files=(
        FileOwnership(
            "var/lib/dpkg/info/python3-requests.list",
            "deb:python3-requests",
            ("usr/lib/python3/dist-packages/requests-2.28.1.egg-info",),
        ),
    ),
)
DIFF = "sha256:" + "a" * 64


class DpkgV2(DpkgAnalyzer):
    version = DpkgAnalyzer.version + 1


def test_key_depends_on_everything_that_changes_output() -> None:
    base = cache_key(DIFF, [DpkgAnalyzer(), ApkAnalyzer()], {"max_file_size": 1})
    assert base == cache_key(DIFF, [ApkAnalyzer(), DpkgAnalyzer()], {"max_file_size": 1})
    assert base != cache_key(
        "sha256:" + "b" * 64, [DpkgAnalyzer(), ApkAnalyzer()], {"max_file_size": 1}
    )
    assert base != cache_key(DIFF, [DpkgV2(), ApkAnalyzer()], {"max_file_size": 1})
    assert base != cache_key(DIFF, [DpkgAnalyzer()], {"max_file_size": 1})
    assert base != cache_key(DIFF, [DpkgAnalyzer(), ApkAnalyzer()], {"max_file_size": 2})
    assert len(base) == 64


def test_in_memory_round_trip() -> None:
    cache = InMemoryLayerCache()
    key = cache_key(DIFF, [DpkgAnalyzer()])
    assert cache.missing([key]) == {key}
    assert cache.get(key) is None
    cache.put(key, FACTS)
    assert cache.missing([key]) == set()
    assert cache.get(key) == FACTS


def test_dir_round_trip_and_atomic_files(tmp_path: Path) -> None:
    cache = DirLayerCache(tmp_path / "c")
    key = cache_key(DIFF, [DpkgAnalyzer()])
    cache.put(key, FACTS)
    assert DirLayerCache(tmp_path / "c").get(key) == FACTS
    assert [p.name for p in (tmp_path / "c").iterdir()] == [f"{key}.json"]


def test_dir_corrupt_file_is_a_miss(tmp_path: Path) -> None:
    cache = DirLayerCache(tmp_path)
    key = cache_key(DIFF, [DpkgAnalyzer()])
    (tmp_path / f"{key}.json").write_bytes(b'{"os": 12, "components": "nope"')
    assert cache.get(key) is None
    (tmp_path / f"{key}.json").write_bytes(b'{"components": [{"type": "not-a-type"}]}')
    assert cache.get(key) is None


def _shared_base_images(tmp_path: Path) -> tuple[OciLayoutSource, OciLayoutSource]:
    base = make_layer(
        {"etc/os-release": "ID=debian\nVERSION_ID=12\n", "var/lib/dpkg/status": STATUS}
    )
    app1 = make_layer({"var/lib/dpkg/status.d/one": "Package: one\nVersion: 1\n"})
    app2 = make_layer({"var/lib/dpkg/status.d/two": "Package: two\nVersion: 2\n"})
    write_oci_layout(tmp_path / "one", [("v1", make_image([base, app1]))])
    write_oci_layout(tmp_path / "two", [("v1", make_image([base, app2]))])
    return OciLayoutSource(tmp_path / "one"), OciLayoutSource(tmp_path / "two")


def test_shared_base_layer_is_analysed_once(tmp_path: Path) -> None:
    dpkg, osr = Counting(DpkgAnalyzer()), Counting(OsReleaseAnalyzer())
    cache = InMemoryLayerCache()
    one, two = _shared_base_images(tmp_path)
    r1 = scan_image(one, analyzers=[osr, dpkg], cache=cache)
    r2 = scan_image(two, analyzers=[osr, dpkg], cache=cache)
    # dpkg: base + app1 + app2 = 3 layers read, not 4; os-release only in the base, once
    assert dpkg.calls == 3
    assert osr.calls == 1
    assert [layer.cached for layer in r2.layers] == [True, False]
    assert {c.name for c in r1.components} == {"libc6", "zlib1g", "one"}
    assert {c.name for c in r2.components} == {"libc6", "zlib1g", "two"}
    assert r2.os is not None and r2.os.name == "debian:12"
    # the second scan of the same image touches no analyzer at all
    scan_image(one, analyzers=[osr, dpkg], cache=cache)
    assert (dpkg.calls, osr.calls) == (3, 1)


def test_shared_base_layer_with_dir_cache_across_processes(tmp_path: Path) -> None:
    one, two = _shared_base_images(tmp_path)
    dpkg = Counting(DpkgAnalyzer())
    scan_image(one, analyzers=[dpkg], cache=DirLayerCache(tmp_path / "cache"))
    r = scan_image(two, analyzers=[dpkg], cache=DirLayerCache(tmp_path / "cache"))
    assert dpkg.calls == 3
    assert {c.name for c in r.components} == {"libc6", "zlib1g", "two"}


def test_new_analyzer_version_misses_the_cache(tmp_path: Path) -> None:
    one, _ = _shared_base_images(tmp_path)
    cache = InMemoryLayerCache()
    scan_image(one, analyzers=[DpkgAnalyzer()], cache=cache)
    v2 = Counting(DpkgV2())
    scan_image(one, analyzers=[v2], cache=cache)
    assert v2.calls == 2
