"""Engine API endpoints: ``unix://`` and ``tcp://`` addresses as the docker CLI reads them.

The values come from the command line layer (``DOCKER_HOST``, ``DOCKER_TLS_VERIFY``,
``DOCKER_CERT_PATH``, ``CONTAINER_HOST``); nothing here reads the environment.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

__all__ = ["DEFAULT_DOCKER_HOST", "Endpoint", "parse_endpoint"]

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"


@dataclass(frozen=True)
class Endpoint:
    """Where an engine's Docker-compatible API listens."""

    address: str  # as given, for messages
    socket_path: str | None = None  # unix socket
    base_url: str = "http://docker"  # for tcp: http(s)://host:port
    tls: bool = False
    cert_path: str | None = None  # directory with ca.pem, cert.pem, key.pem

    def client(self, timeout: float) -> httpx.Client:
        if self.socket_path is not None:
            transport = httpx.HTTPTransport(uds=self.socket_path)
            return httpx.Client(transport=transport, base_url=self.base_url, timeout=timeout)
        if not self.tls:
            return httpx.Client(base_url=self.base_url, timeout=timeout)
        ctx = ssl.create_default_context()
        certs = Path(self.cert_path) if self.cert_path else None
        if certs is not None and (certs / "ca.pem").is_file():
            ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
        if certs is not None and (certs / "cert.pem").is_file() and (certs / "key.pem").is_file():
            ctx.load_cert_chain(str(certs / "cert.pem"), str(certs / "key.pem"))
        return httpx.Client(base_url=self.base_url, timeout=timeout, verify=ctx)


def parse_endpoint(
    address: str | None, *, tls_verify: bool = False, cert_path: str | None = None
) -> Endpoint:
    """``unix:///path``, ``/path``, ``tcp://host[:port]`` (2375, or 2376 with TLS) → Endpoint.

    ``ssh://`` and ``npipe://`` are refused with a ValueError naming the address.
    """
    addr = (address or DEFAULT_DOCKER_HOST).strip()
    if addr.startswith("/"):
        return Endpoint(addr, socket_path=addr)
    parts = urlsplit(addr)
    if parts.scheme == "unix":
        path = parts.path or parts.netloc
        if not path:
            raise ValueError(f"{addr}: no socket path")
        return Endpoint(addr, socket_path=path)
    if parts.scheme in ("tcp", "http", "https"):
        if not parts.hostname:
            raise ValueError(f"{addr}: no host")
        tls = tls_verify or parts.scheme == "https"
        port = parts.port or (2376 if tls else 2375)
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        scheme = "https" if tls else "http"
        path = parts.path.rstrip("/")
        return Endpoint(addr, None, f"{scheme}://{host}:{port}{path}", tls, cert_path)
    raise ValueError(f"{addr}: unsupported engine address (use unix:// or tcp://)")
