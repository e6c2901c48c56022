"""OSV ecosystems: names, releases, version schemes and package-name normalisation.

An OSV ecosystem string is ``Base`` or ``Base:release`` (``Debian:12``, ``Alpine:v3.18``,
``Ubuntu:22.04:LTS``).  Matching is keyed by the *full* string, so a Debian 12 image only
sees ``Debian:12`` records; the base picks the version scheme.

Version schemes come from univers.  Some univers classes (the Gentoo/Alpine family) only
define ``<``, ``==`` and ``>`` correctly, so everything here compares through
:func:`compare`, never through ``<=``/``>=``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from univers.versions import (
    AlpineLinuxVersion,
    DebianVersion,
    GolangVersion,
    InvalidVersion,
    MavenVersion,
    PypiVersion,
    RubygemsVersion,
    SemverVersion,
    Version,
)

from imagewarden.vulndb.errors import VersionError

__all__ = [
    "SUPPORTED",
    "Ecosystem",
    "compare",
    "is_supported",
    "normalise_name",
    "os_ecosystem",
    "parse_ecosystem",
    "parse_version",
    "version_scheme",
]

#: ecosystem base -> univers version class used for its ECOSYSTEM ranges
_SCHEMES: dict[str, type[Version]] = {
    "Debian": DebianVersion,
    "Ubuntu": DebianVersion,
    "Alpine": AlpineLinuxVersion,
    "PyPI": PypiVersion,
    "npm": SemverVersion,
    "Go": GolangVersion,
    "Maven": MavenVersion,
    "crates.io": SemverVersion,
    "RubyGems": RubygemsVersion,
}

_CLASSES: dict[str, type[Version]] = {c.__name__: c for c in (*_SCHEMES.values(), SemverVersion)}

#: bases whose records are matched; records of other ecosystems are stored, flagged unsupported
SUPPORTED: tuple[str, ...] = tuple(sorted(_SCHEMES))


@dataclass(frozen=True, order=True)
class Ecosystem:
    """A parsed OSV ecosystem string: ``Ubuntu:22.04:LTS`` -> base ``Ubuntu``, release ``22.04:LTS``."""

    name: str
    base: str
    release: str


def parse_ecosystem(name: str) -> Ecosystem:
    base, _, release = name.strip().partition(":")
    return Ecosystem(name=name.strip(), base=base, release=release)


def is_supported(ecosystem: str) -> bool:
    return parse_ecosystem(ecosystem).base in _SCHEMES


def version_scheme(ecosystem: str, range_type: str = "ECOSYSTEM") -> type[Version] | None:
    """The univers class for versions of ``ecosystem``; SEMVER ranges always use semver."""
    if range_type == "SEMVER":
        return SemverVersion
    return _SCHEMES.get(parse_ecosystem(ecosystem).base)


@lru_cache(maxsize=65536)
def _parse(scheme: str, text: str) -> Version:
    return _CLASSES[scheme](text)


def parse_version(ecosystem: str, text: str, range_type: str = "ECOSYSTEM") -> Version:
    """Parse ``text`` in the scheme of ``ecosystem``; raise :class:`VersionError` if it is not valid."""
    cls = version_scheme(ecosystem, range_type)
    if cls is None:
        raise VersionError(f"ecosystem {ecosystem!r} has no supported version scheme")
    stripped = text.strip()
    if not stripped:
        raise VersionError(f"empty version for {ecosystem}")
    try:
        return _parse(cls.__name__, stripped)
    except (InvalidVersion, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise VersionError(f"{text!r} is not a valid {ecosystem} version: {exc}") from exc


def compare(a: Version, b: Version) -> int:
    """-1, 0 or 1; only ``<`` and ``>`` are trusted (see the module docstring)."""
    if a < b:
        return -1
    if a > b:
        return 1
    return 0


_PEP503 = re.compile(r"[-_.]+")


def normalise_name(ecosystem: str, name: str) -> str:
    """The key a package is stored and looked up by, per ecosystem.

    PyPI: PEP 503 (lower case, runs of ``-_.`` become ``-``).  Maven: ``group:artifact`` as
    given (a purl-style ``group/artifact`` is turned into that form).  Debian/Ubuntu and
    crates.io: lower case (their names are case-insensitive).  Go module paths, npm, RubyGems
    and Alpine: as given, trimmed.
    """
    base = parse_ecosystem(ecosystem).base
    n = name.strip()
    if base == "PyPI":
        return _PEP503.sub("-", n).lower()
    if base == "Maven":
        if ":" not in n and "/" in n:
            group, _, artifact = n.rpartition("/")
            n = f"{group.replace('/', '.')}:{artifact}"
        return n
    if base in ("Debian", "Ubuntu", "crates.io"):
        return n.lower()
    return n


def os_ecosystem(family: str, version: str) -> str | None:
    """The OSV ecosystem of an operating-system release, or None if it is not matched.

    ``debian`` 12.x -> ``Debian:12``; ``ubuntu`` 22.04 -> ``Ubuntu:22.04:LTS`` (even year and
    ``.04``), 23.10 -> ``Ubuntu:23.10``; ``alpine`` 3.18.4 -> ``Alpine:v3.18``.
    """
    fam = family.strip().lower()
    ver = version.strip().lstrip("vV")
    if fam == "debian":
        major = ver.split(".", 1)[0]
        return f"Debian:{major}" if major.isdigit() else None
    if fam == "ubuntu":
        m = re.match(r"^(\d{2})\.(\d{2})", ver)
        if m is None:
            return None
        yy, mm = m.group(1), m.group(2)
        lts = mm == "04" and int(yy) % 2 == 0
        return f"Ubuntu:{yy}.{mm}:LTS" if lts else f"Ubuntu:{yy}.{mm}"
    if fam == "alpine":
        parts = ver.split(".")
        if len(parts) < 2 or not (parts[0].isdigit() and parts[1].isdigit()):
            return None
        return f"Alpine:v{parts[0]}.{parts[1]}"
    return None
