"""Layers replayed bottom-up: rewrites replace, whiteouts and opaque dirs delete, symlinks resolve."""

from __future__ import annotations

from imagewarden.scan.analyzer.registry import DEFAULT_ANALYZERS
from imagewarden.scan.apply import apply_layers
from imagewarden.scan.model import Digest, ImageContents
from imagewarden.scan.walker import walk_layer
from tests.scan.conftest import DEBIAN_OS_RELEASE, STATUS, as_layer
from tests.testdata.images.build import Dir, Symlink, make_layer

EXTRA = "Package: extra\nVersion: 2.0-1\nArchitecture: all\n"


def _apply(*trees: object) -> ImageContents:
    layers = []
    for tree in trees:
        built = make_layer(tree)  # type: ignore[arg-type]
        layers.append((Digest(built.diff_id), walk_layer(as_layer(built), DEFAULT_ANALYZERS)))
    return apply_layers(Digest("sha256:" + "0" * 64), layers)


def _names(contents: ImageContents) -> set[tuple[str, str]]:
    return {(c.name, c.version) for c in contents.components}


def test_later_layer_rewrite_replaces_the_database(debian_base: dict[str, object]) -> None:
    smaller = STATUS.split("\n\n")[1] + "\n"  # only zlib1g
    out = _apply(debian_base, {"var/lib/dpkg/status": smaller})
    assert _names(out) == {("zlib1g", "1:1.2.13.dfsg-1+b1")}


def test_rewrite_to_an_empty_database_drops_everything(debian_base: dict[str, object]) -> None:
    out = _apply(debian_base, {"var/lib/dpkg/status": ""})
    assert out.components == ()


def test_whiteout_deletes_components_from_lower_layers(debian_base: dict[str, object]) -> None:
    base = {**debian_base, "var/lib/dpkg/status.d/extra": EXTRA}
    assert ("extra", "2.0-1") in _names(_apply(base))
    out = _apply(base, {"var/lib/dpkg/status.d/.wh.extra": b""})
    assert ("extra", "2.0-1") not in _names(out)
    assert ("libc6", "2.36-9+deb12u4") in _names(out)


def test_whiteout_of_a_directory_deletes_below_it(debian_base: dict[str, object]) -> None:
    out = _apply(debian_base, {"var/lib/.wh.dpkg": b""})
    assert out.components == ()


def test_opaque_dir_hides_lower_contents_but_keeps_own(debian_base: dict[str, object]) -> None:
    base = {**debian_base, "var/lib/dpkg/status.d/extra": EXTRA}
    upper = {
        "var/lib/dpkg/status.d/.wh..wh..opq": b"",
        "var/lib/dpkg/status.d/mine": "Package: mine\nVersion: 1\n",
    }
    out = _apply(base, upper)
    assert ("extra", "2.0-1") not in _names(out)
    assert ("mine", "1") in _names(out)
    assert ("libc6", "2.36-9+deb12u4") in _names(out)  # status itself is outside the opaque dir


def test_same_layer_whiteout_does_not_hide_own_files() -> None:
    out = _apply(
        {"var/lib/dpkg/status.d/.wh.x": b"", "var/lib/dpkg/status.d/x": "Package: x\nVersion: 1\n"}
    )
    assert _names(out) == {("x", "1")}


def test_components_carry_the_layer_that_wrote_them(debian_base: dict[str, object]) -> None:
    upper = {"var/lib/dpkg/status.d/extra": EXTRA}
    lower_id, upper_id = make_layer(debian_base).diff_id, make_layer(upper).diff_id  # type: ignore[arg-type]
    out = _apply(debian_base, upper)
    layer_of = {c.name: c.layer for c in out.components}
    assert layer_of["extra"] == upper_id and layer_of["libc6"] == lower_id


def test_os_release_symlink_across_layers() -> None:
    lower = {"usr/lib/os-release": DEBIAN_OS_RELEASE}
    upper = {"etc/os-release": Symlink("../usr/lib/os-release")}
    out = _apply(lower, upper)
    assert out.os is not None and out.os.name == "debian:12"
    assert ("etc/os-release", "../usr/lib/os-release") in out.symlinks


def test_etc_os_release_beats_distribution_files() -> None:
    ubuntu = 'ID=ubuntu\nVERSION_ID="22.04"\nPRETTY_NAME="Ubuntu 22.04.4 LTS"\n'
    out = _apply({"etc/debian_version": "bookworm/sid\n"}, {"etc/os-release": ubuntu})
    assert out.os is not None and out.os.name == "ubuntu:22.04"


def test_whiteout_of_os_release_falls_back() -> None:
    out = _apply(
        {"etc/os-release": DEBIAN_OS_RELEASE, "etc/alpine-release": "3.19.1\n"},
        {"etc/.wh.os-release": b""},
    )
    assert out.os is not None and out.os.name == "alpine:v3.19"


def test_symlink_loop_is_an_unknown_not_a_hang() -> None:
    out = _apply(
        {
            "usr/lib/os-release": DEBIAN_OS_RELEASE,
            "etc": Dir(),
            "etc/os-release": Symlink("loop1"),
            "etc/loop1": Symlink("/etc/loop2"),
            "etc/loop2": Symlink("os-release"),
        }
    )
    assert out.os is not None and out.os.name == "debian:12"
    assert any(u.path == "etc/os-release" and "hops" in u.reason for u in out.unknowns)


def test_purl_gets_distro_and_namespace_from_os() -> None:
    ubuntu = 'ID=ubuntu\nVERSION_ID="22.04"\n'
    out = _apply({"etc/os-release": ubuntu, "var/lib/dpkg/status": STATUS})
    purls = {c.name: c.purl for c in out.components}
    assert purls["libc6"] == "pkg:deb/ubuntu/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=ubuntu-22.04"


def test_deterministic_order(debian_base: dict[str, object]) -> None:
    a = _apply(debian_base, {"var/lib/dpkg/status.d/extra": EXTRA})
    b = _apply(debian_base, {"var/lib/dpkg/status.d/extra": EXTRA})
    assert a == b
    assert [c.name for c in a.components] == sorted(c.name for c in a.components)


def test_a_rewrite_no_analyzer_wants_still_replaces_the_lower_facts(
    debian_base: dict[str, object],
) -> None:
    """A layer that writes a path replaces the lower file whether or not an analyzer wants
    the new one: here ``usr/lib/os-release`` becomes a 100 KiB file (above what the OS
    analyzer reads), so the Debian release it named is gone and ``debian_version`` decides."""
    assert _apply(debian_base).os is not None
    out = _apply(debian_base, {"usr/lib/os-release": "x" * (100 * 1024)})
    assert out.os is not None and out.os.path == "etc/debian_version"
