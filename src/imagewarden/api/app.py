"""The ASGI application: one endpoint ``/`` speaking Tencent Cloud API 3.0.

Per request, once, around every action: size limits, method check, signature verification
(TC3 or v1), action/version lookup, rate limit, parameter decoding, the handler, and the
``{"Response": ...}`` envelope.  API errors are HTTP 200 with ``Content-Type:
application/json`` exactly (the official SDK silently drops errors sent with a charset).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import anyio
import msgspec

from imagewarden.api.auth import Caller, CredentialLookup, verify_tc3, verify_v1
from imagewarden.api.errors import ApiError, Lang, pick_language
from imagewarden.api.params import COMMON_V1_PARAMS, decode_form, decode_json
from imagewarden.api.ratelimit import SlidingWindowLimiter
from imagewarden.api.registry import Action, ActionRegistry, RequestContext
from imagewarden.inventory.errors import (
    AlreadyScanningError,
    InvalidFilterError,
    NotFoundError,
    StoreUnavailableError,
)

__all__ = ["ApiApp", "ApiSettings"]

log = logging.getLogger("imagewarden.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_JSON_HEADERS = [(b"content-type", b"application/json")]


@dataclass(frozen=True)
class ApiSettings:
    service: str = "tcss"
    timestamp_window: int = 300
    max_json_body: int = 10 * 1024 * 1024
    max_form_body: int = 1024 * 1024
    max_query: int = 32 * 1024
    rate_limits: bool = True


@dataclass(frozen=True)
class _Raw:
    method: str
    headers: dict[str, str]
    query: str
    body: bytes
    scheme: str = "http"


class _TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        self.limit = limit


def _envelope_ok(payload: bytes, request_id: str) -> bytes:
    rid = msgspec.json.encode(request_id)
    if payload == b"{}":
        return b'{"Response":{"RequestId":' + rid + b"}}"
    return b'{"Response":' + payload[:-1] + b',"RequestId":' + rid + b"}}"


def _envelope_error(err: ApiError, lang: Lang, request_id: str) -> bytes:
    return msgspec.json.encode(
        {
            "Response": {
                "Error": {"Code": err.code, "Message": err.message(lang)},
                "RequestId": request_id,
            }
        }
    )


def _base_url(raw: _Raw) -> str:
    """tccli sends ``Host: http://127.0.0.1:8080`` (its endpoint string, scheme included)."""
    host = raw.headers.get("host", "")
    return host.rstrip("/") if "://" in host else f"{raw.scheme}://{host}"


class ApiApp:
    def __init__(
        self,
        registry: ActionRegistry,
        credentials: CredentialLookup,
        settings: ApiSettings = ApiSettings(),
        *,
        clock: Callable[[], float] = time.time,
        limiter: SlidingWindowLimiter | None = None,
        extra_routes: dict[str, Callable[[Scope, Receive, Send], Awaitable[None]]] | None = None,
        lifespan: tuple[Callable[[], None], Callable[[], None]] | None = None,
    ) -> None:
        self.registry = registry
        self.credentials = credentials
        self.settings = settings
        self.clock = clock
        self.limiter = limiter or SlidingWindowLimiter()
        self.extra_routes = extra_routes or {}
        self.lifespan = lifespan
        self._encoder = msgspec.json.Encoder()

    # --- ASGI ----------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = scope.get("path", "/")
        if path != "/":
            route = self.extra_routes.get(path)
            if route is not None:
                await route(scope, receive, send)
                return
            if path == "/healthz":
                await self._send(send, 200, b'{"status":"ok"}', None)
                return
            await self._send(send, 404, b'{"error":"not found: the API endpoint is /"}', None)
            return

        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        lang = pick_language(headers.get("x-tc-language"))
        method = scope["method"]
        query = scope.get("query_string", b"").decode("latin-1")
        try:
            if method not in ("GET", "POST"):
                raise ApiError.unsupported_protocol(method)
            if method == "GET" and len(query) > self.settings.max_query:
                raise ApiError.request_size_limit(self.settings.max_query)
            limit = (
                self.settings.max_form_body
                if headers.get("content-type", "")
                .lower()
                .startswith("application/x-www-form-urlencoded")
                else self.settings.max_json_body
            )
            body = await self._read_body(receive, headers, limit)
        except ApiError as err:
            payload = _envelope_error(err, lang, request_id)
            await self._send(send, 200, payload, request_id, started)
            return
        except _TooLarge as big:
            too_large = ApiError.request_size_limit(big.limit)
            payload = _envelope_error(too_large, lang, request_id)
            await self._send(send, 200, payload, request_id, started)
            return
        raw = _Raw(method, headers, query, body, scope.get("scheme", "http"))
        payload = await anyio.to_thread.run_sync(self.handle, raw, request_id)
        await self._send(send, 200, payload, request_id, started)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                if self.lifespan is not None:
                    await anyio.to_thread.run_sync(self.lifespan[0])
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                if self.lifespan is not None:
                    await anyio.to_thread.run_sync(self.lifespan[1])
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _read_body(self, receive: Receive, headers: dict[str, str], limit: int) -> bytes:
        declared = headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise _TooLarge(limit)
        chunks: list[bytes] = []
        size = 0
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                break
            chunk = msg.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _TooLarge(limit)
            chunks.append(chunk)
            if not msg.get("more_body", False):
                break
        return b"".join(chunks)

    @staticmethod
    async def _send(
        send: Send, status: int, body: bytes, request_id: str | None, started: float | None = None
    ) -> None:
        headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
        if request_id:
            headers.append((b"x-tc-requestid", request_id.encode()))
        if started is not None:
            # W3C Server-Timing: the application's time for the request (headers parsed to
            # response ready: body read, signature, action, envelope), for operators'
            # dashboards and for benchmarks/list_api.py to tell server from client time
            dur = (time.perf_counter() - started) * 1000
            headers.append((b"server-timing", f"app;dur={dur:.3f}".encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    # --- the request pipeline (runs in a worker thread) ----------------------------------------
    def handle(self, raw: _Raw, request_id: str) -> bytes:
        started = time.perf_counter()
        lang = pick_language(raw.headers.get("x-tc-language"))
        action_name = raw.headers.get("x-tc-action", "")
        code = "OK"
        try:
            payload, action_name, lang = self._dispatch(raw, request_id, lang)
            return _envelope_ok(payload, request_id)
        except ApiError as err:
            code = err.code
            return _envelope_error(err, lang, request_id)
        except StoreUnavailableError:
            code = "InternalError.MainDBFail"
            log.warning("database unavailable (RequestId %s)", request_id)
            return _envelope_error(ApiError.main_db_fail(), lang, request_id)
        except Exception:
            code = "InternalError"
            log.exception("internal error in %s (RequestId %s)", action_name or "?", request_id)
            return _envelope_error(ApiError.internal(), lang, request_id)
        finally:
            log.info(
                "%s %s %s %.1fms",
                request_id,
                action_name or "-",
                code,
                (time.perf_counter() - started) * 1000,
            )

    def _dispatch(self, raw: _Raw, request_id: str, lang: Lang) -> tuple[bytes, str, Lang]:
        ctype = raw.headers.get("content-type", "").split(";")[0].strip().lower()
        form: list[tuple[str, str]] | None = None
        if raw.method == "GET":
            form = self._parse_qs(raw.query)
        elif ctype == "application/x-www-form-urlencoded":
            form = self._parse_qs(raw.body.decode("latin-1"))
        elif ctype != "application/json":
            raise ApiError.invalid_parameter(
                "Content-Type",
                "POST requests must be application/json (TC3-HMAC-SHA256) or "
                "application/x-www-form-urlencoded (HmacSHA1/HmacSHA256)",
            )
        now = self.clock()
        if "authorization" in raw.headers:
            caller = verify_tc3(
                method=raw.method,
                headers=raw.headers,
                raw_query=raw.query,
                body=raw.body,
                lookup=self.credentials,
                now=now,
                window=self.settings.timestamp_window,
                service=self.settings.service,
            )
            if raw.method == "POST" and form is not None:
                raise ApiError.invalid_parameter(
                    "Content-Type", "TC3-HMAC-SHA256 POST requests must be application/json"
                )
            business = form
        elif form is not None and any(k in ("Signature", "SecretId", "Action") for k, _ in form):
            params = dict(form)
            if len(params) != len(form):
                raise ApiError.invalid_parameter("(request)", "a parameter is given more than once")
            lang = pick_language(params.get("Language"))
            caller = verify_v1(
                method=raw.method,
                host=raw.headers.get("host", ""),
                params=params,
                lookup=self.credentials,
                now=now,
                window=self.settings.timestamp_window,
            )
            business = [(k, v) for k, v in form if k not in COMMON_V1_PARAMS]
        else:
            raise ApiError.invalid_authorization("the request is not signed")

        action = self._action(caller)
        if self.settings.rate_limits and not self.limiter.allow(
            caller.account_id, action.name, action.rate_limit
        ):
            raise ApiError.request_limit(action.name, action.rate_limit)
        if business is None:
            request = decode_json(raw.body, action.request)
        else:
            request = decode_form(business, action.request)
        ctx = RequestContext(
            request_id,
            caller.account_id,
            caller.secret_id,
            action.name,
            caller.version,
            caller.region,
            lang,
            _base_url(raw),
        )
        try:
            response = action.handler(request, ctx)
        except InvalidFilterError as exc:
            raise ApiError.invalid_value(exc.parameter, exc.detail) from None
        except NotFoundError as exc:
            raise ApiError.resource_not_found(str(exc)) from None
        except AlreadyScanningError:
            raise ApiError(
                "FailedOperation.ErrAlreadyScanning",
                "A scan task of this account is still running; stop it or wait for it to end.",
                "当前账号已有正在进行的扫描任务，请等待其结束或先停止它。",
            ) from None
        return self._encoder.encode(response), action.name, lang

    def _action(self, caller: Caller) -> Action[Any, Any]:
        versions = self.registry.versions(caller.action)
        if versions is None:
            raise ApiError.invalid_action(caller.action)
        action = versions.get(caller.version)
        if action is None:
            raise ApiError.no_such_version(caller.version)
        return action

    @staticmethod
    def _parse_qs(text: str) -> list[tuple[str, str]]:
        try:
            return parse_qsl(text, keep_blank_values=True, strict_parsing=False, errors="strict")
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError.invalid_parameter("(query)", f"malformed form encoding: {exc}") from None
