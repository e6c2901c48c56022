"""Serving the console's files from package data, as exact-path ASGI callables.

Every file is read once, when the routes are built.  Responses carry an ``ETag`` (a digest of
the content) with ``Cache-Control: no-cache``: browsers keep the files but revalidate them, so
an upgraded server is picked up at the next load and an unchanged file costs a ``304``.  The
headers also pin the page to its own origin (CSP ``'self'`` only: no CDN, no inline script)
and keep it out of frames.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, MutableMapping
from importlib import resources
from typing import Any

__all__ = ["CONSOLE_PATH", "CONTENT_TYPES", "SECURITY_HEADERS", "StaticAsset", "console_routes"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CONSOLE_PATH = "/console"
_INDEX = "index.html"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}

SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
)


async def _drain(receive: Receive) -> None:
    """Consume a request body nobody needs (a GET normally has none)."""
    while True:
        msg = await receive()
        if msg["type"] != "http.request" or not msg.get("more_body", False):
            return


async def _respond(send: Send, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _etag_matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    tags = [t.strip() for t in header.split(",")]
    return etag in tags or f"W/{etag}" in tags


class StaticAsset:
    """One file, served for ``GET``/``HEAD`` with validators; anything else is ``405``."""

    def __init__(self, body: bytes, content_type: str) -> None:
        self.body = body
        self.content_type = content_type
        self.etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _drain(receive)
        method = scope.get("method", "GET")
        if method not in ("GET", "HEAD"):
            body = b"method not allowed\n"
            await _respond(
                send,
                405,
                [
                    ("allow", "GET, HEAD"),
                    ("content-type", "text/plain; charset=utf-8"),
                    ("content-length", str(len(body))),
                ],
                body,
            )
            return
        headers = [
            ("cache-control", "no-cache"),
            ("etag", self.etag),
            *SECURITY_HEADERS,
        ]
        request_headers = {k.decode("latin-1").lower(): v for k, v in scope.get("headers", [])}
        inm = request_headers.get("if-none-match")
        if inm is not None and _etag_matches(inm.decode("latin-1"), self.etag):
            await _respond(send, 304, headers, b"")
            return
        headers += [("content-type", self.content_type), ("content-length", str(len(self.body)))]
        await _respond(send, 200, headers, b"" if method == "HEAD" else self.body)


class Redirect:
    """A permanent redirect to a fixed same-origin path (``/console/`` → ``/console``)."""

    def __init__(self, location: str) -> None:
        self.location = location

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _drain(receive)
        await _respond(send, 308, [("location", self.location), ("content-length", "0")], b"")


def console_routes(prefix: str = CONSOLE_PATH) -> dict[str, ASGIApp]:
    """Exact path → ASGI callable for the page (``prefix``) and each of its static files."""
    routes: dict[str, ASGIApp] = {}
    static = resources.files("imagewarden.console").joinpath("static")
    for entry in sorted(static.iterdir(), key=lambda e: e.name):
        suffix = "." + entry.name.rsplit(".", 1)[-1] if "." in entry.name else ""
        ctype = CONTENT_TYPES.get(suffix)
        if not entry.is_file() or ctype is None:
            continue
        asset = StaticAsset(entry.read_bytes(), ctype)
        routes[prefix if entry.name == _INDEX else f"{prefix}/{entry.name}"] = asset
    if prefix not in routes:
        raise RuntimeError("the console's index.html is missing from the package data")
    routes[prefix + "/"] = Redirect(prefix)
    return routes
