"""Verifying a request's signature (TC3-HMAC-SHA256 or legacy v1) against stored keys.

The order of checks follows the API 3.0 documentation: the Authorization format, the
common parameters, the timestamp window, the SecretId, then the signature itself.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from imagewarden.api.errors import ApiError
from imagewarden.api.signing import (
    UNSIGNED_PAYLOAD,
    parse_tc3_authorization,
    sha256_hex,
    tc3_canonical_request,
    tc3_date,
    tc3_signature,
    tc3_signing_key,
    tc3_string_to_sign,
    v1_signature,
    v1_string_to_sign,
)

__all__ = ["Caller", "CredentialLookup", "verify_tc3", "verify_v1"]

_UNSIGNED_HASH = hashlib.sha256(UNSIGNED_PAYLOAD.encode()).hexdigest()


class Credential(Protocol):
    @property
    def secret_id(self) -> str: ...
    @property
    def secret_key(self) -> str: ...
    @property
    def account_id(self) -> int: ...
    @property
    def enabled(self) -> bool: ...


class CredentialLookup(Protocol):
    def credential(self, secret_id: str) -> Credential | None: ...


@dataclass(frozen=True)
class Caller:
    secret_id: str
    account_id: int
    action: str
    version: str
    region: str | None


def _timestamp(raw: str | None, name: str, now: float, window: int) -> int:
    if raw is None or raw == "":
        raise ApiError.missing_parameter(name)
    if not raw.isdigit() or len(raw) > 12:
        raise ApiError.invalid_parameter(name, "must be a Unix timestamp in seconds")
    ts = int(raw)
    if abs(now - ts) > window:
        raise ApiError.signature_expire()
    return ts


def _credential(lookup: CredentialLookup, secret_id: str) -> Credential:
    cred = lookup.credential(secret_id)
    if cred is None or not cred.enabled:
        raise ApiError.secret_id_not_found()
    return cred


def verify_tc3(
    *,
    method: str,
    headers: Mapping[str, str],
    raw_query: str,
    body: bytes,
    lookup: CredentialLookup,
    now: float,
    window: int,
    service: str,
) -> Caller:
    """``headers`` maps lowercase names to the raw received values."""
    auth = parse_tc3_authorization(headers.get("authorization", ""))
    if auth is None:
        raise ApiError.invalid_authorization(
            "expected `TC3-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`"
        )
    action = headers.get("x-tc-action", "")
    version = headers.get("x-tc-version", "")
    if not action:
        raise ApiError.missing_parameter("X-TC-Action")
    if not version:
        raise ApiError.missing_parameter("X-TC-Version")
    ts = _timestamp(headers.get("x-tc-timestamp"), "X-TC-Timestamp", now, window)
    if auth.service != service:
        raise ApiError.signature_failure(
            f"The credential scope names service `{auth.service}`, expected `{service}`."
        )
    if auth.date != tc3_date(ts):
        raise ApiError.signature_failure(
            "The credential scope date is not the UTC date of X-TC-Timestamp."
        )
    if "content-type" not in auth.signed_headers or "host" not in auth.signed_headers:
        raise ApiError.signature_failure("SignedHeaders must include content-type and host.")
    if headers.get("x-tc-token"):
        raise ApiError(
            "AuthFailure.TokenFailure",
            "Temporary credentials (X-TC-Token) are not supported by this server.",
            "本服务不支持临时凭证（X-TC-Token）。",
        )
    cred = _credential(lookup, auth.secret_id)
    unsigned = headers.get("x-tc-content-sha256", "").strip().upper() == UNSIGNED_PAYLOAD
    canonical = tc3_canonical_request(
        method,
        raw_query if method == "GET" else "",
        headers,
        auth.signed_headers,
        _UNSIGNED_HASH if unsigned else sha256_hex(body),
    )
    expected = tc3_signature(
        tc3_signing_key(cred.secret_key, auth.date, auth.service),
        tc3_string_to_sign(ts, auth.date, auth.service, canonical),
    )
    if not hmac.compare_digest(expected, auth.signature):
        raise ApiError.signature_failure()
    return Caller(
        cred.secret_id, cred.account_id, action, version, headers.get("x-tc-region") or None
    )


def verify_v1(
    *,
    method: str,
    host: str,
    params: Mapping[str, str],
    lookup: CredentialLookup,
    now: float,
    window: int,
) -> Caller:
    for name in ("Action", "Version", "SecretId", "Timestamp", "Nonce", "Signature"):
        if not params.get(name):
            raise ApiError.missing_parameter(name)
    _timestamp(params["Timestamp"], "Timestamp", now, window)
    if not params["Nonce"].isdigit():
        raise ApiError.invalid_parameter("Nonce", "must be a positive integer")
    cred = _credential(lookup, params["SecretId"])
    sig_method = params.get("SignatureMethod") or "HmacSHA1"
    if sig_method not in ("HmacSHA1", "HmacSHA256"):
        raise ApiError.invalid_parameter("SignatureMethod", "must be HmacSHA1 or HmacSHA256")
    expected = v1_signature(
        cred.secret_key, v1_string_to_sign(method, host, "/", params), sig_method
    )
    if not hmac.compare_digest(expected.encode(), params["Signature"].encode()):
        raise ApiError.signature_failure()
    return Caller(
        cred.secret_id,
        cred.account_id,
        params["Action"],
        params["Version"],
        params.get("Region") or None,
    )
