"""Tencent Cloud request signatures: TC3-HMAC-SHA256 (v3) and the legacy HmacSHA1/HmacSHA256 (v1).

Pure functions over bytes and strings, used by the server to verify and by the agent (and
tests) to sign.  The server always works on what arrived on the wire: the raw Host header,
the raw query string and the raw body bytes.  Nothing here re-serialises anything.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

__all__ = [
    "TC3_ALGORITHM",
    "UNSIGNED_PAYLOAD",
    "TC3Authorization",
    "parse_tc3_authorization",
    "sha256_hex",
    "tc3_canonical_request",
    "tc3_date",
    "tc3_sign_request",
    "tc3_signature",
    "tc3_signing_key",
    "tc3_string_to_sign",
    "v1_signature",
    "v1_string_to_sign",
]

TC3_ALGORITHM = "TC3-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
TC3_TERMINATOR = "tc3_request"

_AUTH_RE = re.compile(
    r"^TC3-HMAC-SHA256 Credential=([^/\s,]+)/(\d{4}-\d{2}-\d{2})/([^/\s,]+)/tc3_request,\s*"
    r"SignedHeaders=([a-z0-9;.\-_]+),\s*Signature=([0-9a-fA-F]{64})$"
)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tc3_date(timestamp: int) -> str:
    """The credential-scope date: the UTC date of the timestamp (never local time)."""
    return _utc_date(timestamp // 86400)


@lru_cache(maxsize=8)
def _utc_date(day: int) -> str:
    """``YYYY-MM-DD`` of a day number since the epoch (Unix time has no leap seconds, so a
    UTC day is exactly 86,400 s); a server sees one or two days at a time."""
    return datetime.fromtimestamp(day * 86400, UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True)
class TC3Authorization:
    secret_id: str
    date: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_tc3_authorization(value: str) -> TC3Authorization | None:
    """Parse an ``Authorization`` header value; ``None`` when it is not in the TC3 format."""
    m = _AUTH_RE.match(value.strip())
    if m is None:
        return None
    secret_id, date, service, signed, signature = m.groups()
    return TC3Authorization(secret_id, date, service, tuple(signed.split(";")), signature.lower())


def tc3_canonical_request(
    method: str,
    canonical_query: str,
    headers: Mapping[str, str],
    signed_headers: Iterable[str],
    payload_hash: str,
) -> str:
    """Build the canonical request.  ``headers`` maps lowercase names to raw received values."""
    names = list(signed_headers)
    canonical_headers = "".join(f"{n}:{headers.get(n, '').strip().lower()}\n" for n in names)
    return "\n".join(
        [method, "/", canonical_query, canonical_headers, ";".join(names), payload_hash]
    )


def tc3_string_to_sign(timestamp: int | str, date: str, service: str, canonical: str) -> str:
    scope = f"{date}/{service}/{TC3_TERMINATOR}"
    return f"{TC3_ALGORITHM}\n{timestamp}\n{scope}\n{sha256_hex(canonical.encode('utf-8'))}"


@lru_cache(maxsize=1024)
def tc3_signing_key(secret_key: str, date: str, service: str) -> bytes:
    """The derived key (three HMACs), the same for every request of a key on one UTC day:
    cached, so a server verifying many requests derives it once per key and day."""
    k_date = hmac.new(("TC3" + secret_key).encode("utf-8"), date.encode(), hashlib.sha256).digest()
    k_service = hmac.new(k_date, service.encode(), hashlib.sha256).digest()
    return hmac.new(k_service, TC3_TERMINATOR.encode(), hashlib.sha256).digest()


def tc3_signature(signing_key: bytes, string_to_sign: str) -> str:
    return hmac.new(signing_key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def tc3_sign_request(
    *,
    secret_id: str,
    secret_key: str,
    action: str,
    version: str,
    host: str,
    body: bytes = b"",
    method: str = "POST",
    query: str = "",
    content_type: str = "application/json",
    service: str = "tcss",
    timestamp: int | None = None,
    region: str | None = None,
    language: str | None = None,
    token: str | None = None,
) -> dict[str, str]:
    """Client side: the headers of a TC3-signed request (as the official SDK builds them)."""
    ts = int(datetime.now(UTC).timestamp()) if timestamp is None else timestamp
    date = tc3_date(ts)
    signed = ("content-type", "host")
    canonical = tc3_canonical_request(
        method,
        query if method == "GET" else "",
        {"content-type": content_type, "host": host},
        signed,
        sha256_hex(body),
    )
    signature = tc3_signature(
        tc3_signing_key(secret_key, date, service),
        tc3_string_to_sign(ts, date, service, canonical),
    )
    headers = {
        "Content-Type": content_type,
        "Host": host,
        "X-TC-Action": action,
        "X-TC-Version": version,
        "X-TC-Timestamp": str(ts),
        "Authorization": (
            f"{TC3_ALGORITHM} Credential={secret_id}/{date}/{service}/{TC3_TERMINATOR}, "
            f"SignedHeaders={';'.join(signed)}, Signature={signature}"
        ),
    }
    if region:
        headers["X-TC-Region"] = region
    if language:
        headers["X-TC-Language"] = language
    if token:
        headers["X-TC-Token"] = token
    return headers


def v1_string_to_sign(method: str, host: str, path: str, params: Mapping[str, str]) -> str:
    """``Method + Host + Path + "?" + sorted k=v`` with ``_`` in keys read as ``.``; values raw."""
    items = sorted((k.replace("_", "."), v) for k, v in params.items() if k != "Signature")
    return f"{method}{host}{path}?" + "&".join(f"{k}={v}" for k, v in items)


def v1_signature(secret_key: str, string_to_sign: str, method: str = "HmacSHA1") -> str:
    digest = hashlib.sha256 if method == "HmacSHA256" else hashlib.sha1
    mac = hmac.new(secret_key.encode("utf-8"), string_to_sign.encode("utf-8"), digest).digest()
    return base64.b64encode(mac).decode("ascii")
