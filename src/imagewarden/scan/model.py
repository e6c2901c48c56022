"""Frozen values that flow through the scanner: components, OS facts, per-layer facts, reports.

Nothing here knows about HTTP, accounts or the store.  Every collection is a tuple sorted
deterministically before it leaves an analyzer, so cached layer facts and reports are stable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import NewType

from imagewarden.scan.detect.base import DetectorOutcome, FileFinding

Digest = NewType("Digest", str)  # "sha256:<hex>"

#: bumped whenever the shape or meaning of LayerFacts changes; part of every layer-cache key
#: (2: ``LayerFacts.owned_files``; 3: ``facts_paths`` lists every file the layer writes)
SCHEMA_VERSION = 3


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
    #: language components installed by the OS package manager: the owning OS package as
    #: ``"<type>:<name>"`` (``"deb:python3-requests"``, ``"apk:py3-requests"``,
    #: ``"rpm:python3-requests"``), set by ``apply`` from the package databases' file lists.
    #: Distributions patch such files without changing the language-level version, so they
    #: are matched only through the owning OS package, never against language advisories.
    owner: str | None = None


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


@dataclass(frozen=True, order=True)
class FileOwnership:
    """Files an OS package database says one package installed.

    Only the paths a language analyzer could report are kept (see
    ``imagewarden.scan.analyzer.ownership.language_relevant``): a Debian base lists tens of
    thousands of files, and the layer cache should not carry them all.
    """

    #: the database file the list came from (``var/lib/dpkg/info/python3-requests.list``,
    #: ``lib/apk/db/installed``, ``var/lib/rpm/rpmdb.sqlite``): ``apply`` drops the ownership
    #: when an upper layer deletes or rewrites that file, like any other fact
    db_path: str
    #: the owning OS package, ``"<component type>:<package name>"``
    owner: str
    #: root-relative paths (no leading ``/``), sorted
    paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class LayerFacts:
    """What the analyzers found in one layer (cached by layer diff_id + analyzer versions)."""

    os: OsInfo | None = None
    components: tuple[Component, ...] = ()
    unknowns: tuple[Unknown, ...] = ()
    #: paths of the files this layer writes (regular files and hard links), sorted.  When a
    #: later layer lists the same path, every fact derived from the earlier file is dropped
    #: (the file was rewritten), whether or not anything wanted to read the new one.
    facts_paths: tuple[str, ...] = field(default=())
    #: paths this layer deletes from lower layers (``.wh.NAME`` entries), sorted
    whiteouts: tuple[str, ...] = ()
    #: directories whose lower-layer contents this layer hides (``.wh..wh..opq``), sorted
    opaque_dirs: tuple[str, ...] = ()
    #: symbolic links this layer creates: (path, target as stored), sorted by path
    symlinks: tuple[tuple[str, str], ...] = ()
    #: every release file of this layer that identified an OS (``os`` is the best of them),
    #: so ``apply`` can fall back when a later layer deletes the best one; sorted by path
    os_files: tuple[OsInfo, ...] = ()
    #: what the content scanners (malware, secrets) found in this layer's files, each with
    #: ``layer`` set to the layer's diff_id; sorted.  A later layer that rewrites a file
    #: (``facts_paths``) drops these findings.
    findings: tuple[FileFinding, ...] = ()
    #: file lists of the OS packages whose database files this layer provides, sorted
    owned_files: tuple[FileOwnership, ...] = ()


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
    #: symbolic links of the merged root filesystem: (path, target as stored), sorted by path
    symlinks: tuple[tuple[str, str], ...] = ()
    #: content-scanner findings in files still present in the merged root (a whiteout,
    #: opaque dir or rewrite in an upper layer removed the others); sorted
    findings: tuple[FileFinding, ...] = ()


@dataclass(frozen=True)
class LayerSummary:
    """One layer of a scanned image, as the report shows it."""

    digest: Digest
    diff_id: Digest
    media_type: str
    size: int
    #: facts came from the layer cache (the layer was not read)
    cached: bool = False
    seconds: float = 0.0


@dataclass(frozen=True)
class ScanReport:
    """The outcome of scanning one image: facts, and each detector category's findings or error.

    Built by ``imagewarden.scan.pipeline.scan_image``.  ``outcomes`` holds one
    ``DetectorOutcome`` per detector, sorted by category; a failed category carries its
    ``error`` and never spoils the others.
    """

    image_id: Digest
    repo_tags: tuple[str, ...]
    repo_digests: tuple[str, ...]
    manifest_digest: Digest | None
    os: OsInfo | None
    components: tuple[Component, ...]
    unknowns: tuple[Unknown, ...]
    outcomes: tuple[DetectorOutcome, ...]
    #: sum of the layers' stored (compressed) sizes, bytes
    size: int
    created: str | None
    architecture: str
    layer_count: int
    layers: tuple[LayerSummary, ...] = ()
    #: (stage, seconds) in the order the stages ran: "resolve", "layers", "apply", "detect:<cat>"
    timings: tuple[tuple[str, float], ...] = ()
    #: the source reference the scan was asked for ("oci:/path:tag", "registry:...")
    source: str = ""
    os_name_config: str = ""  # the config's "os" (normally "linux")
