"""The analyzers a scan runs: one explicit tuple, no import side effects.

Adding an ecosystem is one module in this package plus one line here.  ``select`` picks
analyzers by their stable ``name`` (as used in cache keys and the CLI).
"""

from __future__ import annotations

from collections.abc import Iterable

from imagewarden.scan.analyzer.apk import ApkAnalyzer
from imagewarden.scan.analyzer.base import Analyzer
from imagewarden.scan.analyzer.dpkg import DpkgAnalyzer
from imagewarden.scan.analyzer.gem import GemAnalyzer
from imagewarden.scan.analyzer.go_binary import GoBinaryAnalyzer
from imagewarden.scan.analyzer.java_archive import JavaArchiveAnalyzer
from imagewarden.scan.analyzer.npm import NpmAnalyzer
from imagewarden.scan.analyzer.os_release import OsReleaseAnalyzer
from imagewarden.scan.analyzer.python_dist import PythonDistAnalyzer
from imagewarden.scan.analyzer.rpm import RpmAnalyzer
from imagewarden.scan.errors import AnalyzerError

DEFAULT_ANALYZERS: tuple[Analyzer, ...] = (
    OsReleaseAnalyzer(),
    DpkgAnalyzer(),
    ApkAnalyzer(),
    RpmAnalyzer(),
    PythonDistAnalyzer(),
    NpmAnalyzer(),
    JavaArchiveAnalyzer(),
    GoBinaryAnalyzer(),
    GemAnalyzer(),
)


def select(
    names: Iterable[str], available: Iterable[Analyzer] = DEFAULT_ANALYZERS
) -> tuple[Analyzer, ...]:
    """The analyzers named in ``names`` in registry order; an unknown name is an AnalyzerError."""
    pool = tuple(available)
    wanted = {n.strip() for n in names if n.strip()}
    known = {a.name for a in pool}
    if unknown := sorted(wanted - known):
        raise AnalyzerError(
            f"unknown analyzer(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    return tuple(a for a in pool if a.name in wanted)
