"""Replay per-layer facts bottom-up into the merged view of an image.

Facts are keyed by the path of the file they came from (a component's ``path`` up to the
first ``!``, which nested locations such as ``app.jar!/lib/x.jar`` append after).  For
each layer, in order:

1. opaque dirs hide everything lower layers put under them; whiteouts delete a path and
   everything under it; a file this layer rewrote (``facts_paths``) or replaced with a
   symlink drops every fact derived from the lower-layer file;
2. the layer's own facts are added, each component stamped with the layer's diff_id.

Content-scanner findings (malware, secrets) follow the same rules, keyed by their file's
root-relative path: a finding in a file an upper layer deletes or rewrites is dropped, so
what survives describes the files a container of this image actually sees.

OS package file lists (``owned_files``) are keyed by their database file
(``var/lib/dpkg/info/<pkg>.list``, ``lib/apk/db/installed``, the rpm database), so deleting
or rewriting that file drops them like any other fact.  Language components whose file (a
component's path up to ``!``, or the ``.dist-info``/``.egg-info`` directory it came from)
a surviving list names get ``owner`` = that OS package, provided the package itself is
still among the image's components; the listed paths are resolved through the image's
directory symlinks first (``bin`` → ``usr/bin`` on merged-``/usr`` systems, where dpkg
lists ``/bin/...``).

The OS is taken from the best release file left (``OS_PATHS`` precedence), resolving
``etc/os-release``-style symlinks inside the image root with a bounded hop count; a symlink
loop is recorded as an ``Unknown``.  Deb/apk purls get their ``distro`` qualifier (and deb
purls the OS family as namespace) once the OS is known.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import PurePosixPath
from typing import Any

from packageurl import PackageURL

from imagewarden.scan.analyzer.os_release import OS_PATHS, os_path_rank
from imagewarden.scan.analyzer.ownership import LANGUAGE_TYPES, owner_ref
from imagewarden.scan.detect.base import FileFinding
from imagewarden.scan.model import (
    Component,
    ComponentType,
    Digest,
    FileOwnership,
    ImageContents,
    LayerFacts,
    OsInfo,
    Unknown,
)
from imagewarden.scan.walker import component_sort_key, resolve_symlinks

_DEB_NAMESPACES = frozenset({"debian", "ubuntu"})
_OS_TYPES = (ComponentType.DEB, ComponentType.APK, ComponentType.RPM)
_METADATA_DIRS = (".dist-info", ".egg-info")


def _key(path: str) -> str:
    return path.split("!", 1)[0]


def _under(path: str, roots: Sequence[str]) -> bool:
    for root in roots:
        if root == "" or path == root or path.startswith(root + "/"):
            return True
    return False


class _Tree:
    def __init__(self) -> None:
        self.components: dict[str, list[Component]] = {}
        self.unknowns: dict[str, list[Unknown]] = {}
        self.os: dict[str, OsInfo] = {}
        self.symlinks: dict[str, str] = {}
        self.findings: dict[str, list[FileFinding]] = {}
        self.owned: dict[str, list[FileOwnership]] = {}

    def _tables(self) -> tuple[dict[str, Any], ...]:
        return (
            self.components,
            self.unknowns,
            self.os,
            self.symlinks,
            self.findings,
            self.owned,
        )

    def drop(self, predicate_roots: Sequence[str], *, exact: Sequence[str] = ()) -> None:
        exact_set = set(exact)
        for table in self._tables():
            for key in [
                k
                for k in table
                if k in exact_set or (predicate_roots and _under(k, predicate_roots))
            ]:
                del table[key]

    def drop_opaque(self, dirs: Sequence[str]) -> None:
        # an opaque dir keeps the directory itself, hides only what is below it
        below = list(dirs)
        for table in self._tables():
            for key in [k for k in table if any(d == "" or k.startswith(d + "/") for d in below)]:
                del table[key]


def apply_layers(
    image_id: Digest,
    layers: Sequence[tuple[Digest, LayerFacts]],
    *,
    config: object | None = None,
    max_symlink_hops: int = 40,
) -> ImageContents:
    """Merge ``layers`` (diff_id, facts), lowest first, into ``ImageContents``."""
    tree = _Tree()
    for diff_id, facts in layers:
        if facts.opaque_dirs:
            tree.drop_opaque(facts.opaque_dirs)
        if facts.whiteouts:
            tree.drop(facts.whiteouts)
        rewritten = [*facts.facts_paths, *(p for p, _ in facts.symlinks)]
        if rewritten:
            tree.drop((), exact=rewritten)
        for c in facts.components:
            tree.components.setdefault(_key(c.path), []).append(replace(c, layer=diff_id))
        for u in facts.unknowns:
            tree.unknowns.setdefault(_key(u.path), []).append(u)
        for f in facts.findings:
            stamped = f if f.layer else replace(f, layer=diff_id)
            tree.findings.setdefault(_key(f.path.lstrip("/")), []).append(stamped)
        for o in facts.owned_files:
            tree.owned.setdefault(o.db_path, []).append(o)
        for info in facts.os_files or ((facts.os,) if facts.os is not None else ()):
            tree.os[info.path] = info
        tree.symlinks.update(facts.symlinks)

    unknowns = [u for us in tree.unknowns.values() for u in us]
    os = _pick_os(tree, max_symlink_hops, unknowns)
    components = [_with_distro(c, os) for cs in tree.components.values() for c in cs]
    components = _with_owners(components, tree, max_symlink_hops)
    return ImageContents(
        image_id=image_id,
        os=os,
        components=tuple(sorted(set(components), key=component_sort_key)),
        unknowns=tuple(sorted(set(unknowns))),
        config=config,
        symlinks=tuple(sorted(tree.symlinks.items())),
        findings=tuple(sorted({f for fs in tree.findings.values() for f in fs})),
    )


def _pick_os(tree: _Tree, max_hops: int, unknowns: list[Unknown]) -> OsInfo | None:
    if not tree.os:
        return None
    candidates: list[tuple[int, OsInfo]] = []
    for rank, wanted in enumerate(OS_PATHS):
        resolved, problem = resolve_symlinks(wanted, tree.symlinks, max_hops)
        if problem is not None:
            unknowns.append(Unknown(wanted, "os-release", problem))
            continue
        if resolved in tree.os:
            candidates.append((rank, tree.os[resolved]))
    if not candidates:  # release files in unexpected places (should not happen)
        best = min(tree.os.values(), key=lambda o: (os_path_rank(o.path), o.path))
        return best
    return min(candidates, key=lambda c: c[0])[1]


def _owned_paths(
    owned: Iterable[FileOwnership], present: set[str], symlinks: dict[str, str], max_hops: int
) -> dict[str, str]:
    """{path: owner} of the file lists whose package is still installed, the listed paths
    also resolved through directory symlinks; a path two packages list gets the first owner
    in sort order (deterministic)."""
    out: dict[str, str] = {}
    parents: dict[str, str | None] = {}
    for o in owned:
        if o.owner not in present:
            continue
        for path in o.paths:
            candidates = [path]
            parent, _, name = path.rpartition("/")
            if symlinks and parent:
                if parent not in parents:
                    parents[parent] = resolve_symlinks(parent, symlinks, max_hops)[0]
                real = parents[parent]
                if real is not None and real != parent:
                    candidates.append(f"{real}/{name}" if real else name)
            for p in candidates:
                if p not in out or o.owner < out[p]:
                    out[p] = o.owner
    return out


def _with_owners(components: list[Component], tree: _Tree, max_hops: int) -> list[Component]:
    if not tree.owned:
        return components
    present = {owner_ref(c.type, c.name) for c in components if c.type in _OS_TYPES}
    owners = _owned_paths(
        (o for os_ in tree.owned.values() for o in os_), present, tree.symlinks, max_hops
    )
    if not owners:
        return components
    out: list[Component] = []
    for c in components:
        if c.type in LANGUAGE_TYPES:
            path = _key(c.path)
            owner = owners.get(path)
            parent = PurePosixPath(path).parent
            if owner is None and parent.name.endswith(_METADATA_DIRS):
                owner = owners.get(str(parent))
            if owner != c.owner:
                c = replace(c, owner=owner)
        out.append(c)
    return out


def _with_distro(c: Component, os: OsInfo | None) -> Component:
    if os is None or c.type not in (ComponentType.DEB, ComponentType.APK, ComponentType.RPM):
        return c
    try:
        purl = PackageURL.from_string(c.purl)
    except ValueError:
        return c
    qualifiers = dict(purl.qualifiers or {})
    namespace = purl.namespace
    if c.type is ComponentType.DEB and os.family in _DEB_NAMESPACES:
        namespace = os.family
    if "distro" not in qualifiers and os.version:
        qualifiers["distro"] = f"{os.family}-{os.version}"
    new = PackageURL(
        type=purl.type,
        namespace=namespace,
        name=purl.name,
        version=purl.version,
        qualifiers=qualifiers,
        subpath=purl.subpath,
    ).to_string()
    return c if new == c.purl else replace(c, purl=new)
