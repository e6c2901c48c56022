"""Official-SDK clients pointed at a test server, paced under the 20/s per-action limit."""

from __future__ import annotations

import json
import time
from typing import Any

from tencentcloud.common import credential
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.tcss.v20201101 import models, tcss_client

REGION = "ap-guangzhou"


class Pacer:
    """Keeps a test's calls under the server's per-account rate limit (20/s)."""

    def __init__(self, per_second: float = 15.0) -> None:
        self.gap = 1.0 / per_second
        self.last = 0.0

    def wait(self) -> None:
        delay = self.last + self.gap - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self.last = time.monotonic()


def profile(
    endpoint: str,
    *,
    method: str = "POST",
    sign: str | None = None,
    language: str = "en-US",
    unsigned: bool = False,
) -> ClientProfile:
    http = HttpProfile(endpoint=endpoint, protocol="http", reqMethod=method)
    prof = ClientProfile(signMethod=sign, httpProfile=http, language=language)
    if unsigned:
        prof.unsignedPayload = True
    return prof


def tcss(endpoint: str, sid: str, skey: str, **kw: Any) -> tcss_client.TcssClient:
    return tcss_client.TcssClient(credential.Credential(sid, skey), REGION, profile(endpoint, **kw))


def common(
    endpoint: str, sid: str, skey: str, version: str = "2020-11-01", **kw: Any
) -> CommonClient:
    return CommonClient(
        "tcss", version, credential.Credential(sid, skey), REGION, profile(endpoint, **kw)
    )


def list_images(
    client: tcss_client.TcssClient, pacer: Pacer | None = None, **params: Any
) -> models.DescribeAssetImageListResponse:
    if pacer:
        pacer.wait()
    req = models.DescribeAssetImageListRequest()
    req.from_json_string(json.dumps(params))
    return client.DescribeAssetImageList(req)


def report(
    client: CommonClient,
    host: dict[str, Any],
    images: list[dict[str, Any]],
    containers: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    out = client.call_json(
        "ReportHostAssets", {"Host": host, "Images": images, "Containers": containers or []}
    )
    return out["Response"]
