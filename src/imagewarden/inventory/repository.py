"""Which repository a ``repo:tag`` name belongs to (for ImagesInfo.IsLatestImage).

An image is the latest of a repository when, among this account's images carrying a name
of that repository, it ranks first by ``latest_rank``.  The repository of a name is the
name without its tag (``registry:5000/team/app:1.2`` → ``registry:5000/team/app``; the
colon of a registry port is not a tag separator) and without a digest, with Docker Hub's
spellings folded together (``docker.io/library/nginx``, ``library/nginx`` and ``nginx``
are one repository, as Docker and Podman report the same image differently).

This module is pure: the store keeps ``image_names.repository`` and
``images.is_latest_image`` up to date with it (``store.latest``).
"""

from __future__ import annotations

from datetime import datetime

__all__ = ["LATEST_TAG", "is_latest_tag", "latest_rank", "repository_of"]

LATEST_TAG = "latest"
_HUB_PREFIXES = ("docker.io/", "index.docker.io/", "registry-1.docker.io/")
_EPOCH = datetime(1970, 1, 1)


def _split(name: str) -> tuple[str, str | None]:
    """(repository as written, tag or None)."""
    ref = name.split("@", 1)[0]
    colon = ref.rfind(":")
    if colon > ref.rfind("/"):
        return ref[:colon], ref[colon + 1 :]
    return ref, None


def repository_of(name: str) -> str:
    """The repository a name belongs to; ``""`` when it has none (``<none>:<none>``, ``""``)."""
    repo, _ = _split(name.strip())
    if not repo or repo == "<none>":
        return ""
    for prefix in _HUB_PREFIXES:
        if repo.startswith(prefix):
            repo = repo[len(prefix) :]
            if "/" not in repo:  # docker.io/nginx is docker.io/library/nginx
                repo = f"library/{repo}"
            break
    if repo.startswith("library/") and repo.count("/") == 1:
        repo = repo[len("library/") :]
    return repo


def is_latest_tag(name: str) -> bool:
    """Whether the name's tag is ``latest`` (written out: an untagged name is not)."""
    return _split(name.strip())[1] == LATEST_TAG


def latest_rank(
    held: bool, create_time: datetime | None, latest_tag: bool, image_id: str
) -> tuple[int, int, float, int, str]:
    """Sort key of a repository's images: the smallest is the latest.

    1. an image a host still holds (HostCnt > 0) before one no host holds (kept until
       ``images prune``), so removing the newest image from every host hands "latest" back;
    2. the newest CreateTime (an unknown CreateTime is oldest);
    3. on equal CreateTime, the one tagged ``latest`` in that repository;
    4. then the smallest image ID, so the answer never depends on row order.
    """
    age = -(create_time - _EPOCH).total_seconds() if create_time is not None else 0.0
    return (
        0 if held else 1,
        0 if create_time is not None else 1,
        age,
        0 if latest_tag else 1,
        image_id,
    )
