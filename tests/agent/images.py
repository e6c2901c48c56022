"""Tiny real images built with tarfile: docker-archive tarballs and OCI layouts.

``runnable`` images carry /bin/sleep and the C library it links against, so engines that can
start containers here (dockerd, containerd) run them for real.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

CREATED = "2024-02-14T09:12:00Z"


@dataclass(frozen=True)
class BuiltImage:
    image_id: str  # sha256:<config digest>
    tag: str
    path: Path  # the docker-archive


def _tar(files: dict[str, tuple[bytes, int]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, (data, mode) in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sleep_files() -> dict[str, tuple[bytes, int]]:
    """/bin/sleep plus the shared libraries ``ldd`` lists for it (paths kept)."""
    out = subprocess.run(["ldd", "/bin/sleep"], capture_output=True, text=True, check=True).stdout
    paths = ["/bin/sleep", *(t for t in out.split() if t.startswith("/"))]
    return {p.lstrip("/"): (Path(os.path.realpath(p)).read_bytes(), 0o755) for p in paths}


def layer_and_config(
    files: dict[str, tuple[bytes, int]], cmd: list[str], arch: str = "amd64"
) -> tuple[bytes, bytes]:
    layer = _tar(files)
    config = json.dumps(
        {
            "architecture": arch,
            "os": "linux",
            "created": CREATED,
            "config": {"Cmd": cmd, "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{_sha(layer)}"]},
            "history": [{"created": CREATED, "created_by": "imagewarden tests"}],
        },
        sort_keys=True,
    ).encode()
    return layer, config


def docker_archive(
    path: Path, tags: list[str], files: dict[str, tuple[bytes, int]], cmd: list[str] | None = None
) -> BuiltImage:
    """A one-image, one-layer ``docker save`` archive (classic layout)."""
    layer, config = layer_and_config(files, cmd or ["/bin/sleep", "3600"])
    cid = _sha(config)
    manifest = json.dumps(
        [{"Config": f"{cid}.json", "RepoTags": tags, "Layers": [f"{_sha(layer)}/layer.tar"]}]
    ).encode()
    path.write_bytes(
        _tar(
            {
                f"{cid}.json": (config, 0o644),
                f"{_sha(layer)}/layer.tar": (layer, 0o644),
                "manifest.json": (manifest, 0o644),
            }
        )
    )
    return BuiltImage(f"sha256:{cid}", tags[0] if tags else "", path)


def multi_docker_archive(path: Path, images: list[tuple[list[str], bytes]]) -> list[str]:
    """A ``docker save`` archive holding several images (one file each); returns their IDs."""
    files: dict[str, tuple[bytes, int]] = {}
    entries, ids = [], []
    for tags, content in images:
        layer, config = layer_and_config({"data.txt": (content, 0o644)}, ["/data.txt"])
        cid = _sha(config)
        files[f"{cid}.json"] = (config, 0o644)
        files[f"{_sha(layer)}/layer.tar"] = (layer, 0o644)
        entries.append(
            {"Config": f"{cid}.json", "RepoTags": tags, "Layers": [f"{_sha(layer)}/layer.tar"]}
        )
        ids.append(f"sha256:{cid}")
    files["manifest.json"] = (json.dumps(entries).encode(), 0o644)
    path.write_bytes(_tar(files))
    return ids


def oci_layout(root: Path, images: list[tuple[str | None, bytes]]) -> list[str]:
    """An OCI image layout with one image per (ref name or None, file content)."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    descs, ids = [], []
    for ref, content in images:
        layer, config = layer_and_config({"data.txt": (content, 0o644)}, ["/data.txt"])
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": f"sha256:{_sha(config)}",
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": f"sha256:{_sha(layer)}",
                        "size": len(layer),
                    }
                ],
            }
        ).encode()
        for blob in (layer, config, manifest):
            (blobs / _sha(blob)).write_bytes(blob)
        desc: dict[str, object] = {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": f"sha256:{_sha(manifest)}",
            "size": len(manifest),
        }
        if ref is not None:
            desc["annotations"] = {"org.opencontainers.image.ref.name": ref}
        descs.append(desc)
        ids.append(f"sha256:{_sha(config)}")
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": descs}))
    return ids
