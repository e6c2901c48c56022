"""Frozen values that flow through the scanner: components, OS facts, per-layer facts, reports.

Nothing here knows about HTTP, accounts or the store.  Every collection is a tuple sorted
deterministically before it leaves an analyzer, so cached layer facts and reports are stable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import NewType

Digest = NewType("Digest", str)  # "sha256:<hex>"

#: bumped whenever the shape of LayerFacts changes; part of every layer-cache key
SCHEMA_VERSION = 1


class ComponentType(StrEnum):
    """The package ecosystem a component belongs to (also its purl type where one exists)."""

    DEB = "deb"
    APK = "apk"
    RPM = "rpm"
    PYPI = "pypi"
    NPM = "npm"
    MAVEN = "maven"
    GOLANG = "golang"
    GEM = "gem"


@dataclass(frozen=True, order=True)
class Component:
    """One installed package, library or module found in an image."""

    type: ComponentType
    name: str
    version: str
    #: where it was found inside the image (database file, manifest, binary)
    path: str
    purl: str
    #: the analyzer that produced it ("dpkg", "apk", "python-dist", ...)
    analyzer: str
    #: OS packages: the source package the binary was built from (dpkg Source:, apk origin, rpm SRPM)
    source_name: str | None = None
    source_version: str | None = None
    #: digest (diff_id) of the layer that last wrote the file it came from; set when layers are applied
    layer: str | None = None


@dataclass(frozen=True)
class OsInfo:
    """The operating system of the image root filesystem."""

    family: str  # "debian", "ubuntu", "alpine", "centos", "rhel", "rocky", "amzn", ...
    version: str  # "12", "22.04", "3.18.4", "7"
    #: TCSS OsName: "debian:12", "ubuntu:22.04", "alpine:v3.18", "centos:7"
    name: str
    pretty_name: str = ""
    #: path the facts were read from
    path: str = ""


@dataclass(frozen=True, order=True)
class Unknown:
    """Something an analyzer could not read: recorded, never silently dropped."""

    path: str
    analyzer: str
    reason: str


@dataclass(frozen=True)
class LayerFacts:
    """What the analyzers found in one layer (cached by layer diff_id + analyzer versions)."""

    os: OsInfo | None = None
    components: tuple[Component, ...] = ()
    unknowns: tuple[Unknown, ...] = ()
    #: paths of files this layer provides that other stages care about (e.g. os-release)
    facts_paths: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class ImageContents:
    """The merged view of an image after all layers were applied (whiteouts honoured).

    This is what detectors receive.  ``config`` is the parsed image config
    (``imagewarden.scan.source.base.ImageConfig``), typed loosely here to keep this module
    free of source imports.
    """

    image_id: Digest
    os: OsInfo | None
    components: tuple[Component, ...]
    unknowns: tuple[Unknown, ...] = ()
    config: object | None = None
