"""The request pipeline in process (ASGI), for cases an SDK cannot produce."""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest

from imagewarden.api.app import ApiApp, ApiSettings
from imagewarden.api.registry import Action, ActionRegistry, RequestContext
from imagewarden.api.signing import tc3_sign_request, v1_signature, v1_string_to_sign
from imagewarden.inventory.errors import StoreUnavailableError

SID, SKEY = "AKIDtesttesttesttesttesttesttest1234", "secretsecretsecretsecretsecret12"


@dataclass(frozen=True)
class Cred:
    secret_id: str
    secret_key: str
    account_id: int
    enabled: bool


class Keys:
    def credential(self, secret_id: str) -> Cred | None:
        return Cred(SID, SKEY, 1, True) if secret_id == SID else None


class Echo(msgspec.Struct, forbid_unknown_fields=True):
    Value: str = ""


class Boom(Exception):
    pass


def _echo(req: Echo, ctx: RequestContext) -> Echo:
    if req.Value == "boom":
        raise Boom("secret internals /etc/passwd")
    if req.Value == "db":
        raise StoreUnavailableError("connection refused")
    return Echo(Value=req.Value)


APP = ApiApp(
    ActionRegistry([Action("Echo", Echo, Echo, _echo)]),
    Keys(),
    ApiSettings(max_form_body=2048, max_query=1024),
)


def call(
    method: str = "POST",
    body: bytes = b"{}",
    headers: dict[str, str] | None = None,
    query: str = "",
) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=APP), base_url="http://iw.test"
        ) as c:
            return await c.request(
                method, "/" + (f"?{query}" if query else ""), content=body, headers=headers or {}
            )

    # a fresh thread: other tests in this process (Playwright) may leave an event loop running
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, go()).result()


def signed(body: bytes = b"{}", action: str = "Echo", **kw: Any) -> dict[str, str]:
    return tc3_sign_request(
        secret_id=SID,
        secret_key=SKEY,
        action=action,
        version="2020-11-01",
        host="iw.test",
        body=body,
        **kw,
    )


def error(resp: httpx.Response) -> str:
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    data = resp.json()["Response"]
    assert data["RequestId"] == resp.headers["x-tc-requestid"]
    return str(data["Error"]["Code"])


def test_success_envelope() -> None:
    body = b'{"Value": "hi"}'
    resp = call(body=body, headers=signed(body))
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    assert resp.json()["Response"]["Value"] == "hi" and resp.json()["Response"]["RequestId"]


def test_protocol_errors() -> None:
    assert error(call("PUT", headers=signed())) == "UnsupportedProtocol"
    assert (
        error(call(headers={"Content-Type": "application/json", "Authorization": "Bearer x"}))
        == "AuthFailure.InvalidAuthorization"
    )
    assert (
        error(call(headers={"Content-Type": "application/json"}))
        == "AuthFailure.InvalidAuthorization"
    )
    h = signed()
    del h["X-TC-Action"]
    assert error(call(headers=h)) == "MissingParameter"
    h = signed()
    h["X-TC-Timestamp"] = "soon"
    assert error(call(headers=h)) == "InvalidParameter"
    assert error(call(headers=signed(action="Nope"))) == "InvalidAction"
    h = signed()
    h["X-TC-Version"] = "2017-03-12"
    assert error(call(headers=h)) == "NoSuchVersion"
    h = signed()
    h["Content-Type"] = "text/plain"
    assert error(call(headers=h)) == "InvalidParameter"
    assert (
        error(call(query="x=" + "a" * 2000, method="GET", headers={})) == "RequestSizeLimitExceeded"
    )
    big = b"Value=" + b"a" * 4096
    assert (
        error(call(body=big, headers={"Content-Type": "application/x-www-form-urlencoded"}))
        == "RequestSizeLimitExceeded"
    )
    body = b'{"Value": "x"}'
    assert (
        error(call(body=b'{"Value": "y"}', headers=signed(body))) == "AuthFailure.SignatureFailure"
    )  # body tampered
    h = signed(timestamp=int(time.time()) - 3600)
    assert error(call(headers=h)) == "AuthFailure.SignatureExpire"
    h = signed()
    h["Authorization"] = h["Authorization"].replace("/tcss/", "/cvm/")
    assert error(call(headers=h)) == "AuthFailure.SignatureFailure"


def test_internal_errors_never_leak() -> None:
    body = b'{"Value": "boom"}'
    resp = call(body=body, headers=signed(body))
    assert error(resp) == "InternalError"
    assert "passwd" not in resp.text and "Traceback" not in resp.text
    body = b'{"Value": "db"}'
    assert error(call(body=body, headers=signed(body))) == "InternalError.MainDBFail"


def test_json_with_charset_is_accepted_and_signed_as_received() -> None:
    body = b'{"Value": "\\u4e2d"}'
    h = signed(body, content_type="application/json; charset=utf-8")
    resp = call(body=body, headers=h)
    assert resp.json()["Response"]["Value"] == "中"


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_v1_with_duplicate_and_missing_parameters(method: str) -> None:
    ts = str(int(time.time()))
    params = {
        "Action": "Echo",
        "Version": "2020-11-01",
        "SecretId": SID,
        "Timestamp": ts,
        "Nonce": "7",
        "Value": "v1",
    }
    params["Signature"] = v1_signature(SKEY, v1_string_to_sign(method, "iw.test", "/", params))
    form = str(httpx.QueryParams(params))
    kw: dict[str, Any] = {"headers": {"Content-Type": "application/x-www-form-urlencoded"}}
    if method == "GET":
        resp = call("GET", query=form, **kw)
    else:
        resp = call(body=form.encode(), **kw)
    assert resp.json()["Response"]["Value"] == "v1"
    missing = str(httpx.QueryParams({k: v for k, v in params.items() if k != "Nonce"}))
    resp = (
        call(body=missing.encode(), **kw) if method == "POST" else call("GET", query=missing, **kw)
    )
    assert error(resp) == "MissingParameter" and "Nonce" in json.dumps(resp.json())


def test_server_timing_reports_the_application_time() -> None:
    # W3C Server-Timing on every API answer, errors included: the app's own time
    body = b'{"Value": "hi"}'
    for resp in (call(body=body, headers=signed(body)), call(body=b"{}", headers={})):
        name, _, dur = resp.headers["server-timing"].partition(";dur=")
        assert name == "app"
        assert 0 < float(dur) < 60_000
