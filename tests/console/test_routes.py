"""The console's static routes: paths, content types, caching validators, methods, headers."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import Any, TypeVar

import httpx
import pytest

from imagewarden.api.app import ApiApp
from imagewarden.api.registry import ActionRegistry
from imagewarden.console import CONSOLE_PATH, StaticAsset, console_routes

T = TypeVar("T")
STATIC = resources.files("imagewarden.console").joinpath("static")


def run(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """asyncio.run in a fresh thread: Playwright's sync API keeps a loop running in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


def call(app: Any, method: str = "GET", headers: dict[str, str] | None = None) -> dict[str, Any]:
    """Drive one ASGI callable directly; returns status, headers (dict) and body."""
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "method": method,
        "path": "/console",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(msg: dict[str, Any]) -> None:
        sent.append(msg)

    run(lambda: app(scope, receive, send))
    start, body = sent[0], sent[1]
    return {
        "status": start["status"],
        "headers": {k.decode(): v.decode() for k, v in start["headers"]},
        "body": body["body"],
    }


class _NoKeys:
    def credential(self, secret_id: str) -> None:
        return None


class Client:
    """A synchronous face on httpx's ASGI transport around an ApiApp with the console routes."""

    def __init__(self) -> None:
        self.app = ApiApp(ActionRegistry(()), _NoKeys(), extra_routes=console_routes())

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://iw.test") as c:
                return await c.request(method, path, **kw)

        return run(go)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("POST", path, **kw)


@pytest.fixture(scope="module")
def client() -> Client:
    return Client()


def test_every_static_file_has_a_route_and_nothing_else_does() -> None:
    routes = console_routes()
    files = sorted(e.name for e in STATIC.iterdir() if e.is_file())
    expected = {CONSOLE_PATH, CONSOLE_PATH + "/"} | {
        f"{CONSOLE_PATH}/{name}" for name in files if name != "index.html"
    }
    assert set(routes) == expected
    assert {"/console/app.js", "/console/app.css", "/console/tc3.js"} <= set(routes)


@pytest.mark.parametrize(
    ("path", "ctype"),
    [
        ("/console", "text/html; charset=utf-8"),
        ("/console/app.js", "text/javascript; charset=utf-8"),
        ("/console/tc3.js", "text/javascript; charset=utf-8"),
        ("/console/app.css", "text/css; charset=utf-8"),
    ],
)
def test_content_type_caching_and_security_headers(client: Client, path: str, ctype: str) -> None:
    r = client.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"] == ctype
    assert r.headers["cache-control"] == "no-cache"
    assert re.fullmatch(r'"[0-9a-f]{32}"', r.headers["etag"])
    assert r.headers["x-content-type-options"] == "nosniff"
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert "unsafe-inline" not in csp and "http" not in csp  # nothing from another origin
    assert r.headers["content-length"] == str(len(r.content))
    name = "index.html" if path == "/console" else path.rsplit("/", 1)[1]
    assert r.content == STATIC.joinpath(name).read_bytes()


def test_if_none_match_gives_304_without_a_body(client: Client) -> None:
    etag = client.get("/console/app.js").headers["etag"]
    for value in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        r = client.get("/console/app.js", headers={"If-None-Match": value})
        assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == etag
    assert client.get("/console/app.js", headers={"If-None-Match": '"x"'}).status_code == 200


def test_etag_follows_the_content() -> None:
    a, b = StaticAsset(b"one", "text/plain"), StaticAsset(b"two", "text/plain")
    assert a.etag != b.etag and a.etag == StaticAsset(b"one", "text/css").etag


def test_head_has_headers_but_no_body() -> None:
    asset = console_routes()["/console/app.css"]
    r = call(asset, "HEAD")
    assert r["status"] == 200 and r["body"] == b""
    assert int(r["headers"]["content-length"]) == len(STATIC.joinpath("app.css").read_bytes())


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_other_methods_are_405(method: str) -> None:
    r = call(console_routes()["/console"], method)
    assert r["status"] == 405 and r["headers"]["allow"] == "GET, HEAD"


def test_trailing_slash_redirects_to_the_page(client: Client) -> None:
    r = client.get("/console/", follow_redirects=False)
    assert r.status_code == 308 and r.headers["location"] == "/console"


def test_unknown_console_paths_fall_through_to_the_api_404(client: Client) -> None:
    r = client.get("/console/nope.js")
    assert r.status_code == 404 and r.headers["content-type"] == "application/json"


def test_the_api_endpoint_is_untouched(client: Client) -> None:
    r = client.post("/", content=b"{}", headers={"Content-Type": "application/json"})
    assert r.status_code == 200
    assert r.json()["Response"]["Error"]["Code"] == "AuthFailure.InvalidAuthorization"


def test_a_prefix_moves_every_route() -> None:
    routes = console_routes("/ui")
    assert (
        "/ui" in routes
        and "/ui/app.js" in routes
        and not any(p.startswith("/console") for p in routes)
    )


def test_page_references_only_served_same_origin_files() -> None:
    routes = console_routes()
    html = STATIC.joinpath("index.html").read_text()
    refs = re.findall(r'(?:src|href)="([^"#]+)"', html)
    assert refs, "the page loads its script and stylesheet"
    for ref in refs:
        assert ref == "data:," or ref in routes, ref
    assert "<script>" not in html and " style=" not in html  # the CSP forbids inline code


def test_every_module_import_resolves_to_a_route() -> None:
    routes = console_routes()
    for entry in STATIC.iterdir():
        if not entry.name.endswith(".js"):
            continue
        text = entry.read_text()
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in text, f"{entry.name} must fetch nothing from the internet"
        for spec in re.findall(r'^import .*? from "([^"]+)";', text, flags=re.M):
            assert spec.startswith("./"), spec
            assert f"{CONSOLE_PATH}/{spec[2:]}" in routes, (entry.name, spec)
