"""Severity of an advisory: a CVSS score when there is a vector, else the publisher's word.

Order of evidence (the first that yields something wins):

1. ``severity[]`` entries of type ``CVSS_V3``, then ``CVSS_V4``, then ``CVSS_V2``, scored with
   the ``cvss`` library (base score).  A bare number in ``score`` is accepted as a score.
2. A severity word: ``severity[]`` of type ``Ubuntu`` (Ubuntu priority), then
   ``ecosystem_specific.severity`` / ``ecosystem_specific.urgency`` (Debian urgency),
   then ``database_specific.severity`` (GHSA ``HIGH``/``MODERATE``...).

Buckets from a score (CVSS v3 qualitative scale):

=============  ================
score          bucket
=============  ================
>= 9.0         CRITICAL
>= 7.0         HIGH
>= 4.0         MEDIUM
> 0.0          LOW
0.0 / none     UNKNOWN
=============  ================

Words: ``critical`` -> CRITICAL; ``high``, ``important`` -> HIGH; ``moderate``, ``medium`` ->
MEDIUM; ``low``, ``negligible``, ``unimportant`` -> LOW; anything else (``not yet assigned``,
``end-of-life``, unknown words) -> UNKNOWN.  Matching of words is case-insensitive.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

from cvss import CVSS2, CVSS3, CVSS4
from cvss.exceptions import CVSSError

__all__ = ["Bucket", "SeverityInfo", "bucket_for_score", "bucket_for_word", "score_severity"]


class Bucket(StrEnum):
    """Same spelling as ``imagewarden.scan.detect.base.Severity``."""

    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class SeverityInfo:
    bucket: Bucket
    score: float | None = None
    vector: str | None = None


UNKNOWN = SeverityInfo(Bucket.UNKNOWN)

_WORDS = {
    "critical": Bucket.CRITICAL,
    "high": Bucket.HIGH,
    "important": Bucket.HIGH,
    "moderate": Bucket.MEDIUM,
    "medium": Bucket.MEDIUM,
    "low": Bucket.LOW,
    "negligible": Bucket.LOW,
    "unimportant": Bucket.LOW,
}

_CVSS_ORDER = ("CVSS_V3", "CVSS_V4", "CVSS_V2")


def bucket_for_score(score: float | None) -> Bucket:
    if score is None or score <= 0.0:
        return Bucket.UNKNOWN
    if score >= 9.0:
        return Bucket.CRITICAL
    if score >= 7.0:
        return Bucket.HIGH
    if score >= 4.0:
        return Bucket.MEDIUM
    return Bucket.LOW


def bucket_for_word(word: object) -> Bucket:
    if not isinstance(word, str):
        return Bucket.UNKNOWN
    return _WORDS.get(word.strip().lower(), Bucket.UNKNOWN)


@lru_cache(maxsize=16384)  # feeds repeat a few thousand distinct vectors
def _score_vector(kind: str, text: str) -> SeverityInfo | None:
    text = text.strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        return SeverityInfo(bucket_for_score(number), number, None) if 0 < number <= 10 else None
    try:
        if kind == "CVSS_V3":
            c3 = CVSS3(text)
            score, vector = float(c3.base_score), c3.clean_vector()
        elif kind == "CVSS_V4":
            c4 = CVSS4(text)
            score, vector = float(c4.base_score), c4.clean_vector()
        else:
            c2 = CVSS2(text)
            score, vector = float(c2.base_score), c2.clean_vector()
    except (CVSSError, ValueError, KeyError, IndexError, TypeError):
        return None
    return SeverityInfo(bucket_for_score(score), score, vector)


def score_severity(
    entries: Iterable[tuple[str, str]],
    *specific: Mapping[str, Any] | None,
) -> SeverityInfo:
    """Score ``(type, score)`` pairs from an OSV ``severity`` list, falling back to words.

    ``specific`` are ``ecosystem_specific`` / ``database_specific`` objects, most specific first.
    """
    pairs = [(k.strip().upper(), s) for k, s in entries if isinstance(s, str)]
    for kind in _CVSS_ORDER:
        for k, s in pairs:
            if k == kind:
                info = _score_vector(kind, s)
                if info is not None:
                    return info
    for k, s in pairs:
        if k == "UBUNTU":
            b = bucket_for_word(s)
            if b is not Bucket.UNKNOWN:
                return SeverityInfo(b)
    for obj in specific:
        if not obj:
            continue
        for key in ("severity", "urgency"):
            b = bucket_for_word(obj.get(key))
            if b is not Bucket.UNKNOWN:
                return SeverityInfo(b)
    return UNKNOWN
