"""Errors of the vulnerability database.

::

    VulnDbError                   base: callers (CLI, detector) catch this one
     ├── OsvFormatError           a record is not valid OSV (bad JSON, missing id/modified, wrong types)
     ├── UnsafeArchiveError       an archive was refused: path tricks, encrypted or oversized
     │                            members, suspicious compression ratios (zip bombs)
     ├── ImportSourceError        a path given to ``db import`` cannot be read
     └── VersionError             a version string cannot be parsed for its ecosystem (never
                                  escapes matching: it becomes an "unknown" outcome)
"""

from __future__ import annotations

__all__ = [
    "ImportSourceError",
    "OsvFormatError",
    "UnsafeArchiveError",
    "VersionError",
    "VulnDbError",
]


class VulnDbError(Exception):
    """Base of every error raised by ``imagewarden.vulndb``."""


class OsvFormatError(VulnDbError):
    """A record is not valid OSV."""


class UnsafeArchiveError(VulnDbError):
    """An archive was refused before or while it was read."""


class ImportSourceError(VulnDbError):
    """A path given to the importer cannot be read."""


class VersionError(VulnDbError):
    """A version string is not valid for its ecosystem's version scheme."""
