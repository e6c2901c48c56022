"""Authentication hardening: replay window, key disabling, timing-safe comparison, no secrets in logs."""

from __future__ import annotations

import ast
import base64
import hmac
import inspect
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import msgspec
import pytest

from imagewarden.api import auth
from imagewarden.api.app import ApiApp, _Raw
from imagewarden.api.errors import ApiError
from imagewarden.api.registry import Action, ActionRegistry, RequestContext
from imagewarden.api.signing import tc3_sign_request, v1_signature, v1_string_to_sign
from imagewarden.inventory import exports
from tests.e2e.conftest import Server
from tests.e2e.sdk import Pacer, list_images, tcss
from tests.hardening.proc import ServerProcess, post, signed

SID, SKEY = "AKIDhardhardhardhardhardhardhard1234", "hardsecrethardsecrethardsecret12"
T0 = 1_800_000_000


@dataclass(frozen=True)
class Cred:
    secret_id: str
    secret_key: str
    account_id: int
    enabled: bool


class Keys:
    def credential(self, secret_id: str) -> Cred | None:
        return Cred(SID, SKEY, 1, True) if secret_id == SID else None


class Empty(msgspec.Struct, forbid_unknown_fields=True):
    pass


def _noop(req: Empty, ctx: RequestContext) -> Empty:
    return Empty()


def _app(now: list[float]) -> ApiApp:
    return ApiApp(
        ActionRegistry([Action("Noop", Empty, Empty, _noop)]),
        Keys(),
        clock=lambda: now[0],
    )


def _code(payload: bytes) -> str:
    env = msgspec.json.decode(payload)["Response"]
    return str(env["Error"]["Code"]) if "Error" in env else "OK"


# --- replay window ---------------------------------------------------------------------------


def test_a_captured_tc3_request_replayed_outside_the_window_is_rejected() -> None:
    now = [float(T0)]
    app = _app(now)
    headers = {
        k.lower(): v
        for k, v in tc3_sign_request(
            secret_id=SID,
            secret_key=SKEY,
            action="Noop",
            version="2020-11-01",
            host="iw.test",
            body=b"{}",
            timestamp=T0,
        ).items()
    }
    raw = _Raw("POST", headers, "", b"{}")
    assert _code(app.handle(raw, "r1")) == "OK"
    # the very same bytes, replayed: accepted while |now - X-TC-Timestamp| <= 300 s
    for offset, expected in [
        (300, "OK"),
        (301, "AuthFailure.SignatureExpire"),
        (86_400, "AuthFailure.SignatureExpire"),
        (-300, "OK"),
        (-301, "AuthFailure.SignatureExpire"),  # signed "in the future" by a skewed clock
    ]:
        now[0] = T0 + offset
        assert _code(app.handle(raw, "r")) == expected, offset


def test_a_captured_v1_request_replayed_outside_the_window_is_rejected() -> None:
    now = [float(T0)]
    app = _app(now)
    params = {
        "Action": "Noop",
        "Version": "2020-11-01",
        "SecretId": SID,
        "Timestamp": str(T0),
        "Nonce": "4711",
        "Region": "ap-guangzhou",
        "SignatureMethod": "HmacSHA256",
    }
    params["Signature"] = v1_signature(
        SKEY, v1_string_to_sign("GET", "iw.test", "/", params), "HmacSHA256"
    )
    raw = _Raw("GET", {"host": "iw.test"}, urlencode(params), b"")
    assert _code(app.handle(raw, "r1")) == "OK"
    now[0] = T0 + 301
    assert _code(app.handle(raw, "r2")) == "AuthFailure.SignatureExpire"


def test_real_server_rejects_stale_and_future_timestamps(server: Server) -> None:
    sid, skey, _ = server.new_account()
    with httpx.Client() as c:
        for skew in (-301, 301, -3600):
            ts = int(time.time()) + skew
            out = post(c, server.endpoint, sid, skey, "DescribeAssetImageList", timestamp=ts)
            assert out["Error"]["Code"] == "AuthFailure.SignatureExpire", (skew, out)
        out = post(c, server.endpoint, sid, skey, "DescribeAssetImageList")
        assert "Error" not in out and out["TotalCount"] == 0


# --- a key disabled from the command line stops working within one second -------------------


def test_key_disabled_with_the_cli_is_refused_within_one_second(server: Server) -> None:
    sid, skey, _ = server.new_account()
    client = tcss(server.endpoint, sid, skey)
    pacer = Pacer(per_second=10)  # keeps the server's key cache warm, under the rate limit
    for _ in range(3):
        assert list_images(client, pacer).TotalCount == 0
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "imagewarden",
            "keys",
            "disable",
            sid,
            "--db",
            server.db_url,
            "--key-file",
            str(server.key_file),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stderr
    disabled_at = time.monotonic()  # the disabling transaction has committed by now
    late: list[str] = []
    while time.monotonic() < disabled_at + 1.6:
        sent = time.monotonic()
        try:
            list_images(client, pacer)
            code = "OK"
        except Exception as exc:  # the SDK's exception carries the code
            code = str(getattr(exc, "code", exc))
        if sent >= disabled_at + 1.0:
            late.append(code)
    # every request sent a second or more after `keys disable` returned is refused
    assert late and set(late) == {"AuthFailure.SecretIdNotFound"}, late


# --- secrets are compared in constant time -----------------------------------------------------


def _sign_v1(method: str, params: dict[str, str], key: str = SKEY) -> dict[str, str]:
    out = dict(params)
    out["Signature"] = v1_signature(key, v1_string_to_sign(method, "iw.test", "/", out), "HmacSHA1")
    return out


def test_signature_checks_go_through_hmac_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)  # the verifiers call hmac.compare_digest
    now = float(T0)
    for key, ok in ((SKEY, True), (SKEY + "x", False)):
        headers = {
            k.lower(): v
            for k, v in tc3_sign_request(
                secret_id=SID,
                secret_key=key,
                action="Noop",
                version="2020-11-01",
                host="iw.test",
                body=b"{}",
                timestamp=T0,
            ).items()
        }
        sent_sig = headers["authorization"].rsplit("Signature=", 1)[1]
        calls.clear()
        try:
            auth.verify_tc3(
                method="POST",
                headers=headers,
                raw_query="",
                body=b"{}",
                lookup=Keys(),
                now=now,
                window=300,
                service="tcss",
            )
            accepted = True
        except ApiError as err:
            assert err.code == "AuthFailure.SignatureFailure"
            accepted = False
        assert accepted is ok
        assert len(calls) == 1 and sent_sig in calls[0]

        params = _sign_v1(
            "GET",
            {
                "Action": "Noop",
                "Version": "2020-11-01",
                "SecretId": SID,
                "Timestamp": str(T0),
                "Nonce": "1",
            },
            key,
        )
        calls.clear()
        try:
            auth.verify_v1(
                method="GET", host="iw.test", params=params, lookup=Keys(), now=now, window=300
            )
            accepted = True
        except ApiError as err:
            assert err.code == "AuthFailure.SignatureFailure"
            accepted = False
        assert accepted is ok
        assert len(calls) == 1 and params["Signature"].encode() in calls[0]


def test_export_download_tokens_go_through_hmac_compare_digest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    signer = exports.UrlSigner(b"k" * 32)
    good = signer.sign("job-1", 7, T0 + 60)
    assert signer.valid("job-1", 7, T0 + 60, good, T0)
    assert not signer.valid("job-1", 8, T0 + 60, good, T0)  # another account's token
    assert not signer.valid("job-1", 7, T0 + 60, good, T0 + 61)  # expired
    assert len(calls) == 3 and all(good in c for c in calls)


_SECRETISH = {"sig", "signature", "expected", "secret", "key", "token", "mac", "digest"}


def _names(node: ast.AST) -> set[str]:
    out: set[str] = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            out.add(n.id.lower())
        elif isinstance(n, ast.Attribute):
            out.add(n.attr.lower())
    return out


def test_no_secret_is_compared_with_eq_in_the_verifiers() -> None:
    """Static check: no ``==``/``!=`` on anything named like a signature or a secret.

    ``auth.service != service`` (a public scope name) is allowed explicitly.
    """
    allowed = {"service", "date", "version"}
    for module in (auth, exports):
        tree = ast.parse(inspect.getsource(module))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Compare):
                continue
            if not any(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops):
                continue
            names = _names(node) - allowed
            bad = {n for n in names if _SECRETISH & set(n.split("_"))}
            assert not bad, f"{module.__name__}:{node.lineno} compares {bad} with ==/!="


# --- secrets never reach the logs -----------------------------------------------------------


@pytest.fixture
def debug_server(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = ServerProcess(f"sqlite:///{tmp_path / 'iw.db'}", tmp_path, log_level="debug")
    srv.start()
    try:
        yield srv
    finally:
        srv.close()


def test_secrets_never_appear_in_debug_logs(debug_server: ServerProcess) -> None:
    srv = debug_server
    sid, skey, _ = srv.new_account()
    gone_sid, gone_key, _ = srv.new_account()
    srv.service.disable_key(gone_sid)
    ep = srv.endpoint
    signatures: list[str] = []
    request_ids: list[str] = []

    def send(headers: dict[str, str], body: bytes = b"{}", query: str = "") -> dict[str, Any]:
        if "Authorization" in headers:
            signatures.append(headers["Authorization"].rsplit("Signature=", 1)[-1])
        resp = c.request(
            "GET" if query else "POST",
            f"http://{ep}/" + (f"?{query}" if query else ""),
            headers=headers,
            content=None if query else body,
        )
        out: dict[str, Any] = resp.json()["Response"]
        request_ids.append(out["RequestId"])
        return out

    with httpx.Client() as c:
        # successes: TC3 POST, TC3 GET, v1 GET (HmacSHA256)
        h, b = signed(ep, sid, skey, "DescribeAssetImageList", {"Limit": 5})
        assert "Error" not in send(h, b)
        h, b = signed(ep, sid, skey, "ReportHostAssets", {"Host": {"HostID": "h1"}})
        assert "Error" not in send(h, b)
        q = "Limit=3"
        gh = tc3_sign_request(
            secret_id=sid,
            secret_key=skey,
            action="DescribeAssetImageList",
            version="2020-11-01",
            host=ep,
            method="GET",
            query=q,
            content_type="application/x-www-form-urlencoded",
        )
        assert "Error" not in send(gh, query=q)
        v1 = {
            "Action": "DescribeAssetImageList",
            "Version": "2020-11-01",
            "SecretId": sid,
            "Timestamp": str(int(time.time())),
            "Nonce": "99",
            "Region": "ap-guangzhou",
            "SignatureMethod": "HmacSHA256",
            "Limit": "2",
        }
        v1["Signature"] = v1_signature(skey, v1_string_to_sign("GET", ep, "/", v1), "HmacSHA256")
        signatures.append(v1["Signature"])
        assert "Error" not in send({"Host": ep}, query=urlencode(v1))
        # failures: wrong key, stale, disabled key, unknown id, the secret itself as a header,
        # a v1 request with a wrong signature, a garbled body
        codes = []
        h, b = signed(ep, sid, skey + "x", "DescribeAssetImageList")
        codes.append(send(h, b)["Error"]["Code"])
        h, b = signed(ep, sid, skey, "DescribeAssetImageList", timestamp=int(time.time()) - 999)
        codes.append(send(h, b)["Error"]["Code"])
        h, b = signed(ep, gone_sid, gone_key, "DescribeAssetImageList")
        codes.append(send(h, b)["Error"]["Code"])
        h, b = signed(ep, "AKID" + skey, skey, "DescribeAssetImageList")
        codes.append(send(h, b)["Error"]["Code"])
        codes.append(
            send(
                {
                    "Authorization": skey,
                    "X-TC-Action": "DescribeAssetImageList",
                    "Content-Type": "application/json",
                }
            )["Error"]["Code"]
        )
        bad_v1 = {**v1, "Signature": base64.b64encode(skey.encode()).decode()}
        signatures.append(bad_v1["Signature"])
        codes.append(send({"Host": ep}, query=urlencode(bad_v1))["Error"]["Code"])
        h, b = signed(ep, sid, skey, "ReportHostAssets", {"Host": {"HostID": skey}, "X": skey})
        codes.append(send(h, b)["Error"]["Code"])
    assert codes == [
        "AuthFailure.SignatureFailure",
        "AuthFailure.SignatureExpire",
        "AuthFailure.SecretIdNotFound",
        "AuthFailure.SecretIdNotFound",
        "AuthFailure.InvalidAuthorization",
        "AuthFailure.SignatureFailure",
        "UnknownParameter",
    ]
    srv.stop()  # flush everything the process wrote
    logs = srv.logs()
    # the logs cover every one of these requests, so their silence about secrets means something
    assert all(rid in logs for rid in request_ids), logs[-2000:]
    for secret in (skey, gone_key, *signatures):
        assert secret not in logs, f"a secret reached the logs: {secret[:6]}..."
    assert json.dumps(skey)[1:-1] not in logs
