"""Errors of the scanner: one base, ``ScanError``, so callers catch one thing.

::

    ScanError                      anything that stops an image scan (callers map it to SCAN_ERR)
    ├── SourceError                the image cannot be resolved: missing blob, bad manifest or
    │                              config JSON, unsupported media type, ambiguous tag/platform
    ├── DigestMismatchError        a blob (manifest, config, layer) or a layer's diff_id does not
    │                              hash to the digest that names it
    ├── UnsafeArchiveError         a layer or archive breaks a safety rule: path traversal, link
    │                              escaping the root, write through a symlink, too many entries,
    │                              too many bytes, compression ratio (bombs), huge/sparse entries
    ├── LayerReadError             a layer stream cannot be read: truncated or corrupt compression,
    │                              broken tar headers
    └── AnalyzerError              an analyzer cannot do its job (also: unknown analyzer name).
                                   Raised *inside* an analyzer it becomes an ``Unknown`` for the
                                   files it was given; it never fails the image.

A file an analyzer cannot parse is not an error at all: it becomes an ``Unknown`` in the
result.  Only a broken or unsafe *source* fails the image.
"""

from __future__ import annotations


class ScanError(Exception):
    """Base of every error the scanner raises."""


class SourceError(ScanError):
    """The image cannot be resolved from its source."""


class DigestMismatchError(ScanError):
    """Content does not hash to the digest that names it."""

    def __init__(self, what: str, expected: str, actual: str) -> None:
        super().__init__(f"{what}: digest mismatch: expected {expected}, got {actual}")
        self.what = what
        self.expected = expected
        self.actual = actual


class UnsafeArchiveError(ScanError):
    """An archive or layer breaks a safety rule (traversal, links, bombs, limits)."""


class LayerReadError(ScanError):
    """A layer stream is truncated or corrupt."""


class AnalyzerError(ScanError):
    """An analyzer failed; inside a scan this becomes an ``Unknown``, never a failed image."""
