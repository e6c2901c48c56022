"""The analyzer contract.

An analyzer names the files it wants (``wants``) and receives exactly those files of one
layer, never the whole layer.  Multi-file formats (dpkg status + info lists, RECORD +
METADATA) simply ask for several paths.  Results are cached per layer digest, keyed also
by ``name`` and ``version``: bump ``version`` whenever the output for the same input changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import ClassVar, Protocol

from imagewarden.scan.model import LayerFacts


@dataclass(frozen=True)
class FileInfo:
    """Metadata of a regular file in a layer, known before its bytes are read."""

    path: PurePosixPath  # relative to the image root, no leading "/"
    size: int
    mode: int


@dataclass(frozen=True)
class LayerFile:
    """A file an analyzer asked for, with its content read into memory (bounded by the walker)."""

    path: PurePosixPath
    size: int
    mode: int
    content: bytes


class Analyzer(Protocol):
    name: ClassVar[str]
    version: ClassVar[int]

    def wants(self, path: PurePosixPath, info: FileInfo) -> bool: ...

    def analyze(self, files: Mapping[PurePosixPath, LayerFile]) -> LayerFacts: ...
