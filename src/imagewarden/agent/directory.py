"""``dir:PATH``: image files on disk (a registry mirrored to disk, an export folder, tests).

PATH is a directory searched (to a bounded depth) for OCI image layouts (directories with an
``oci-layout`` file), and for ``docker save`` archives and OCI archives (tar files).  Only the
small JSON documents are read (index, manifest, config), through ``imagewarden.scan.source``,
which verifies each one against its digest; layers are never opened.  A file or layout that
cannot be read is skipped with a warning, so one broken file does not hide the others.

Names: a ``docker save`` entry's ``RepoTags``; an OCI descriptor's
``io.containerd.image.name`` or ``org.opencontainers.image.ref.name``; a bare ref name
(``1.25``, as ``skopeo copy ... oci:DIR/nginx:1.25`` writes) is taken as a tag of a
repository named after the layout directory (``nginx:1.25``).  Size is the sum of the layer
sizes as stored (compressed in OCI layouts), not the unpacked size Docker reports.
"""

from __future__ import annotations

import json
import logging
import os
import tarfile
from pathlib import Path
from typing import Any

from imagewarden.agent.collector import CollectorError, ExportError
from imagewarden.agent.model import ImageInfo, Inventory, rfc3339

__all__ = ["DirectoryCollector"]

log = logging.getLogger(__name__)

_MAX_JSON = 8 * 1024 * 1024
_REF_NAME = "org.opencontainers.image.ref.name"
_CONTAINERD_NAME = "io.containerd.image.name"


class DirectoryCollector:
    name = "dir"

    def __init__(self, root: str | Path, *, max_depth: int = 4) -> None:
        self.root = Path(root)
        self.max_depth = max_depth
        self._refs: dict[str, str] = {}  # image ID -> the source reference it was read from

    def collect(self) -> Inventory:
        if not self.root.is_dir():
            raise CollectorError(f"dir: {self.root}: not a directory")
        images: list[ImageInfo] = []
        refs: dict[str, str] = {}
        for path in self._candidates():
            try:
                found = self._read(path)
            except Exception as exc:  # one unreadable file must not hide the others
                log.warning("dir: skipping %s: %s", path, exc)
                continue
            for info, ref in found:
                images.append(info)
                refs.setdefault(info.image_id, ref)
        self._refs = refs
        return Inventory.of(images, [])

    def export(self, image_id: str, workdir: Path) -> str:
        """The files are the image: the reference they were read from (nothing is copied)."""
        ref = self._refs.get(image_id)
        if ref is None:
            raise ExportError(f"dir: {image_id} is not in {self.root}")
        return ref

    def _candidates(self) -> list[Path]:
        found: list[Path] = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            here = Path(dirpath)
            if (here / "oci-layout").is_file():
                found.append(here)
                dirnames[:] = []  # a layout's blobs are not images of their own
                continue
            if len(here.relative_to(self.root).parts) >= self.max_depth:
                dirnames[:] = []
            dirnames.sort()
            found.extend(
                here / f
                for f in sorted(filenames)
                if not f.startswith(".") and (here / f).is_file() and _is_tar(here / f)
            )
        return found

    def _read(self, path: Path) -> list[tuple[ImageInfo, str]]:
        from imagewarden.scan.source import open_source

        if path.is_dir():
            index = _json(path / "index.json")
            return [
                self._one(open_source, f"oci:{path}" + (f":{ref}" if ref else ""), names)
                for ref, names in _oci_refs(index, path.name, single=_count(index) == 1)
            ]
        with tarfile.open(path) as tar:
            members = {m.name.removeprefix("./"): m for m in tar.getmembers() if m.isfile()}
            if "manifest.json" in members:
                entries = _tar_json(tar, members["manifest.json"])
                if not isinstance(entries, list):
                    raise CollectorError("manifest.json is not a list")
                return [
                    self._one(open_source, f"docker-archive:{path}:@{n}", None)
                    for n in range(len(entries))
                ]
            if "index.json" in members:
                index = _tar_json(tar, members["index.json"])
                stem = path.name.split(".")[0]
                return [
                    self._one(
                        open_source, f"oci-archive:{path}" + (f":{ref}" if ref else ""), names
                    )
                    for ref, names in _oci_refs(index, stem, single=_count(index) == 1)
                ]
        raise CollectorError("neither a docker-archive nor an OCI archive")

    @staticmethod
    def _one(open_source: Any, ref: str, names: tuple[str, ...] | None) -> tuple[ImageInfo, str]:
        """One image and its reference; ``names`` replaces the source's own tags (OCI ref
        names are not repo:tag)."""
        src = open_source(ref)
        try:
            manifest = src.manifest()
            config = src.config()
            size = sum(max(0, layer.size) for layer in src.layers())
        finally:
            src.close()
        info = ImageInfo(
            image_id=str(config.digest),
            repo_tags=tuple(sorted(set(manifest.repo_tags if names is None else names))),
            repo_digests=tuple(sorted(manifest.repo_digests)),
            size=size,
            create_time=rfc3339(config.created),
            os_name=None,
            architecture=config.architecture or None,
        )
        return info, ref


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def _json(path: Path) -> Any:
    with path.open("rb") as fh:
        data = fh.read(_MAX_JSON + 1)
    if len(data) > _MAX_JSON:
        raise CollectorError(f"{path}: larger than {_MAX_JSON} bytes")
    return json.loads(data)


def _tar_json(tar: tarfile.TarFile, member: tarfile.TarInfo) -> Any:
    if member.size > _MAX_JSON:
        raise CollectorError(f"{member.name}: larger than {_MAX_JSON} bytes")
    fh = tar.extractfile(member)
    if fh is None:
        raise CollectorError(f"{member.name}: unreadable")
    return json.loads(fh.read())


def _count(index: Any) -> int:
    manifests = index.get("manifests") if isinstance(index, dict) else None
    return len(manifests) if isinstance(manifests, list) else 0


def _oci_refs(index: Any, repo: str, *, single: bool) -> list[tuple[str | None, tuple[str, ...]]]:
    """(selector for open_source, names) per image of an OCI index; untagged ones only if alone."""
    manifests = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(manifests, list):
        raise CollectorError("index.json lists no manifests")
    out: list[tuple[str | None, tuple[str, ...]]] = []
    for desc in manifests:
        ann = desc.get("annotations") if isinstance(desc, dict) else None
        ann = ann if isinstance(ann, dict) else {}
        full, ref = ann.get(_CONTAINERD_NAME), ann.get(_REF_NAME)
        if isinstance(full, str) and full:
            out.append((full, (full,) if _has_tag(full) else ()))
        elif isinstance(ref, str) and ref:
            name = ref if "/" in ref or ":" in ref else f"{repo}:{ref}"
            out.append((ref, (name,)))
        elif single:
            out.append((None, ()))
        else:
            log.warning("dir: %s: an untagged image among several cannot be selected", repo)
    return out


def _has_tag(name: str) -> bool:
    return name.rfind(":") > name.rfind("/")
