"""Helpers for the registry tests: a real ``docker-registry`` process, a token server, a pusher.

- ``RegistryServer`` runs Debian's ``/usr/bin/docker-registry`` (distribution 2.8) on
  127.0.0.1 with filesystem storage under a temporary directory, optionally with htpasswd
  or token auth.
- ``TokenServer`` is a tiny token service on 127.0.0.1 issuing RS256 JWTs signed with a
  self-signed certificate made here; the registry trusts it through ``rootcertbundle``.
  The header carries ``x5c`` (the certificate, checked against the bundle) and ``kid``
  (the libtrust fingerprint of the key), which is what distribution 2.8 looks for.
- ``build_image`` makes tiny deterministic images in memory; ``Pusher`` uploads them with
  monolithic blob uploads (POST, then PUT ``?digest=``) and PUTs the manifest.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import io
import json
import os
import socket
import subprocess
import tarfile
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

REGISTRY_BIN = "/usr/bin/docker-registry"
LOOPBACK = "127.0.0.1"

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


# -- images ------------------------------------------------------------------------------


def tar_gz_layer(files: dict[str, bytes]) -> tuple[bytes, str]:
    """A deterministic gzip tar of ``files``; returns (blob, diff_id)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, mtime=0), sha256(tar_bytes)


@dataclass
class Blob:
    data: bytes
    media_type: str

    @property
    def digest(self) -> str:
        return sha256(self.data)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": len(self.data),
            **extra,
        }


@dataclass
class TestImage:
    """An image ready to push: blobs, manifest bytes and its media type."""

    __test__ = False  # not a test class

    config: Blob
    layers: list[Blob]
    diff_ids: list[str]
    manifest: bytes
    media_type: str
    children: list[TestImage] = field(default_factory=list)

    @property
    def digest(self) -> str:
        return sha256(self.manifest)

    @property
    def blobs(self) -> list[Blob]:
        return [self.config, *self.layers]


def build_image(
    marker: str,
    *,
    architecture: str = "amd64",
    variant: str | None = None,
    docker: bool = False,
    layers: list[tuple[bytes, str]] | None = None,
    annotations: dict[str, str] | None = None,
) -> TestImage:
    """Two small gzip tar layers (unique per ``marker``) plus a config and a manifest."""
    if layers is None:
        layers = [
            tar_gz_layer({"etc/os-release": f'ID=test\nVERSION_ID="{marker}"\n'.encode()}),
            tar_gz_layer({f"opt/{marker}/data.txt": f"{marker} {architecture}\n".encode() * 10}),
        ]
    layer_type = DOCKER_LAYER_GZIP if docker else OCI_LAYER_GZIP
    layer_blobs = [
        Blob(data, layer_type if data[:2] == b"\x1f\x8b" else OCI_LAYER_TAR) for data, _ in layers
    ]
    diff_ids = [diff for _, diff in layers]
    config: dict[str, Any] = {
        "architecture": architecture,
        "os": "linux",
        "created": "2024-01-02T03:04:05Z",
        "author": "imagewarden tests",
        "config": {"Env": ["PATH=/usr/bin", f"MARKER={marker}"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [
            {"created": "2024-01-02T03:04:05Z", "created_by": f"ADD layer {i}"}
            for i in range(len(layers))
        ]
        + [{"created_by": "ENV MARKER", "empty_layer": True}],
    }
    if variant:
        config["variant"] = variant
    config_blob = Blob(canonical(config), DOCKER_CONFIG if docker else OCI_CONFIG)
    media_type = DOCKER_MANIFEST if docker else OCI_MANIFEST
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": config_blob.descriptor(),
        "layers": [blob.descriptor() for blob in layer_blobs],
    }
    if annotations:
        manifest["annotations"] = annotations
    return TestImage(config_blob, layer_blobs, diff_ids, canonical(manifest), media_type)


def build_index(children: list[tuple[TestImage, dict[str, str]]]) -> TestImage:
    """An OCI index over ``children`` with their platforms."""
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": child.media_type,
                "digest": child.digest,
                "size": len(child.manifest),
                "platform": platform,
            }
            for child, platform in children
        ],
    }
    empty = Blob(b"", "")
    return TestImage(empty, [], [], canonical(index), OCI_INDEX, [c for c, _ in children])


# -- pushing -----------------------------------------------------------------------------


class Pusher:
    """Uploads images to a registry with plain httpx (auth header given by the caller)."""

    def __init__(self, base: str, authorization: str | None = None) -> None:
        headers = {"Authorization": authorization} if authorization else {}
        self.client = httpx.Client(
            base_url=base, headers=headers, timeout=60, trust_env=False, verify=False
        )

    def close(self) -> None:
        self.client.close()

    def blob(self, repo: str, data: bytes) -> str:
        digest = sha256(data)
        started = self.client.post(f"/v2/{repo}/blobs/uploads/")
        assert started.status_code == 202, started.text
        location = httpx.URL(started.headers["location"])
        url = self.client.base_url.join(location).copy_merge_params({"digest": digest})
        done = self.client.put(
            url, content=data, headers={"Content-Type": "application/octet-stream"}
        )
        assert done.status_code == 201, done.text
        return digest

    def manifest(self, repo: str, ref: str, body: bytes, media_type: str) -> str:
        response = self.client.put(
            f"/v2/{repo}/manifests/{ref}", content=body, headers={"Content-Type": media_type}
        )
        assert response.status_code == 201, response.text
        digest: str = response.headers["docker-content-digest"]
        assert digest == sha256(body)
        return digest

    def image(self, repo: str, image: TestImage, tag: str | None = None) -> str:
        for child in image.children:
            self.image(repo, child)
        for blob in image.blobs:
            if blob.media_type:
                self.blob(repo, blob.data)
        return self.manifest(repo, tag or image.digest, image.manifest, image.media_type)


# -- the registry process ----------------------------------------------------------------


class RegistryServer:
    """``docker-registry serve`` on 127.0.0.1:<free port>, storage under ``root``."""

    def __init__(self, root: Path, auth: dict[str, Any] | None = None) -> None:
        self.root = root
        self.storage = root / "storage"
        self.port = free_port()
        self.host = f"{LOOPBACK}:{self.port}"
        self.base = f"http://{self.host}"
        config: dict[str, Any] = {
            "version": "0.1",
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.storage)},
                "delete": {"enabled": True},
            },
            "http": {"addr": self.host, "secret": uuid.uuid4().hex},
        }
        if auth:
            config["auth"] = auth
        # YAML is a superset of JSON
        self.config_path = root / "config.yml"
        self.config_path.write_text(json.dumps(config, indent=2))
        self.log_path = root / "registry.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [REGISTRY_BIN, "serve", str(self.config_path)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1, trust_env=False, verify=False) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"registry exited: {self.log_path.read_text()[-2000:]}")
                try:
                    if client.get(f"{self.base}/v2/").status_code in (200, 401):
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"registry did not start: {self.log_path.read_text()[-2000:]}")

    def blob_path(self, digest: str) -> Path:
        alg, _, hexpart = digest.partition(":")
        return self.storage / "docker/registry/v2/blobs" / alg / hexpart[:2] / hexpart / "data"

    def corrupt(self, digest: str, old: bytes | None = None, new: bytes | None = None) -> None:
        """Change bytes of a stored blob in place, keeping its length."""
        path = self.blob_path(digest)
        data = bytearray(path.read_bytes())
        if old is not None and new is not None:
            at = data.index(old)
            data[at : at + len(old)] = new
        else:
            data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def htpasswd_file(path: Path, users: dict[str, str]) -> Path:
    """Write a bcrypt htpasswd file with Debian's ``htpasswd`` (apache2-utils)."""
    lines = []
    for user, password in users.items():
        out = subprocess.run(
            ["htpasswd", "-nbB", user, password], check=True, capture_output=True, text=True
        )
        lines.append(out.stdout.strip())
    path.write_text("\n".join(lines) + "\n")
    return path


# -- the token server --------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def libtrust_key_id(public_der: bytes) -> str:
    """distribution's key id: base32 of the first 240 bits of sha256(SPKI), groups of 4."""
    digest = hashlib.sha256(public_der).digest()[:30]
    text = base64.b32encode(digest).decode("ascii").rstrip("=")
    return ":".join(text[i : i + 4] for i in range(0, len(text), 4))


class TokenServer:
    """Issues registry tokens on 127.0.0.1.

    Policy: anonymous callers may pull repositories under ``public/``; a caller with valid
    basic credentials gets every action it asks for; wrong credentials get 401.
    ``field`` chooses the answer's key (``token`` or ``access_token``).
    """

    def __init__(self, root: Path, users: dict[str, str], service: str, issuer: str) -> None:
        self.users = users
        self.service = service
        self.issuer = issuer
        self.field = "token"
        self.requests: Counter[str] = Counter()
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "imagewarden test token signer")])
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.cert_path = root / "token-signer.pem"
        self.cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        server = self
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.realm = f"http://{LOOPBACK}:{self.httpd.server_address[1]}/token"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def registry_auth(self) -> dict[str, Any]:
        return {
            "token": {
                "realm": self.realm,
                "service": self.service,
                "issuer": self.issuer,
                "rootcertbundle": str(self.cert_path),
            }
        }

    def sign(self, subject: str, access: list[dict[str, Any]], lifetime: int = 300) -> str:
        public_der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        header = {
            "typ": "JWT",
            "alg": "RS256",
            "kid": libtrust_key_id(public_der),
            "x5c": [base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()],
        }
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": now + lifetime,
            "nbf": now - 5,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        signing_input = f"{_b64url(canonical(header))}.{_b64url(canonical(claims))}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        url = urllib.parse.urlsplit(handler.path)
        query = urllib.parse.parse_qs(url.query)
        scopes = [s for value in query.get("scope", []) for s in value.split(" ") if s]
        user = ""
        header = handler.headers.get("Authorization", "")
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if self.users.get(user) != password:
                self._answer(handler, 401, {"details": "bad credentials"})
                return
        if url.path != "/token" or query.get("service") != [self.service]:
            self._answer(handler, 400, {"details": "unknown service"})
            return
        with self._lock:
            for scope in scopes or [""]:
                self.requests[scope] += 1
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            wanted = [a for a in actions.split(",") if a]
            granted = wanted if user else [a for a in wanted if a == "pull"]
            if not user and not name.startswith("public/"):
                granted = []
            access.append({"type": kind, "name": name, "actions": granted})
        token = self.sign(user, access)
        self._answer(handler, 200, {self.field: token, "expires_in": 300})

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def registry_available() -> bool:
    return os.access(REGISTRY_BIN, os.X_OK)


class RedirectingFront:
    """A registry front on 127.0.0.1 that wants basic auth and sends blobs to "storage".

    Manifests are proxied to ``backend`` (an anonymous ``RegistryServer``); blob GETs get a
    307 to a second server (another origin) that serves the blob file from the backend's
    storage directory and records the ``Authorization`` headers it was sent.
    """

    def __init__(self, backend: RegistryServer, user: str, password: str) -> None:
        self.backend = backend
        self.expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.storage_authorizations: list[str | None] = []
        front = self

        class Storage(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                front.storage_authorizations.append(self.headers.get("Authorization"))
                digest = self.path.rsplit("/", 1)[-1]
                data = front.backend.blob_path(digest).read_bytes()
                _send(self, 200, data, {"Content-Type": "application/octet-stream"})

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Front(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.headers.get("Authorization") != front.expected:
                    _send(self, 401, b"{}", {"WWW-Authenticate": 'Basic realm="front"'})
                    return
                if "/blobs/" in self.path:
                    digest = self.path.rsplit("/", 1)[-1]
                    location = f"{front.storage_base}/storage/{digest}"
                    _send(self, 307, b"", {"Location": location})
                    return
                upstream = httpx.get(
                    front.backend.base + self.path,
                    headers={"Accept": self.headers.get("Accept", "*/*")},
                    trust_env=False,
                    verify=False,
                )
                keep = ("content-type", "docker-content-digest")
                headers = {k: v for k, v in upstream.headers.items() if k.lower() in keep}
                _send(self, upstream.status_code, upstream.content, headers)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.storage = ThreadingHTTPServer((LOOPBACK, 0), Storage)
        self.front = ThreadingHTTPServer((LOOPBACK, 0), Front)
        self.storage_base = f"http://{LOOPBACK}:{self.storage.server_address[1]}"
        self.host = f"{LOOPBACK}:{self.front.server_address[1]}"
        self.threads = [
            threading.Thread(target=server.serve_forever, daemon=True)
            for server in (self.storage, self.front)
        ]
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        for server in (self.front, self.storage):
            server.shutdown()
            server.server_close()
        for thread in self.threads:
            thread.join(timeout=5)


def _send(
    handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]
) -> None:
    handler.send_response(status)
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
