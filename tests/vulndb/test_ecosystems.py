"""Version schemes per ecosystem (univers), ordering laws, names and OS ecosystems."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagewarden.vulndb import (
    VersionError,
    compare,
    is_supported,
    normalise_name,
    os_ecosystem,
    parse_ecosystem,
    parse_version,
)


@pytest.mark.parametrize(
    ("text", "base", "release"),
    [
        ("Debian:12", "Debian", "12"),
        ("Alpine:v3.18", "Alpine", "v3.18"),
        ("Ubuntu:22.04:LTS", "Ubuntu", "22.04:LTS"),
        ("PyPI", "PyPI", ""),
        ("crates.io", "crates.io", ""),
    ],
)
def test_parse_ecosystem(text: str, base: str, release: str) -> None:
    eco = parse_ecosystem(text)
    assert (eco.name, eco.base, eco.release) == (text, base, release)


def test_supported_ecosystems() -> None:
    for eco in ("Debian:12", "Ubuntu:22.04:LTS", "Alpine:v3.18", "PyPI", "npm", "Go", "Maven"):
        assert is_supported(eco)
    assert is_supported("crates.io") and is_supported("RubyGems")
    assert not is_supported("Packagist") and not is_supported("Rocky Linux:9")


@pytest.mark.parametrize(
    ("family", "version", "expected"),
    [
        ("debian", "12", "Debian:12"),
        ("debian", "12.4", "Debian:12"),
        ("debian", "trixie/sid", None),
        ("ubuntu", "22.04", "Ubuntu:22.04:LTS"),
        ("ubuntu", "24.04", "Ubuntu:24.04:LTS"),
        ("ubuntu", "23.10", "Ubuntu:23.10"),
        ("ubuntu", "23.04", "Ubuntu:23.04"),  # odd year: not LTS
        ("alpine", "3.18.4", "Alpine:v3.18"),
        ("alpine", "v3.19", "Alpine:v3.19"),
        ("alpine", "edge", None),
        ("centos", "7", None),
    ],
)
def test_os_ecosystem(family: str, version: str, expected: str | None) -> None:
    assert os_ecosystem(family, version) == expected


@pytest.mark.parametrize(
    ("eco", "name", "key"),
    [
        ("PyPI", "Django_Rest.framework", "django-rest-framework"),
        ("PyPI", "zope.interface", "zope-interface"),
        ("Maven", "org.apache.logging.log4j:log4j-core", "org.apache.logging.log4j:log4j-core"),
        ("Maven", "org.apache.logging.log4j/log4j-core", "org.apache.logging.log4j:log4j-core"),
        ("Go", "github.com/Masterminds/semver", "github.com/Masterminds/semver"),
        ("npm", "@babel/core", "@babel/core"),
        ("Debian:12", "OpenSSL", "openssl"),
        ("RubyGems", "rack", "rack"),
    ],
)
def test_normalise_name(eco: str, name: str, key: str) -> None:
    assert normalise_name(eco, name) == key


@pytest.mark.parametrize(
    ("eco", "text"),
    [
        ("PyPI", "not a version"),
        ("Debian:12", "!!"),
        ("Go", "junk"),
        ("npm", ""),
        ("Packagist", "1.0"),
    ],
)
def test_unparseable_versions_raise_version_error(eco: str, text: str) -> None:
    with pytest.raises(VersionError):
        parse_version(eco, text)


@pytest.mark.parametrize(
    ("eco", "lower", "higher"),
    [
        ("Debian:12", "3.0.11-1~deb12u1", "3.0.11-1~deb12u2"),
        ("Debian:12", "3.0.11-1~deb12u2", "3.0.11-1"),
        ("Debian:12", "2.0", "1:1.0"),
        ("Debian:12", "1:1.2.13.dfsg-1", "1:1.2.13.dfsg-1+deb12u1"),
        ("Alpine:v3.18", "3.1.3-r0", "3.1.4-r0"),
        ("Alpine:v3.18", "3.1.4-r0", "3.1.4-r1"),
        ("Alpine:v3.18", "1.36.1-r5", "1.36.1_p1-r0"),
        ("Alpine:v3.18", "1.0_rc1-r0", "1.0-r0"),
        ("PyPI", "2.0.0rc1", "2.0.0"),
        ("Maven", "2.0-beta9", "2.0"),
        ("Maven", "2.4", "2.12.2"),
        ("RubyGems", "2.2.3", "2.2.3.1"),
        ("Go", "v0.16.0", "0.17.0"),
        ("npm", "1.2.5", "1.2.6"),
    ],
)
def test_known_orderings(eco: str, lower: str, higher: str) -> None:
    a, b = parse_version(eco, lower), parse_version(eco, higher)
    assert compare(a, b) == -1
    assert compare(b, a) == 1
    assert compare(a, a) == 0


# --- dpkg ----------------------------------------------------------------------------

_num = st.integers(min_value=0, max_value=30).map(str)
_upstream = st.builds(
    lambda parts, tilde: ".".join(parts) + (f"~{tilde}" if tilde else ""),
    st.lists(_num, min_size=1, max_size=3),
    st.one_of(st.none(), st.sampled_from(["rc1", "beta2", "deb12u1", "1"])),
)
_revision = st.builds(
    lambda n, tail: n + tail,
    _num.filter(lambda s: s != "0"),
    st.sampled_from(["", "~deb12u1", "+deb12u2", "+b1"]),
)
_debver = st.builds(
    lambda e, u, r: (f"{e}:" if e else "") + f"{u}-{r}",
    st.integers(min_value=0, max_value=2),
    _upstream,
    _revision,
)


@given(_debver, _debver, _debver)
def test_dpkg_order_is_a_total_order(a: str, b: str, c: str) -> None:
    va, vb, vc = (parse_version("Debian:12", x) for x in (a, b, c))
    assert compare(va, vb) == -compare(vb, va)
    if compare(va, vb) <= 0 and compare(vb, vc) <= 0:
        assert compare(va, vc) <= 0


@given(st.integers(0, 5), st.integers(0, 5), _upstream, _upstream, _revision)
def test_dpkg_epoch_dominates(e1: int, e2: int, u1: str, u2: str, r: str) -> None:
    a = parse_version("Debian:12", f"{e1}:{u1}-{r}")
    b = parse_version("Debian:12", f"{e2}:{u2}-{r}")
    if e1 != e2:
        assert compare(a, b) == (1 if e1 > e2 else -1)


@given(_upstream, st.sampled_from(["rc1", "deb12u1", "~", "a"]), _revision)
def test_dpkg_tilde_sorts_before_anything(u: str, suffix: str, r: str) -> None:
    base = u.split("~", 1)[0]
    assert (
        compare(
            parse_version("Debian:12", f"{base}~{suffix}-{r}"),
            parse_version("Debian:12", f"{base}-{r}"),
        )
        == -1
    )


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg is not installed")
@settings(max_examples=60, deadline=None)
@given(_debver, _debver)
def test_dpkg_order_agrees_with_dpkg(a: str, b: str) -> None:
    ours = compare(parse_version("Debian:12", a), parse_version("Debian:12", b))
    for op, expected in (("lt", -1), ("eq", 0), ("gt", 1)):
        rc = subprocess.run(["dpkg", "--compare-versions", a, op, b], check=False).returncode
        assert (rc == 0) == (ours == expected), (a, op, b)


# --- apk -----------------------------------------------------------------------------

_SUFFIX_ORDER = ["_alpha1", "_beta1", "_pre1", "_rc1", "", "_p1"]


@given(
    st.lists(st.integers(0, 20), min_size=1, max_size=3),
    st.integers(0, 5),
    st.integers(0, 5),
    st.integers(0, len(_SUFFIX_ORDER) - 1),
    st.integers(0, len(_SUFFIX_ORDER) - 1),
)
def test_apk_suffixes_and_revisions(nums: list[int], r1: int, r2: int, s1: int, s2: int) -> None:
    base = ".".join(map(str, nums))
    a = parse_version("Alpine:v3.18", f"{base}{_SUFFIX_ORDER[s1]}-r{r1}")
    b = parse_version("Alpine:v3.18", f"{base}{_SUFFIX_ORDER[s2]}-r{r2}")
    expected = (s1 > s2) - (s1 < s2) or (r1 > r2) - (r1 < r2)
    assert compare(a, b) == expected


@given(
    st.tuples(st.integers(0, 20), st.integers(0, 20), st.integers(0, 20)),
    st.tuples(st.integers(0, 20), st.integers(0, 20), st.integers(0, 20)),
)
def test_numeric_versions_order_like_tuples(
    a: tuple[int, int, int], b: tuple[int, int, int]
) -> None:
    expected = (a > b) - (a < b)
    for eco in ("Alpine:v3.18", "Debian:12", "PyPI", "npm", "Go", "Maven", "RubyGems", "crates.io"):
        va = parse_version(eco, ".".join(map(str, a)))
        vb = parse_version(eco, ".".join(map(str, b)))
        assert compare(va, vb) == expected, eco
