"""Image references: ``[HOST[:PORT]/]REPO[:TAG][@DIGEST]``, with the Docker Hub shorthand.

- The first path component is a registry host when it contains ``.`` or ``:`` or is
  ``localhost`` (and more components follow); otherwise the registry is Docker Hub.
- On Docker Hub a one-component repository gets ``library/`` (``alpine`` →
  ``library/alpine``) and the API host is ``registry-1.docker.io``.
- Without a tag and a digest the tag is ``latest``.  With both, the digest decides what is
  pulled and the tag is only recorded.
- ``registry:`` in front (the source scheme of ``open_source``) is dropped, except when it is
  followed by a port number (``registry:5000/app`` is the host ``registry`` on port 5000).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from imagewarden.scan.errors import SourceError
from imagewarden.scan.model import Digest

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})")
_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::[0-9]+)?")
_SCHEME_PREFIX = re.compile(r"registry:(?![0-9]+/)")


@dataclass(frozen=True)
class ImageReference:
    """A parsed reference.  ``registry`` is as written (``docker.io`` for the Hub)."""

    registry: str
    repository: str
    tag: str | None
    digest: Digest | None

    @classmethod
    def parse(cls, text: str) -> ImageReference:
        ref = text.strip()
        if _SCHEME_PREFIX.match(ref):
            ref = ref[len("registry:") :]
        if not ref or "://" in ref:
            raise SourceError(f"invalid image reference {text!r}")
        digest: Digest | None = None
        if "@" in ref:
            ref, _, raw_digest = ref.partition("@")
            if not _DIGEST.fullmatch(raw_digest):
                raise SourceError(f"invalid image reference {text!r}: bad digest {raw_digest!r}")
            digest = Digest(raw_digest)
        tag: str | None = None
        slash = ref.rfind("/")
        colon = ref.rfind(":")
        if colon > slash:
            ref, tag = ref[:colon], ref[colon + 1 :]
            if not _TAG.fullmatch(tag):
                raise SourceError(f"invalid image reference {text!r}: bad tag {tag!r}")
        first, sep, rest = ref.partition("/")
        if sep and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
            if not _HOST.fullmatch(first):
                raise SourceError(f"invalid image reference {text!r}: bad registry {first!r}")
            registry, repository = first, rest
        else:
            registry, repository = DOCKER_HUB, ref
        if registry in ("index.docker.io", DOCKER_HUB_API):
            registry = DOCKER_HUB
        if registry == DOCKER_HUB and "/" not in repository:
            repository = "library/" + repository
        if not all(_COMPONENT.fullmatch(part) for part in repository.split("/")):
            raise SourceError(f"invalid image reference {text!r}: bad repository {repository!r}")
        if tag is None and digest is None:
            tag = "latest"
        return cls(registry, repository, tag, digest)

    @property
    def api_host(self) -> str:
        """The host (and port) the registry API is reached at."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def name(self) -> str:
        """``registry/repository``, as it appears in repo tags and digests."""
        return f"{self.registry}/{self.repository}"

    @property
    def reference(self) -> str:
        """What the manifest is fetched by: the digest when there is one, else the tag."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += ":" + self.tag
        if self.digest:
            text += "@" + self.digest
        return text

    def is_loopback(self) -> bool:
        """True for ``localhost`` and loopback addresses (plain http is the default there)."""
        host = self.api_host
        if host.startswith("["):
            host = host[1 : host.index("]")]
        else:
            host = host.rsplit(":", 1)[0]
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False
