"""Load: 1,000 concurrent keep-alive connections against a real server process.

Every connection is opened first and held open; then each sends two TC3-signed
DescribeAssetImageList requests, one after the other on the same socket (so a server that
drops keep-alive connections under load fails the test).  Every answer must be an HTTP 200
envelope: a success or RequestLimitExceeded (fifty accounts share 2,000 requests, far above
20/s each), nothing else.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hardening.proc import ServerProcess, signed

CONNECTIONS = 1_000
PER_CONNECTION = 2
ACCOUNTS = 50


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[ServerProcess]:
    s = ServerProcess(f"sqlite:///{tmp_path / 'iw.db'}", tmp_path, extra=("--scan-workers", "0"))
    s.start()
    try:
        yield s
    finally:
        s.close()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {
        k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ln)
    }
    body = await reader.readexactly(int(headers["content-length"]))
    return status, headers, body


def _request(endpoint: str, sid: str, skey: str, n: int) -> bytes:
    headers, body = signed(endpoint, sid, skey, "DescribeAssetImageList", {"Limit": 1 + n % 5})
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (
        f"POST / HTTP/1.1\r\n{head}Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    ).encode() + body


async def _hammer(endpoint: str, keys: list[tuple[str, str]]) -> Counter[str]:
    host, port = endpoint.split(":")
    opened: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    sem = asyncio.Semaphore(200)  # pace the handshakes, not the concurrency

    async def connect() -> None:
        async with sem:
            opened.append(await asyncio.open_connection(host, int(port)))

    await asyncio.gather(*(connect() for _ in range(CONNECTIONS)))
    assert len(opened) == CONNECTIONS
    codes: Counter[str] = Counter()

    async def session(i: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sid, skey = keys[i % len(keys)]
        for n in range(PER_CONNECTION):
            writer.write(_request(endpoint, sid, skey, i + n))
            await writer.drain()
            status, headers, body = await _read_response(reader)
            assert status == 200 and headers["content-type"] == "application/json", (status, body)
            env = json.loads(body)["Response"]
            assert env["RequestId"] == headers["x-tc-requestid"]
            if "Error" in env:
                codes[env["Error"]["Code"]] += 1
            else:
                assert env["TotalCount"] == 0 and env["List"] == []
                codes["OK"] += 1
        writer.close()

    try:
        await asyncio.gather(*(session(i, r, w) for i, (r, w) in enumerate(opened)))
    finally:
        for _, w in opened:
            w.close()
    return codes


@pytest.mark.slow
def test_thousand_concurrent_keep_alive_connections(srv: ServerProcess) -> None:
    keys = [srv.new_account()[:2] for _ in range(ACCOUNTS)]
    # a hang is a failure, not a stuck suite
    # a fresh thread: another test in this worker (Playwright's sync API) may have left an
    # event loop running on the main thread, and asyncio.run() refuses to nest
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        codes = pool.submit(
            asyncio.run, asyncio.wait_for(_hammer(srv.endpoint, keys), timeout=240)
        ).result()
    assert sum(codes.values()) == CONNECTIONS * PER_CONNECTION
    assert set(codes) <= {"OK", "RequestLimitExceeded"}, codes
    assert codes["OK"] >= 20 * ACCOUNTS, codes  # every account's first 20 are served
    # the server is still healthy and serving afterwards
    srv.stop()
    assert "Traceback" not in srv.logs()
