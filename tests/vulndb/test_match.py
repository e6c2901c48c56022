"""OSV range semantics: introduced / fixed / last_affected / limit, version lists, GIT, unknowns."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagewarden.vulndb import (
    AffectedPackage,
    MatchStatus,
    RangeEvent,
    VersionRange,
    affected,
    in_range,
    parse_version,
)


def _entry(
    eco: str, *ranges: tuple[str, list[tuple[str, str]]], versions: tuple[str, ...] = ()
) -> AffectedPackage:
    return AffectedPackage(
        ecosystem=eco,
        name="pkg",
        raw_name="pkg",
        ranges=tuple(VersionRange(t, tuple(RangeEvent(k, v) for k, v in evs)) for t, evs in ranges),
        versions=versions,
    )


DEB = _entry("Debian:12", ("ECOSYSTEM", [("introduced", "0"), ("fixed", "3.0.11-1~deb12u2")]))


@pytest.mark.parametrize(
    ("version", "status"),
    [
        ("3.0.9-1", MatchStatus.AFFECTED),
        ("3.0.11-1~deb12u1", MatchStatus.AFFECTED),
        ("3.0.11-1~deb12u2", MatchStatus.NOT_AFFECTED),  # the backported fix itself
        ("3.0.11-1", MatchStatus.NOT_AFFECTED),
        ("3.0.13-1~deb12u1", MatchStatus.NOT_AFFECTED),
        ("not/a version!", MatchStatus.UNKNOWN),
    ],
)
def test_debian_backport_fix(version: str, status: MatchStatus) -> None:
    result = affected("Debian:12", version, DEB)
    assert result.status is status
    if status is MatchStatus.AFFECTED:
        assert result.fixed == ("3.0.11-1~deb12u2",)
        assert "fixed=3.0.11-1~deb12u2" in result.found
    if status is MatchStatus.UNKNOWN:
        assert result.reason


def test_last_affected_is_inclusive_and_limit_caps() -> None:
    e = _entry("PyPI", ("ECOSYSTEM", [("introduced", "1.0.0"), ("last_affected", "1.4.0")]))
    assert affected("PyPI", "1.4.0", e).status is MatchStatus.AFFECTED
    assert affected("PyPI", "1.4.1", e).status is MatchStatus.NOT_AFFECTED
    assert affected("PyPI", "0.9", e).status is MatchStatus.NOT_AFFECTED
    assert affected("PyPI", "1.4.0", e).fixed == ()
    lim = _entry("PyPI", ("ECOSYSTEM", [("introduced", "0"), ("limit", "2.0")]))
    assert affected("PyPI", "1.9", lim).status is MatchStatus.AFFECTED
    assert affected("PyPI", "2.0", lim).status is MatchStatus.NOT_AFFECTED


def test_several_intervals_in_one_range_and_unsorted_events() -> None:
    e = _entry(
        "npm",
        (
            "ECOSYSTEM",
            [("fixed", "1.2.6"), ("introduced", "1.0.0"), ("fixed", "0.2.4"), ("introduced", "0")],
        ),
    )
    assert affected("npm", "0.2.3", e).status is MatchStatus.AFFECTED
    assert affected("npm", "0.5.0", e).status is MatchStatus.NOT_AFFECTED
    assert affected("npm", "1.2.5", e).status is MatchStatus.AFFECTED
    assert affected("npm", "1.2.6", e).status is MatchStatus.NOT_AFFECTED


def test_semver_range_uses_semver_even_for_go() -> None:
    e = _entry("Go", ("SEMVER", [("introduced", "0"), ("fixed", "0.17.0")]))
    assert affected("Go", "v0.16.0", e).status is MatchStatus.AFFECTED
    assert affected("Go", "v0.17.0", e).status is MatchStatus.NOT_AFFECTED


def test_git_ranges_are_skipped_and_versions_lists_match() -> None:
    e = _entry(
        "PyPI",
        ("GIT", [("introduced", "0"), ("fixed", "01220354d389cd05474713f8c982d05c9b17aafb")]),
        versions=("1.0", "1.1"),
    )
    assert affected("PyPI", "1.1", e).status is MatchStatus.AFFECTED
    assert affected("PyPI", "1.1.0", e).status is MatchStatus.AFFECTED  # PEP 440 equal
    assert affected("PyPI", "1.2", e).status is MatchStatus.NOT_AFFECTED


def test_unparseable_event_is_unknown_not_an_exception() -> None:
    e = _entry("PyPI", ("ECOSYSTEM", [("introduced", "0"), ("fixed", "definitely-not-pep440")]))
    result = affected("PyPI", "1.0", e)
    assert result.status is MatchStatus.UNKNOWN
    assert "definitely-not-pep440" in result.reason


def test_unknown_does_not_hide_a_real_match() -> None:
    e = _entry(
        "PyPI",
        ("ECOSYSTEM", [("introduced", "0"), ("fixed", "bogus!")]),
        ("ECOSYSTEM", [("introduced", "0"), ("fixed", "2.0")]),
    )
    assert affected("PyPI", "1.0", e).status is MatchStatus.AFFECTED


_triple = st.tuples(st.integers(0, 9), st.integers(0, 9), st.integers(0, 9))


def _s(t: tuple[int, int, int]) -> str:
    return ".".join(map(str, t))


@given(
    _triple,
    _triple,
    _triple,
    st.sampled_from(
        ["PyPI", "npm", "Go", "crates.io", "Maven", "RubyGems", "Debian:12", "Alpine:v3.18"]
    ),
)
def test_range_membership_matches_interval_arithmetic(
    a: tuple[int, int, int], b: tuple[int, int, int], v: tuple[int, int, int], eco: str
) -> None:
    lo, hi = sorted((a, b))
    ver = parse_version(eco, _s(v))
    fixed = VersionRange(
        "ECOSYSTEM", (RangeEvent("introduced", _s(lo)), RangeEvent("fixed", _s(hi)))
    )
    last = VersionRange(
        "ECOSYSTEM", (RangeEvent("introduced", _s(lo)), RangeEvent("last_affected", _s(hi)))
    )
    zero = VersionRange("ECOSYSTEM", (RangeEvent("introduced", "0"), RangeEvent("fixed", _s(hi))))
    open_ended = VersionRange("ECOSYSTEM", (RangeEvent("introduced", _s(lo)),))
    assert in_range(eco, ver, fixed) is (lo <= v < hi)
    assert in_range(eco, ver, last) is (lo <= v <= hi)
    assert in_range(eco, ver, zero) is (v < hi)
    assert in_range(eco, ver, open_ended) is (v >= lo)
