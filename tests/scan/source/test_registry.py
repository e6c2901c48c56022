"""RegistrySource against a real registry: Debian's docker-registry (distribution 2.8).

Every server here listens on 127.0.0.1.  Images are built in memory and pushed with
``registry_fixtures.Pusher``; corruption is done on the registry's storage on disk.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from imagewarden.scan.errors import DigestMismatchError, LayerReadError, ScanError, SourceError
from imagewarden.scan.source._registry_auth import (
    Challenge,
    credentials_from_config,
    parse_challenges,
)
from imagewarden.scan.source.base import Platform
from imagewarden.scan.source.registry import (
    Credentials,
    ImageReference,
    RegistryError,
    RegistryLimits,
    RegistrySource,
)
from tests.scan.source.registry_fixtures import (
    DOCKER_MANIFEST,
    OCI_MANIFEST,
    Pusher,
    RedirectingFront,
    RegistryServer,
    TestImage,
    TokenServer,
    build_image,
    build_index,
    canonical,
    htpasswd_file,
    registry_available,
    sha256,
)

USERS = {"alice": "s3cret-pass"}

pytestmark = pytest.mark.skipif(
    not registry_available() and not os.environ.get("IMAGEWARDEN_REQUIRE_REGISTRY"),
    reason="needs /usr/bin/docker-registry (Debian package docker-registry)",
)


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    server = RegistryServer(tmp_path_factory.mktemp("registry-anon"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pusher(registry: RegistryServer) -> Iterator[Pusher]:
    client = Pusher(registry.base)
    yield client
    client.close()


@pytest.fixture(scope="session")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    root = tmp_path_factory.mktemp("registry-basic")
    path = htpasswd_file(root / "htpasswd", USERS)
    server = RegistryServer(root, {"htpasswd": {"realm": "imagewarden-test", "path": str(path)}})
    yield server
    server.stop()


@pytest.fixture(scope="session")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenServer]:
    server = TokenServer(
        tmp_path_factory.mktemp("token"), USERS, "iw-test-registry", "iw-test-issuer"
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def token_registry(
    tmp_path_factory: pytest.TempPathFactory, token_server: TokenServer
) -> Iterator[RegistryServer]:
    server = RegistryServer(tmp_path_factory.mktemp("registry-token"), token_server.registry_auth())
    yield server
    server.stop()


class RecordingTransport(httpx.HTTPTransport):
    """The real HTTP transport, remembering (url, status) of every exchange."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, int]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        self.seen.append((str(request.url), response.status_code))
        return response


def push_with_basic(server: RegistryServer, repo: str, image: TestImage, tag: str) -> str:
    header = Credentials(*next(iter(USERS.items()))).basic_header()
    client = Pusher(server.base, header)
    try:
        return client.image(repo, image, tag)
    finally:
        client.close()


def push_with_token(
    server: RegistryServer, tokens: TokenServer, repo: str, image: TestImage, tag: str
) -> str:
    access = [{"type": "repository", "name": repo, "actions": ["pull", "push"]}]
    client = Pusher(server.base, "Bearer " + tokens.sign("pusher", access))
    try:
        return client.image(repo, image, tag)
    finally:
        client.close()


def read_all(source: RegistrySource) -> list[bytes]:
    out = []
    for layer in source.layers():
        with layer.open() as fh:
            out.append(fh.read())
    return out


# -- pulling -----------------------------------------------------------------------------


def test_pull_by_tag_oci(registry: RegistryServer, pusher: Pusher) -> None:
    image = build_image("by-tag")
    digest = pusher.image("team/app", image, "v1")
    with RegistrySource(f"{registry.host}/team/app:v1") as source:
        assert source.base_url == f"http://{registry.host}/v2/team/app"
        manifest = source.manifest()
        assert manifest.digest == digest
        assert manifest.media_type == OCI_MANIFEST
        assert manifest.config_digest == image.config.digest
        assert manifest.repo_tags == (f"{registry.host}/team/app:v1",)
        assert manifest.repo_digests == (f"{registry.host}/team/app@{digest}",)
        config = source.config()
        assert config.digest == image.config.digest
        assert (config.os, config.architecture) == ("linux", "amd64")
        assert config.diff_ids == tuple(image.diff_ids)
        assert config.env == ("PATH=/usr/bin", "MARKER=by-tag")
        assert config.created == "2024-01-02T03:04:05Z"
        assert [h.empty_layer for h in config.history] == [False, False, True]
        layers = source.layers()
        assert [layer.digest for layer in layers] == [blob.digest for blob in image.layers]
        assert [layer.size for layer in layers] == [len(blob.data) for blob in image.layers]
        assert [layer.diff_id for layer in layers] == image.diff_ids
        assert read_all(source) == [blob.data for blob in image.layers]


def test_pull_by_digest_and_tag_plus_digest(registry: RegistryServer, pusher: Pusher) -> None:
    image = build_image("by-digest")
    digest = pusher.image("team/bydigest", image, "v1")
    with RegistrySource(f"registry:{registry.host}/team/bydigest@{digest}") as source:
        assert source.manifest().digest == digest
        assert source.manifest().repo_tags == ()
        assert read_all(source) == [blob.data for blob in image.layers]
    with RegistrySource(f"{registry.host}/team/bydigest:ignored@{digest}") as source:
        assert source.manifest().digest == digest


def test_docker_schema2_manifest(registry: RegistryServer, pusher: Pusher) -> None:
    image = build_image("docker", docker=True)
    digest = pusher.image("team/docker", image, "latest")
    with RegistrySource(f"{registry.host}/team/docker") as source:
        assert source.manifest().media_type == DOCKER_MANIFEST
        assert source.manifest().digest == digest
        assert source.config().diff_ids == tuple(image.diff_ids)
        assert {layer.media_type for layer in source.layers()} == {
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        }
        assert read_all(source) == [blob.data for blob in image.layers]


@pytest.fixture(scope="session")
def multiarch(registry: RegistryServer, pusher: Pusher) -> TestImage:
    amd64 = build_image("multi-amd64")
    arm64 = build_image("multi-arm64", architecture="arm64", variant="v8")
    armv7 = build_image("multi-armv7", architecture="arm", variant="v7")
    armv6 = build_image("multi-armv6", architecture="arm", variant="v6")
    index = build_index(
        [
            (amd64, {"os": "linux", "architecture": "amd64"}),
            (arm64, {"os": "linux", "architecture": "arm64", "variant": "v8"}),
            (armv7, {"os": "linux", "architecture": "arm", "variant": "v7"}),
            (armv6, {"os": "linux", "architecture": "arm", "variant": "v6"}),
        ]
    )
    pusher.image("team/multi", index, "latest")
    return index


@pytest.mark.parametrize(
    ("platform", "child"),
    [
        (None, 0),
        (Platform("linux", "amd64"), 0),
        (Platform("linux", "arm64"), 1),
        (Platform.parse("linux/arm64/v8"), 1),
        (Platform.parse("linux/arm/v7"), 2),
        (Platform.parse("linux/arm/v6"), 3),
    ],
)
def test_index_platform_selection(
    registry: RegistryServer, multiarch: TestImage, platform: Platform | None, child: int
) -> None:
    expected = multiarch.children[child]
    with RegistrySource(f"{registry.host}/team/multi:latest", platform) as source:
        manifest = source.manifest()
        assert manifest.digest == expected.digest
        assert source.resolved_digest == multiarch.digest
        assert manifest.repo_digests == (f"{registry.host}/team/multi@{multiarch.digest}",)
        assert source.config().architecture == json.loads(expected.config.data)["architecture"]
        assert read_all(source) == [blob.data for blob in expected.layers]


@pytest.mark.parametrize(
    ("platform", "problem"),
    [
        (Platform("linux", "s390x"), "is not in the index"),
        (Platform("windows", "amd64"), "is not in the index"),
        (Platform("linux", "arm"), "is ambiguous"),
        (Platform.parse("linux/arm/v5"), "is not in the index"),
    ],
)
def test_index_platform_absent(
    registry: RegistryServer, multiarch: TestImage, platform: Platform, problem: str
) -> None:
    with RegistrySource(f"{registry.host}/team/multi", platform) as source:
        with pytest.raises(SourceError, match=problem) as info:
            source.manifest()
    assert "linux/amd64, linux/arm/v6, linux/arm/v7, linux/arm64/v8" in str(info.value)


# -- integrity ---------------------------------------------------------------------------


def test_layer_digest_mismatch(registry: RegistryServer, pusher: Pusher) -> None:
    image = build_image("corrupt-layer")
    pusher.image("team/corrupt-layer", image, "v1")
    registry.corrupt(image.layers[1].digest)
    with RegistrySource(f"{registry.host}/team/corrupt-layer:v1") as source:
        layers = source.layers()
        with layers[0].open() as fh:
            assert fh.read() == image.layers[0].data
        with layers[1].open() as fh, pytest.raises(DigestMismatchError) as info:
            while fh.read(7):
                pass
    assert info.value.expected == image.layers[1].digest


def test_config_digest_mismatch(registry: RegistryServer, pusher: Pusher) -> None:
    image = build_image("corrupt-config")
    pusher.image("team/corrupt-config", image, "v1")
    registry.corrupt(image.config.digest, b"corrupt-config", b"CORRUPT-config")
    with RegistrySource(f"{registry.host}/team/corrupt-config:v1") as source:
        source.manifest()
        with pytest.raises(DigestMismatchError, match="config"):
            source.config()


@pytest.mark.parametrize("by_digest", [False, True])
def test_manifest_digest_mismatch(
    registry: RegistryServer, pusher: Pusher, by_digest: bool
) -> None:
    repo = f"team/corrupt-manifest-{int(by_digest)}"
    image = build_image(repo, annotations={"org.example.note": "original"})
    digest = pusher.image(repo, image, "v1")
    registry.corrupt(digest, b"original", b"tampered")
    ref = f"{registry.host}/{repo}" + (f"@{digest}" if by_digest else ":v1")
    with RegistrySource(ref) as source, pytest.raises(DigestMismatchError) as info:
        source.manifest()
    assert info.value.expected == digest


def test_missing_blob(registry: RegistryServer, pusher: Pusher) -> None:
    image = build_image("missing-blob")
    pusher.image("team/missing", image, "v1")
    deleted = pusher.client.delete(f"/v2/team/missing/blobs/{image.layers[0].digest}")
    assert deleted.status_code == 202
    with RegistrySource(f"{registry.host}/team/missing:v1") as source:
        layer = source.layers()[0]
        with pytest.raises(RegistryError) as info:
            layer.open()
    assert info.value.status_code == 404
    assert info.value.codes == ("BLOB_UNKNOWN",)
    assert "BLOB_UNKNOWN" in str(info.value)


def test_unknown_tag_and_repository(registry: RegistryServer, pusher: Pusher) -> None:
    pusher.image("team/known", build_image("known"), "v1")
    with RegistrySource(f"{registry.host}/team/known:nope") as source:
        with pytest.raises(SourceError, match="MANIFEST_UNKNOWN") as info:
            source.manifest()
    assert isinstance(info.value, RegistryError)
    assert info.value.codes == ("MANIFEST_UNKNOWN",)
    with RegistrySource(f"{registry.host}/team/never-pushed:v1") as source:
        with pytest.raises(RegistryError) as unknown:
            source.manifest()
    # distribution 2.8 says MANIFEST_UNKNOWN for an unknown repository; others NAME_UNKNOWN
    assert unknown.value.status_code == 404
    assert set(unknown.value.codes) <= {"MANIFEST_UNKNOWN", "NAME_UNKNOWN"}
    assert unknown.value.codes


# -- limits ------------------------------------------------------------------------------


def test_manifest_over_limit_is_refused(registry: RegistryServer, pusher: Pusher) -> None:
    image = build_image("big-manifest", annotations={"org.example.pad": "x" * 4000})
    pusher.image("team/big-manifest", image, "v1")
    limits = RegistryLimits(max_manifest_bytes=2048)
    with RegistrySource(f"{registry.host}/team/big-manifest:v1", limits=limits) as source:
        with pytest.raises(SourceError, match="2048-byte limit"):
            source.manifest()
    with RegistrySource(f"{registry.host}/team/big-manifest:v1") as source:
        assert source.manifest().digest == image.digest


def test_config_over_limit_is_refused_by_descriptor(
    registry: RegistryServer, pusher: Pusher
) -> None:
    image = build_image("big-config")
    pusher.image("team/big-config", image, "v1")
    limits = RegistryLimits(max_config_bytes=64)
    with RegistrySource(f"{registry.host}/team/big-config:v1", limits=limits) as source:
        with pytest.raises(SourceError, match="64-byte limit"):
            source.config()


def test_manifest_lying_about_config_size(registry: RegistryServer, pusher: Pusher) -> None:
    """A descriptor claiming a huge blob is refused before any byte of it is fetched."""
    image = build_image("huge-claim")
    for blob in image.blobs:
        pusher.blob("team/huge-claim", blob.data)
    manifest = json.loads(image.manifest)
    manifest["config"]["size"] = 40 * 1024**3
    body = canonical(manifest)
    response = pusher.client.put(
        "/v2/team/huge-claim/manifests/v1",
        content=body,
        headers={"Content-Type": OCI_MANIFEST},
    )
    if response.status_code != 201:
        pytest.fail(f"registry refused the manifest: {response.text}")
    with RegistrySource(f"{registry.host}/team/huge-claim:v1") as source:
        with pytest.raises(SourceError, match="exceeds"):
            source.config()


@pytest.mark.slow
def test_layer_is_streamed_with_bounded_memory(registry: RegistryServer, pusher: Pusher) -> None:
    size = 50 * 1024 * 1024
    data = os.urandom(size)
    layer = (data, sha256(data))
    image = build_image("big-layer", layers=[layer])
    pusher.image("team/big-layer", image, "v1")
    expected = hashlib.sha256(data).hexdigest()
    del data, layer
    image.layers[0].data = b""  # drop our copy before measuring
    with RegistrySource(f"{registry.host}/team/big-layer:v1") as source:
        (big,) = source.layers()
        assert big.size == size
        tracemalloc.start()
        try:
            digest = hashlib.sha256()
            total = 0
            with big.open() as fh:
                while chunk := fh.read(1024 * 1024):
                    digest.update(chunk)
                    total += len(chunk)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert total == size
    assert digest.hexdigest() == expected
    print(f"peak traced memory while streaming {size} bytes: {peak}")
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes while streaming a {size}-byte layer"


def test_timeout_is_a_source_error() -> None:
    """A server that accepts and never answers: the read timeout fires."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        stop = threading.Event()
        accepted: list[socket.socket] = []

        def accept() -> None:
            listener.settimeout(5)
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                pass
            stop.wait(5)

        thread = threading.Thread(target=accept)
        thread.start()
        started = time.monotonic()
        try:
            with RegistrySource(f"127.0.0.1:{port}/team/slow:v1", timeout=0.5) as source:
                with pytest.raises(SourceError, match="Timeout"):
                    source.manifest()
        finally:
            stop.set()
            thread.join()
            for conn in accepted:
                conn.close()
        assert time.monotonic() - started < 4


# -- basic auth --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def basic_image(basic_registry: RegistryServer) -> TestImage:
    image = build_image("basic")
    push_with_basic(basic_registry, "private/app", image, "v1")
    return image


def test_basic_auth_from_argument(basic_registry: RegistryServer, basic_image: TestImage) -> None:
    ref = f"{basic_registry.host}/private/app:v1"
    with RegistrySource(ref, auth=("alice", USERS["alice"])) as source:
        assert source.manifest().digest == basic_image.digest
        assert read_all(source) == [blob.data for blob in basic_image.layers]


@pytest.mark.parametrize("form", ["auth", "userpass", "dir", "repo-key"])
def test_basic_auth_from_docker_config(
    basic_registry: RegistryServer, basic_image: TestImage, tmp_path: Path, form: str
) -> None:
    host = basic_registry.host
    entry: dict[str, str]
    if form == "userpass":
        entry = {"username": "alice", "password": USERS["alice"]}
    else:
        entry = {"auth": base64.b64encode(f"alice:{USERS['alice']}".encode()).decode()}
    key = f"{host}/private" if form == "repo-key" else f"http://{host}/v2/"
    config = {"auths": {key: entry, "other.example:5000": {"auth": "eDp5"}}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    auth_file = tmp_path if form == "dir" else tmp_path / "config.json"
    with RegistrySource(f"{host}/private/app:v1", auth_file=auth_file) as source:
        assert read_all(source) == [blob.data for blob in basic_image.layers]


def test_basic_auth_refused(basic_registry: RegistryServer, basic_image: TestImage) -> None:
    ref = f"{basic_registry.host}/private/app:v1"
    with RegistrySource(ref) as source, pytest.raises(RegistryError) as info:
        source.manifest()
    assert info.value.status_code == 401
    assert "UNAUTHORIZED" in info.value.codes
    with RegistrySource(ref, auth=Credentials("alice", "wrong")) as source:
        with pytest.raises(RegistryError, match="UNAUTHORIZED"):
            source.manifest()


def test_blob_redirects_are_followed_without_leaking_credentials(
    registry: RegistryServer, pusher: Pusher
) -> None:
    image = build_image("redirected")
    pusher.image("team/redirected", image, "v1")
    front = RedirectingFront(registry, "alice", USERS["alice"])
    try:
        ref = f"{front.host}/team/redirected:v1"
        with RegistrySource(ref, auth=("alice", USERS["alice"])) as source:
            assert source.config().digest == image.config.digest
            assert read_all(source) == [blob.data for blob in image.layers]
    finally:
        front.stop()
    assert front.storage_authorizations == [None, None, None]


# -- bearer tokens -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def token_images(token_registry: RegistryServer, token_server: TokenServer) -> dict[str, TestImage]:
    images = {"public/app": build_image("token-public"), "private/app": build_image("token-priv")}
    for repo, image in images.items():
        push_with_token(token_registry, token_server, repo, image, "v1")
    return images


def test_bearer_anonymous_pull_reuses_the_token(
    token_registry: RegistryServer, token_server: TokenServer, token_images: dict[str, TestImage]
) -> None:
    image = token_images["public/app"]
    scope = "repository:public/app:pull"
    before = token_server.requests[scope]
    transport = RecordingTransport()
    with RegistrySource(f"{token_registry.host}/public/app:v1", transport=transport) as source:
        assert source.manifest().digest == image.digest
        assert read_all(source) == [blob.data for blob in image.layers]
        assert read_all(source) == [blob.data for blob in image.layers]
        assert source.auth.token_requests == 1
    assert token_server.requests[scope] == before + 1
    # one challenge, then the token goes up front: manifest, config, 2 layers twice
    registry_statuses = [s for url, s in transport.seen if "/v2/" in url]
    assert registry_statuses == [401, 200, 200, 200, 200, 200, 200]


@pytest.mark.parametrize("answer_field", ["token", "access_token"])
def test_bearer_with_credentials(
    token_registry: RegistryServer,
    token_server: TokenServer,
    token_images: dict[str, TestImage],
    answer_field: str,
) -> None:
    image = token_images["private/app"]
    token_server.field = answer_field
    try:
        ref = f"{token_registry.host}/private/app:v1"
        with RegistrySource(ref, auth=("alice", USERS["alice"])) as source:
            assert source.manifest().digest == image.digest
            assert read_all(source) == [blob.data for blob in image.layers]
            assert source.auth.token_requests == 1
    finally:
        token_server.field = "token"


def test_bearer_denied_without_credentials(
    token_registry: RegistryServer, token_images: dict[str, TestImage]
) -> None:
    with RegistrySource(f"{token_registry.host}/private/app:v1") as source:
        with pytest.raises(RegistryError) as info:
            source.manifest()
    assert info.value.status_code == 401
    assert "UNAUTHORIZED" in info.value.codes
    assert source.auth.token_requests == 1  # no loop


def test_bearer_token_server_refuses_credentials(
    token_registry: RegistryServer, token_images: dict[str, TestImage]
) -> None:
    ref = f"{token_registry.host}/private/app:v1"
    with RegistrySource(ref, auth=("alice", "wrong")) as source:
        with pytest.raises(SourceError, match=r"token server .* HTTP 401"):
            source.manifest()


# -- pure parts --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("alpine", "docker.io", "library/alpine", "latest", None),
        ("alpine:3.19", "docker.io", "library/alpine", "3.19", None),
        ("bitnami/redis", "docker.io", "bitnami/redis", "latest", None),
        ("docker.io/alpine", "docker.io", "library/alpine", "latest", None),
        ("index.docker.io/library/alpine:edge", "docker.io", "library/alpine", "edge", None),
        ("127.0.0.1:5000/a/b/c:v1", "127.0.0.1:5000", "a/b/c", "v1", None),
        ("registry:127.0.0.1:5000/app:v1", "127.0.0.1:5000", "app", "v1", None),
        ("registry:5000/app", "registry:5000", "app", "latest", None),
        ("localhost/app", "localhost", "app", "latest", None),
        ("[::1]:5000/app:1.0", "[::1]:5000", "app", "1.0", None),
        ("ghcr.io/o/r@sha256:" + "a" * 64, "ghcr.io", "o/r", None, "sha256:" + "a" * 64),
        ("ghcr.io/o/r:t@sha256:" + "b" * 64, "ghcr.io", "o/r", "t", "sha256:" + "b" * 64),
    ],
)
def test_reference_parsing(
    text: str, registry: str, repository: str, tag: str | None, digest: str | None
) -> None:
    ref = ImageReference.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )


@pytest.mark.parametrize(
    "text",
    ["", "Upper/Case", "host:5000/app:bad tag", "app@sha256:short", "http://host/app", "a//b"],
)
def test_reference_rejects(text: str) -> None:
    with pytest.raises(SourceError):
        ImageReference.parse(text)


@pytest.mark.parametrize(
    ("ref", "insecure", "base_url"),
    [
        ("localhost:5000/app", None, "http://localhost:5000/v2/app"),
        ("127.0.0.1/app", None, "http://127.0.0.1/v2/app"),
        ("[::1]:5000/app", None, "http://[::1]:5000/v2/app"),
        ("alpine", None, "https://registry-1.docker.io/v2/library/alpine"),
        ("ghcr.io/o/r", None, "https://ghcr.io/v2/o/r"),
        ("ghcr.io/o/r", True, "http://ghcr.io/v2/o/r"),
        ("127.0.0.1/app", False, "https://127.0.0.1/v2/app"),
    ],
)
def test_scheme_defaults(ref: str, insecure: bool | None, base_url: str) -> None:
    """Plain http only for loopback hosts unless asked; nothing is fetched on construction."""
    with RegistrySource(ref, insecure=insecure) as source:
        assert source.base_url == base_url


def test_scan_error_hierarchy() -> None:
    assert issubclass(RegistryError, SourceError)
    assert issubclass(SourceError, ScanError)
    assert issubclass(DigestMismatchError, ScanError)


def test_parse_challenges() -> None:
    header = (
        'Bearer realm="https://auth.example/token",service="registry.example",'
        'scope="repository:a/b:pull,push", Basic realm="x, y"'
    )
    bearer, basic = parse_challenges([header])
    assert bearer == Challenge(
        "bearer",
        {
            "realm": "https://auth.example/token",
            "service": "registry.example",
            "scope": "repository:a/b:pull,push",
        },
    )
    assert basic == Challenge("basic", {"realm": "x, y"})
    assert parse_challenges(['Basic realm="q\\"uote"']) == [Challenge("basic", {"realm": 'q"uote'})]
    assert parse_challenges([]) == []


def test_credentials_from_config(tmp_path: Path) -> None:
    def encoded(user: str, password: str) -> str:
        return base64.b64encode(f"{user}:{password}".encode()).decode()

    config = {
        "auths": {
            "https://index.docker.io/v1/": {"auth": encoded("hub", "p1")},
            "quay.io": {"auth": encoded("quay", "p2")},
            "quay.io/team": {"auth": encoded("team", "p3")},
            "broken.example": {"auth": "bm90LXBhaXJlZA=="},
        },
        "credsStore": "desktop",
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    assert credentials_from_config(path, "docker.io", "library/alpine") == Credentials("hub", "p1")
    assert credentials_from_config(path, "quay.io", "other/app") == Credentials("quay", "p2")
    assert credentials_from_config(path, "quay.io", "team/app") == Credentials("team", "p3")
    assert credentials_from_config(path, "ghcr.io", "o/r") is None
    assert credentials_from_config(tmp_path / "absent.json", "quay.io", "a") is None
    with pytest.raises(SourceError, match="user:password"):
        credentials_from_config(path, "broken.example", "a")
    assert "p1" not in repr(Credentials("hub", "p1"))


def test_open_source_and_walker_read_registry_layers(
    registry: RegistryServer, pusher: Pusher
) -> None:
    """The factory dispatches ``registry:``; the walker verifies digests and diff_ids."""
    from imagewarden.scan.source import open_source
    from imagewarden.scan.walker import walk_layer

    image = build_image("walked")
    pusher.image("team/walked", image, "v1")
    bad = build_image("walked-bad")
    pusher.image("team/walked-bad", bad, "v1")
    registry.corrupt(bad.layers[0].digest)
    source = open_source(f"registry:{registry.host}/team/walked:v1")
    assert isinstance(source, RegistrySource)
    with source:
        for layer in source.layers():
            walk_layer(layer, [])
    broken = open_source(f"registry:{registry.host}/team/walked-bad:v1")
    try:
        # gzip's own CRC or our digest check, whichever trips first
        with pytest.raises((DigestMismatchError, LayerReadError)):
            walk_layer(broken.layers()[0], [])
    finally:
        broken.close()
