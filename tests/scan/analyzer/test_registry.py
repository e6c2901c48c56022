"""The analyzer registry."""

from __future__ import annotations

import pytest

from imagewarden.scan.analyzer.registry import DEFAULT_ANALYZERS, select
from imagewarden.scan.errors import AnalyzerError


def test_default_analyzers_have_unique_names_and_versions() -> None:
    names = [a.name for a in DEFAULT_ANALYZERS]
    assert len(names) == len(set(names))
    assert {"os-release", "dpkg", "apk"} <= set(names)
    assert all(isinstance(a.version, int) and a.version >= 1 for a in DEFAULT_ANALYZERS)


def test_select() -> None:
    assert [a.name for a in select(["apk", " dpkg"])] == ["dpkg", "apk"]
    with pytest.raises(AnalyzerError, match="unknown analyzer"):
        select(["dpkg", "nope"])
