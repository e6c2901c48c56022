"""An image in a registry, read over the OCI Distribution API v2 (``registry:HOST/REPO:TAG``).

The source is lazy: nothing is fetched until ``manifest()``, ``config()`` or ``layers()`` is
called, and a layer is fetched only when its ``open()`` is called, as a stream of the
compressed blob (never held in memory).  Everything fetched is checked against its digest:

- the manifest against the digest it was asked by, else ``Docker-Content-Digest``;
- the config against its descriptor (size and digest);
- a layer while it streams: at the end of the blob the size and digest must match the
  descriptor, else ``DigestMismatchError`` (the walker checks the digest again, and the
  diff_id).

Manifests and configs are refused above ``RegistryLimits`` without being read in full (by
the descriptor size or ``Content-Length`` first, then while reading).  Multi-arch indexes
resolve to one platform (default ``linux/amd64``).  Authentication is anonymous, HTTP basic
or bearer tokens (see ``_registry_auth``).  Plain http is used for loopback registries
unless ``insecure=False`` is passed, and for any registry with ``insecure=True``.
"""

from __future__ import annotations

import hashlib
import io
import json
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx

from imagewarden.scan.errors import DigestMismatchError, LayerReadError, SourceError
from imagewarden.scan.model import Digest
from imagewarden.scan.source._registry_auth import (
    Authenticator,
    Credentials,
    credentials_from_config,
    read_bounded,
)
from imagewarden.scan.source._registry_manifest import (
    HASHES,
    json_object,
    parse_config,
    parse_descriptor,
    select_platform,
    verify_digest,
)
from imagewarden.scan.source._registry_ref import ImageReference
from imagewarden.scan.source.base import (
    ImageConfig,
    Layer,
    Manifest,
    Platform,
)

__all__ = [
    "Credentials",
    "ImageReference",
    "RegistryError",
    "RegistryLimits",
    "RegistrySource",
]

MiB = 1024 * 1024

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
_INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
_IMAGE_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
_CONFIG_TYPES = (
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
)
_ACCEPT = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0, pool=10.0)


@dataclass(frozen=True)
class RegistryLimits:
    """Sizes above which a document is refused (``SourceError``) instead of read."""

    max_manifest_bytes: int = 4 * MiB
    max_config_bytes: int = 8 * MiB
    max_error_bytes: int = 64 * 1024
    max_token_bytes: int = MiB
    #: indexes pointing at indexes
    max_index_depth: int = 4
    #: bytes asked from the network per read while streaming a layer
    chunk_size: int = 256 * 1024


@cache
def _default_ssl_context() -> ssl.SSLContext:
    """httpx's default verifying context, built once (building one takes ~0.3 s)."""
    return httpx.create_ssl_context()


class RegistryError(SourceError):
    """The registry answered with an error; ``codes`` are its error codes (``MANIFEST_UNKNOWN``)."""

    def __init__(self, message: str, status_code: int | None = None, codes: tuple[str, ...] = ()):
        super().__init__(message)
        self.status_code = status_code
        self.codes = codes


class RegistrySource:
    """One image (one platform) in a registry; an ``ImageSource``.  Use as a context manager."""

    def __init__(
        self,
        ref: str,
        platform: Platform | None = None,
        *,
        auth: Credentials | tuple[str, str] | None = None,
        auth_file: str | Path | None = None,
        insecure: bool | None = None,
        verify: ssl.SSLContext | str | bool = True,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        limits: RegistryLimits | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """``ref``: ``HOST[:PORT]/REPO[:TAG|@DIGEST]``.  ``auth`` wins over ``auth_file``
        (a docker ``config.json``, or the directory holding one).  ``insecure=None`` means
        plain http for loopback hosts and https elsewhere.  ``transport`` is for tests."""
        self.reference = ImageReference.parse(ref)
        self.platform = platform or Platform()
        self.limits = limits or RegistryLimits()
        if insecure is None:
            insecure = self.reference.is_loopback()
        scheme = "http" if insecure else "https"
        self.base_url = f"{scheme}://{self.reference.api_host}/v2/{self.reference.repository}"
        credentials: Credentials | None
        if isinstance(auth, tuple):
            credentials = Credentials(*auth)
        elif auth is not None:
            credentials = auth
        elif auth_file is not None:
            credentials = credentials_from_config(
                auth_file, self.reference.registry, self.reference.repository
            )
        else:
            credentials = None
        self._client = httpx.Client(
            timeout=timeout,
            verify=_default_ssl_context() if verify is True else verify,
            trust_env=False,
            transport=transport,
            headers={"User-Agent": "imagewarden"},
        )
        self.auth = Authenticator(
            self._client,
            credentials,
            default_scope=f"repository:{self.reference.repository}:pull",
            max_token_bytes=self.limits.max_token_bytes,
        )
        self._manifest: Manifest | None = None
        self._image_manifest: dict[str, Any] | None = None
        self._config: ImageConfig | None = None
        self._layers: tuple[Layer, ...] | None = None
        #: digest the reference resolved to (the index digest for a multi-arch image)
        self.resolved_digest: Digest | None = None

    # -- ImageSource ---------------------------------------------------------------------

    def manifest(self) -> Manifest:
        if self._manifest is None:
            self._resolve()
        assert self._manifest is not None
        return self._manifest

    def config(self) -> ImageConfig:
        if self._config is None:
            manifest = self.manifest()
            assert self._image_manifest is not None
            descriptor = parse_descriptor(self._image_manifest.get("config"), "config")
            if descriptor["mediaType"] not in _CONFIG_TYPES:
                raise SourceError(
                    f"{self.reference}: not a container image (config media type "
                    f"{descriptor['mediaType']!r})"
                )
            if descriptor["size"] > self.limits.max_config_bytes:
                raise SourceError(
                    f"{self.reference}: config of {descriptor['size']} bytes exceeds the "
                    f"{self.limits.max_config_bytes}-byte limit"
                )
            body = self._fetch_small_blob(manifest.config_digest, descriptor["size"])
            self._config = parse_config(manifest.config_digest, body)
        return self._config

    def layers(self) -> Sequence[Layer]:
        if self._layers is None:
            self.manifest()
            assert self._image_manifest is not None
            raw = self._image_manifest.get("layers")
            if not isinstance(raw, list):
                raise SourceError(f"{self.reference}: manifest has no layer list")
            descriptors = [parse_descriptor(item, "layer") for item in raw]
            diff_ids = self.config().diff_ids
            if len(diff_ids) != len(descriptors):
                raise SourceError(
                    f"{self.reference}: {len(descriptors)} layers but {len(diff_ids)} diff_ids"
                )
            self._layers = tuple(
                Layer(
                    digest=d["digest"],
                    diff_id=diff_id,
                    media_type=d["mediaType"],
                    size=d["size"],
                    open=partial(self._open_blob, d["digest"], d["size"]),
                )
                for d, diff_id in zip(descriptors, diff_ids, strict=True)
            )
        return self._layers

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RegistrySource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- resolving -----------------------------------------------------------------------

    def _resolve(self) -> None:
        ref = self.reference
        body, media_type, digest = self._fetch_manifest(ref.reference, ref.digest)
        self.resolved_digest = digest
        document = json_object(body, f"{ref}: manifest")
        depth = 0
        while media_type in _INDEX_TYPES:
            depth += 1
            if depth > self.limits.max_index_depth:
                raise SourceError(f"{ref}: indexes nested deeper than {depth - 1}")
            chosen = select_platform(document, self.platform, str(ref))
            body, media_type, digest = self._fetch_manifest(chosen, chosen)
            document = json_object(body, f"{ref}: manifest {chosen}")
        if media_type not in _IMAGE_TYPES:
            raise SourceError(f"{ref}: unsupported manifest media type {media_type!r}")
        config = parse_descriptor(document.get("config"), "config")
        self._image_manifest = document
        self._manifest = Manifest(
            digest=digest,
            media_type=media_type,
            config_digest=config["digest"],
            repo_tags=(f"{ref.name}:{ref.tag}",) if ref.tag else (),
            repo_digests=(f"{ref.name}@{self.resolved_digest}",),
        )

    def _fetch_manifest(self, reference: str, expected: Digest | None) -> tuple[bytes, str, Digest]:
        url = f"{self.base_url}/manifests/{reference}"
        what = f"{self.reference}: manifest {reference}"
        with self._send(url, what, accept=_ACCEPT) as response:
            body = read_bounded(response, self.limits.max_manifest_bytes, what)
            header_digest = response.headers.get("docker-content-digest")
            content_type = response.headers.get("content-type", "").split(";")[0].strip()
        claimed = expected or header_digest
        if claimed is not None:
            verify_digest(body, claimed, what)
            digest = Digest(claimed)
        else:
            digest = Digest("sha256:" + hashlib.sha256(body).hexdigest())
        media_type = json_object(body, what).get("mediaType")
        if not isinstance(media_type, str) or not media_type:
            media_type = content_type
        return body, media_type, digest

    # -- blobs ---------------------------------------------------------------------------

    def _fetch_small_blob(self, digest: Digest, size: int) -> bytes:
        what = f"{self.reference}: blob {digest}"
        with self._send(f"{self.base_url}/blobs/{digest}", what) as response:
            body = read_bounded(response, min(size, self.limits.max_config_bytes), what)
        if len(body) != size:
            raise DigestMismatchError(what, f"{digest} ({size} bytes)", f"{len(body)} bytes")
        verify_digest(body, digest, what)
        return body

    def _open_blob(self, digest: Digest, size: int) -> IO[bytes]:
        what = f"{self.reference}: layer {digest}"
        stream = self._send(f"{self.base_url}/blobs/{digest}", what, identity=True)
        response = stream.__enter__()
        raw = _BlobStream(response, stream, digest, size, what, self.limits.chunk_size)
        return io.BufferedReader(raw, buffer_size=self.limits.chunk_size)

    # -- HTTP ----------------------------------------------------------------------------

    def _send(
        self, url: str, what: str, *, accept: str | None = None, identity: bool = False
    ) -> _Exchange:
        headers = {"Accept": accept or "*/*"}
        if identity:
            headers["Accept-Encoding"] = "identity"
        return _Exchange(self, url, headers, what)

    def _error(self, response: httpx.Response, what: str) -> RegistryError:
        codes: list[str] = []
        details: list[str] = []
        try:
            body = read_bounded(response, self.limits.max_error_bytes, what)
            errors = json.loads(body).get("errors") if body else None
        except (SourceError, ValueError, AttributeError, httpx.HTTPError):
            errors = None
        for item in errors if isinstance(errors, list) else ():
            if isinstance(item, dict):
                code = str(item.get("code", ""))
                codes.append(code)
                details.append(f"{code}: {item.get('message', '')}".rstrip(": "))
        text = "; ".join(details) or response.reason_phrase
        return RegistryError(
            f"{what}: HTTP {response.status_code}: {text}", response.status_code, tuple(codes)
        )


class _Exchange:
    """A context manager doing one GET with auth (and one retry after a challenge)."""

    def __init__(self, source: RegistrySource, url: str, headers: dict[str, str], what: str):
        self._source = source
        self._url = url
        self._headers = headers
        self._what = what
        self._response: httpx.Response | None = None

    def __enter__(self) -> httpx.Response:
        source = self._source
        try:
            response = self._get(source.auth.authorization())
            if response.status_code == 401:
                try:
                    header = source.auth.answer(response)
                except BaseException:
                    response.close()
                    raise
                if header is not None:
                    response.close()
                    response = self._get(header)
        except httpx.HTTPError as exc:
            raise RegistryError(f"{self._what}: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            try:
                raise source._error(response, self._what)
            finally:
                response.close()
        self._response = response
        return response

    def _get(self, authorization: str | None) -> httpx.Response:
        headers = dict(self._headers)
        if authorization is not None:
            headers["Authorization"] = authorization
        request = self._source._client.build_request("GET", self._url, headers=headers)
        return self._source._client.send(request, stream=True, follow_redirects=True)

    def __exit__(self, *exc_info: object) -> None:
        if self._response is not None:
            self._response.close()
            self._response = None


class _BlobStream(io.RawIOBase):
    """The compressed bytes of a layer blob, checked against size and digest at the end."""

    def __init__(
        self,
        response: httpx.Response,
        exchange: _Exchange,
        digest: Digest,
        size: int,
        what: str,
        chunk_size: int,
    ) -> None:
        self._exchange = exchange
        self._chunks: Iterator[bytes] = response.iter_bytes(chunk_size)
        self._pending = b""
        self._digest = digest
        self._size = size
        self._what = what
        alg = digest.partition(":")[0]
        if alg not in HASHES:
            exchange.__exit__(None, None, None)
            raise SourceError(f"{what}: unsupported digest algorithm {alg!r}")
        self._hash = HASHES[alg]()
        self._count = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while not self._pending and not self._done:
            self._next_chunk()
        n = min(len(view), len(self._pending))
        view[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def _next_chunk(self) -> None:
        try:
            chunk = next(self._chunks)
        except StopIteration:
            self._done = True
            self._exchange.__exit__(None, None, None)
            actual = self._digest.partition(":")[0] + ":" + self._hash.hexdigest()
            if self._count != self._size:
                raise DigestMismatchError(
                    self._what, f"{self._digest} ({self._size} bytes)", f"{self._count} bytes"
                ) from None
            if actual != self._digest:
                raise DigestMismatchError(self._what, self._digest, actual) from None
            return
        except httpx.HTTPError as exc:
            self._done = True
            self._exchange.__exit__(None, None, None)
            raise LayerReadError(f"{self._what}: {type(exc).__name__}: {exc}") from exc
        self._count += len(chunk)
        if self._count > self._size:
            self._done = True
            self._exchange.__exit__(None, None, None)
            raise DigestMismatchError(
                self._what, f"{self._digest} ({self._size} bytes)", f"more than {self._size} bytes"
            )
        self._hash.update(chunk)
        self._pending = chunk

    def close(self) -> None:
        if not self.closed:
            self._exchange.__exit__(None, None, None)
        super().close()
