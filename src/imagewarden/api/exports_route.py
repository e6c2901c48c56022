"""``GET /exports/download?job=&expires=&sig=&format=xlsx|csv``: an export's file.

Not a TC API action (browsers and ``httpx.get`` open it): the token in the URL is the whole
authorisation, checked against the job's own account, so a wrong, tampered or expired
token, or one of another job, is a 403 and never another account's file.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import anyio

from imagewarden.inventory.exports import ExportService

__all__ = ["export_route"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_TYPES = {
    "xlsx": b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": b"text/csv; charset=utf-8",
}
_CHUNK = 64 * 1024


async def _plain(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def export_route(
    exports: ExportService, clock: Callable[[], float] = time.time
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method") not in ("GET", "HEAD"):
            await _plain(send, 405, "use GET")
            return
        q = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        one = {k: v[0] for k, v in q.items() if len(v) == 1}
        fmt = one.get("format", "xlsx").lower()
        try:
            expires = int(one.get("expires", ""))
        except ValueError:
            expires = 0
        job, sig = one.get("job", ""), one.get("sig", "")
        if fmt not in _TYPES:
            await _plain(send, 400, "format is xlsx or csv")
            return
        path: Path | None = None
        if job and sig and expires:
            path = await anyio.to_thread.run_sync(exports.file_for, job, expires, sig, fmt, clock())
        if path is None:
            await _plain(send, 403, "this download link is invalid or has expired")
            return
        size = path.stat().st_size
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", _TYPES[fmt]),
                    (b"content-length", str(size).encode()),
                    (
                        b"content-disposition",
                        f'attachment; filename="images-{job[-12:]}.{fmt}"'.encode(),
                    ),
                ],
            }
        )
        if scope.get("method") == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            return
        async with await anyio.open_file(path, "rb") as fh:
            while True:
                chunk = await fh.read(_CHUNK)
                more = len(chunk) == _CHUNK
                await send({"type": "http.response.body", "body": chunk, "more_body": more})
                if not more:
                    break

    return route
