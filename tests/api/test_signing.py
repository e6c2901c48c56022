"""The signing vectors of the wire reference (docs + SDK), reproduced."""

from __future__ import annotations

import base64
import hashlib
import hmac

from tencentcloud.common.sign import Sign

from imagewarden.api.signing import (
    parse_tc3_authorization,
    sha256_hex,
    tc3_canonical_request,
    tc3_sign_request,
    tc3_signature,
    tc3_signing_key,
    tc3_string_to_sign,
    v1_signature,
    v1_string_to_sign,
)

SID = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"
SKEY = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"
TS = 1551113065


def test_official_cvm_vector() -> None:
    body = (
        b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
    )
    assert sha256_hex(body) == "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    canonical = tc3_canonical_request(
        "POST",
        "",
        {"content-type": "application/json; charset=utf-8", "host": "cvm.tencentcloudapi.com"},
        ["content-type", "host"],
        sha256_hex(body),
    )
    assert (
        sha256_hex(canonical.encode())
        == "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
    )
    sts = tc3_string_to_sign(TS, "2019-02-25", "cvm", canonical)
    sig = tc3_signature(tc3_signing_key(SKEY, "2019-02-25", "cvm"), sts)
    assert sig == "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
    assert sig == Sign.sign_tc3(SKEY, "2019-02-25", "cvm", sts)  # agrees with the SDK


def test_tcss_vector_post_and_get() -> None:
    body = b'{"Limit": 10, "Offset": 0, "Filters": [{"Name": "ImageName", "Values": ["nginx"], "ExactMatch": false}]}'
    assert sha256_hex(body) == "d423f8c30cc400c93494567b97512a5a4295600b13d0342ab7c3a5833d13dc5f"
    key = tc3_signing_key(SKEY, "2019-02-25", "tcss")
    assert key.hex() == "c5e7abf5fa86bab6790c1af3bd9990f1b1dee173195dbcd3ab1e1cf59590dd47"
    h = tc3_sign_request(
        secret_id=SID,
        secret_key=SKEY,
        action="DescribeAssetImageList",
        version="2020-11-01",
        host="tcss.tencentcloudapi.com",
        body=body,
        timestamp=TS,
    )
    assert h["Authorization"] == (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/tcss/tc3_request, "
        "SignedHeaders=content-type;host, Signature=9fc6cbb966f8075c7bc3387f51431698c551180226bb8596a8e5ac941a538515"
    )
    q = "Limit=10&Offset=0&Filters.0.Name=ImageName&Filters.0.Values.0=nginx&Filters.0.ExactMatch=False"
    h = tc3_sign_request(
        secret_id=SID,
        secret_key=SKEY,
        action="DescribeAssetImageList",
        version="2020-11-01",
        host="tcss.tencentcloudapi.com",
        method="GET",
        query=q,
        content_type="application/x-www-form-urlencoded",
        timestamp=TS,
    )
    assert h["Authorization"].endswith(
        "Signature=1534d4b7a784cd14fc62a61664b19753a161425e0cd6f98f40e01ab53e8b25c5"
    )
    parsed = parse_tc3_authorization(h["Authorization"])
    assert parsed is not None and parsed.secret_id == SID and parsed.service == "tcss"
    assert parsed.signed_headers == ("content-type", "host")


def test_v1_vectors() -> None:
    params = {
        "Action": "DescribeAssetImageList",
        "Language": "zh-CN",
        "Limit": "10",
        "Nonce": "11886",
        "Offset": "0",
        "Region": "ap-guangzhou",
        "RequestClient": "SDK_PYTHON_3.1.161",
        "SecretId": SID,
        "SignatureMethod": "HmacSHA256",
        "Timestamp": str(TS),
        "Version": "2020-11-01",
        "Signature": "ignored",
    }
    src = v1_string_to_sign("POST", "tcss.tencentcloudapi.com", "/", params)
    assert src.startswith(
        "POSTtcss.tencentcloudapi.com/?Action=DescribeAssetImageList&Language=zh-CN&Limit=10"
    )
    assert v1_signature(SKEY, src, "HmacSHA256") == "UoJiiRNElCubpBw/HiLTj2JNHMVKZDxktpISzA/UtW8="
    old_key = "Gu5t9xGARNpq86cd98joQYCN3Cozk1qA"
    old = {
        "Action": "DescribeInstances",
        "InstanceIds.0": "ins-09dx96dg",
        "Nonce": "11886",
        "Region": "ap-guangzhou",
        "SecretId": "AKIDz8krbsJ5yKBZQpn74WFkmLPx3gnPhESA",
        "SignatureMethod": "HmacSHA256",
        "Timestamp": "1465185768",
    }
    src = v1_string_to_sign("GET", "cvm.api.qcloud.com", "/v2/index.php", old)
    assert (
        v1_signature(old_key, src, "HmacSHA256") == "0EEm/HtGRr/VJXTAD9tYMth1Bzm3lLHz5RCDv1GdM8s="
    )
    assert (
        v1_signature(old_key, src.replace("HmacSHA256", "HmacSHA1"), "HmacSHA1")
        == "nPVnY6njQmwQ8ciqbPl5Qe+Oru4="
    )
    # and the generic definition: base64(HMAC(key, src))
    mac = hmac.new(old_key.encode(), src.encode(), hashlib.sha256).digest()
    assert v1_signature(old_key, src, "HmacSHA256") == base64.b64encode(mac).decode()


def test_malformed_authorization_is_not_parsed() -> None:
    for bad in (
        "",
        "TC3-HMAC-SHA256",
        "Basic abc",
        "TC3-HMAC-SHA256 Credential=a/2019-02-25/tcss/tc3_request, SignedHeaders=host, Signature=zz",
    ):
        assert parse_tc3_authorization(bad) is None
