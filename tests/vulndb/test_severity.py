"""Severity buckets from CVSS vectors (scored by the cvss library) and publisher words."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagewarden.vulndb import Bucket, bucket_for_score, parse_osv, score_severity
from tests.vulndb.fixtures import OSV_DIR


@pytest.mark.parametrize(
    ("score", "bucket"),
    [
        (10.0, Bucket.CRITICAL),
        (9.0, Bucket.CRITICAL),
        (8.9, Bucket.HIGH),
        (7.0, Bucket.HIGH),
        (6.9, Bucket.MEDIUM),
        (4.0, Bucket.MEDIUM),
        (3.9, Bucket.LOW),
        (0.1, Bucket.LOW),
        (0.0, Bucket.UNKNOWN),
        (None, Bucket.UNKNOWN),
    ],
)
def test_bucket_boundaries(score: float | None, bucket: Bucket) -> None:
    assert bucket_for_score(score) is bucket


@given(st.floats(min_value=0.0, max_value=10.0), st.floats(min_value=0.0, max_value=10.0))
def test_buckets_are_monotone(a: float, b: float) -> None:
    order = [Bucket.UNKNOWN, Bucket.LOW, Bucket.MEDIUM, Bucket.HIGH, Bucket.CRITICAL]
    lo, hi = sorted((a, b))
    assert order.index(bucket_for_score(lo)) <= order.index(bucket_for_score(hi))


# (record, expected score, expected bucket, GHSA's own word for it)
REAL = [
    ("GHSA-jfh8-c2jp-5v3q", 10.0, Bucket.CRITICAL, "CRITICAL"),
    ("GHSA-xvch-5gv4-984h", 9.8, Bucket.CRITICAL, "CRITICAL"),
    ("GHSA-hxqx-xwvh-44m2", 7.5, Bucket.HIGH, "HIGH"),
    ("GHSA-j8r2-6x86-q33q", 6.1, Bucket.MEDIUM, "MODERATE"),
    ("GHSA-v845-jxx5-vc9f", 5.9, Bucket.MEDIUM, "MODERATE"),
    ("GHSA-45x7-px36-x8w8", 5.9, Bucket.MEDIUM, "MODERATE"),
]


@pytest.mark.parametrize(("ident", "score", "bucket", "word"), REAL)
def test_real_records_score_like_their_publisher(
    ident: str, score: float, bucket: Bucket, word: str
) -> None:
    path = next(OSV_DIR.rglob(f"{ident}.json"))
    raw = json.loads(path.read_text())
    (item,) = parse_osv(path.read_bytes(), str(path))
    adv = item.advisory
    assert adv.cvss_score == score
    assert adv.severity == bucket
    assert adv.cvss_vector == raw["severity"][0]["score"]
    assert {p.severity for p in adv.affected} == {bucket}
    # the GHSA word maps to the same bucket when there is no vector
    assert score_severity((), raw["database_specific"]).bucket is bucket
    assert raw["database_specific"]["severity"] == word


def test_records_without_any_severity_are_unknown() -> None:
    for name in ("DSA-5532-1", "ALPINE-CVE-2023-5363"):
        path = next(OSV_DIR.rglob(f"{name}.json"))
        (item,) = parse_osv(path.read_bytes(), str(path))
        assert item.advisory.severity == Bucket.UNKNOWN
        assert item.advisory.cvss_score is None


def test_cvss4_is_scored() -> None:
    vec = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
    info = score_severity([("CVSS_V4", vec)])
    assert (info.score, info.bucket, info.vector) == (9.3, Bucket.CRITICAL, vec)


def test_cvss3_preferred_over_cvss4_and_garbage_skipped() -> None:
    info = score_severity(
        [
            ("CVSS_V3", "not a vector"),
            ("CVSS_V4", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"),
            ("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"),
        ]
    )
    assert (info.score, info.bucket) == (7.5, Bucket.HIGH)


@pytest.mark.parametrize(
    ("entries", "specific", "bucket"),
    [
        ([("Ubuntu", "medium")], None, Bucket.MEDIUM),
        ([("Ubuntu", "negligible")], None, Bucket.LOW),
        ([], {"urgency": "high"}, Bucket.HIGH),  # Debian urgency
        ([], {"urgency": "unimportant"}, Bucket.LOW),
        ([], {"urgency": "not yet assigned"}, Bucket.UNKNOWN),
        ([], {"severity": "Important"}, Bucket.HIGH),
        ([], {"severity": 7}, Bucket.UNKNOWN),
    ],
)
def test_words(
    entries: list[tuple[str, str]], specific: dict[str, object] | None, bucket: Bucket
) -> None:
    assert score_severity(entries, specific).bucket is bucket
