"""Image sources, and ``open_source`` turning a skopeo-style reference into one.

References::

    oci:DIR[:TAG]                       an OCI image layout directory
    oci-archive:FILE[:TAG]              an OCI layout packed in a tar file
    docker-archive:FILE[:N | :repo:tag] a ``docker save`` / ``podman save`` archive
    registry:HOST/REPO[:TAG | @sha256:...]   (also docker://...) a registry, via
                                        ``imagewarden.scan.source.registry.RegistrySource``
    PATH                                a directory or file: the kind is detected

A path that exists as written is never split at ``:``; otherwise the longest existing
prefix before a ``:`` is the path and the rest the tag/selector.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

from imagewarden.scan.errors import SourceError
from imagewarden.scan.source.base import ImageSource, Platform

__all__ = ["ImageSource", "Platform", "open_source", "split_ref"]

_SCHEMES = ("oci", "oci-archive", "docker-archive", "registry", "docker")


def split_ref(ref: str) -> tuple[str, str, str | None]:
    """Split ``scheme:PATH[:REST]`` into (scheme, path, rest or None) for the local schemes."""
    scheme, sep, rest = ref.partition(":")
    if not sep or scheme not in _SCHEMES:
        return "", ref, None
    if scheme in ("registry", "docker"):
        return scheme, rest.removeprefix("//"), None
    if Path(rest).exists() or ":" not in rest:
        return scheme, rest, None
    # the first ':' whose prefix exists is the separator (tags like repo:tag contain ':')
    pos = rest.find(":")
    while pos != -1:
        if Path(rest[:pos]).exists():
            return scheme, rest[:pos], rest[pos + 1 :]
        pos = rest.find(":", pos + 1)
    return scheme, rest, None


def open_source(ref: str, platform: Platform | None = None) -> ImageSource:
    """Open the image ``ref`` names; a broken source raises a ``ScanError`` subclass."""
    scheme, path, rest = split_ref(ref)
    if scheme in ("registry", "docker"):
        try:
            from imagewarden.scan.source.registry import RegistrySource
        except ImportError as exc:
            raise SourceError(f"registry sources are not available: {exc}") from exc
        # the registry parser understands the ``registry:`` prefix itself (and ``registry:5000/x``)
        return RegistrySource(ref if scheme == "registry" else path, platform)
    if scheme == "":
        scheme = _detect(Path(path))
    if not Path(path).exists():
        raise SourceError(f"{path}: no such file or directory")
    if scheme == "oci":
        from imagewarden.scan.source.oci_layout import OciLayoutSource

        return OciLayoutSource(path, rest, platform)
    if scheme == "oci-archive":
        from imagewarden.scan.source.oci_archive import OciArchiveSource

        return OciArchiveSource(path, rest, platform)
    from imagewarden.scan.source.docker_archive import DockerArchiveSource

    selector: int | str | None = rest
    if rest is not None and rest.removeprefix("@").isdigit():
        selector = int(rest.removeprefix("@"))
    return DockerArchiveSource(path, selector)


def _detect(path: Path) -> str:
    if path.is_dir():
        return "oci"
    if not path.is_file():
        raise SourceError(f"{path}: no such file or directory")
    try:
        with tarfile.open(path, mode="r:*") as tar:
            for n, member in enumerate(tar):
                name = member.name.removeprefix("./")
                if name == "manifest.json":
                    return "docker-archive"
                if name == "oci-layout":
                    return "oci-archive"
                if n > 10_000:
                    break
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise SourceError(f"{path}: not an image archive: {exc}") from exc
    raise SourceError(f"{path}: neither a docker-archive nor an oci-archive")
