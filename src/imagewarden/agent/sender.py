"""Delivering a snapshot: one TC3-signed ``ReportHostAssets`` POST (``api.signing`` signs it).

``send`` returns the ``Response`` object or raises ``SendError``; ``retryable`` says whether
trying the same snapshot again later can help (the server is unreachable, overloaded or
failed internally) or not (bad key, invalid snapshot).
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from imagewarden.api.signing import tc3_sign_request

__all__ = ["ACTION", "SERVICE", "VERSION", "SendError", "Sender"]

ACTION = "ReportHostAssets"
VERSION = "2020-11-01"
SERVICE = "tcss"
_RETRYABLE_CODES = (
    "InternalError",
    "RequestLimitExceeded",
    "ServiceUnavailable",
    "ResourceUnavailable",
    "AuthFailure.SignatureExpire",  # a clock that was off may be corrected meanwhile
)


class SendError(Exception):
    def __init__(self, message: str, *, retryable: bool, code: str = "") -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code


class Sender:
    def __init__(
        self,
        server: str,
        secret_id: str,
        secret_key: str,
        *,
        timeout: float = 30.0,
        region: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        url = httpx.URL(server if "://" in server else f"http://{server}")
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"{server}: the server must be http://HOST[:PORT] or https://...")
        self.url = url if url.path else url.copy_with(path="/")
        self.host = url.netloc.decode("ascii")
        self.secret_id = secret_id
        self.secret_key = secret_key
        self.region = region
        self._client = httpx.Client(timeout=timeout, transport=transport)

    def close(self) -> None:
        self._client.close()

    def send(self, payload: dict[str, Any], action: str = ACTION) -> dict[str, Any]:
        """One signed call of ``action`` (``ReportHostAssets``, ``ReportImageScanResults``)."""
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        headers = tc3_sign_request(
            secret_id=self.secret_id,
            secret_key=self.secret_key,
            action=action,
            version=VERSION,
            host=self.host,
            body=body,
            service=SERVICE,
            region=self.region,
        )
        try:
            resp = self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise SendError(f"{self.url}: {exc}", retryable=True) from exc
        if resp.status_code != 200:
            raise SendError(
                f"{self.url}: HTTP {resp.status_code}",
                retryable=resp.status_code >= 500 or resp.status_code == 429,
            )
        try:
            doc = resp.json()
            out = doc["Response"]
            if not isinstance(out, dict):
                raise TypeError("Response is not an object")
        except (ValueError, KeyError, TypeError) as exc:
            raise SendError(f"{self.url}: not a TC API response: {exc}", retryable=True) from exc
        err = out.get("Error")
        if isinstance(err, dict):
            code = str(err.get("Code", ""))
            retry = any(code == c or code.startswith(c + ".") for c in _RETRYABLE_CODES)
            raise SendError(
                f"{code}: {err.get('Message', '')} (RequestId {out.get('RequestId', '')})",
                retryable=retry,
                code=code,
            )
        return out
