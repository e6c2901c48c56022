"""Protocol fuzzing: whatever arrives, the answer is a valid envelope with a documented code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imagewarden.api.app import ApiApp, _Raw
from imagewarden.api.signing import tc3_sign_request
from imagewarden.server import build_app

DOCUMENTED = {
    "AuthFailure.InvalidAuthorization",
    "AuthFailure.SecretIdNotFound",
    "AuthFailure.SignatureExpire",
    "AuthFailure.SignatureFailure",
    "AuthFailure.TokenFailure",
    "InvalidAction",
    "NoSuchVersion",
    "MissingParameter",
    "InvalidParameter",
    "InvalidParameter.ParsingError",
    "InvalidParameterValue",
    "UnknownParameter",
    "RequestSizeLimitExceeded",
    "RequestLimitExceeded",
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
field_names = st.sampled_from(
    ["Limit", "Offset", "Filters", "By", "Order", "Name", "Values", "ExactMatch", "X"]
)
bodies = st.one_of(
    st.dictionaries(field_names, json_values, max_size=5).map(lambda d: json.dumps(d).encode()),
    st.fixed_dictionaries(
        {"Filters": st.lists(st.dictionaries(field_names, json_values, max_size=4), max_size=3)},
        optional={"Limit": json_values, "By": json_values, "Order": json_values},
    ).map(lambda d: json.dumps(d).encode()),
    st.binary(max_size=60),
    st.sampled_from(
        [b"", b"{", b"[]", b"null", b'{"Limit": NaN}', b'{"a":1,"a":2}', b"[" * 5000 + b"]" * 5000]
    ),
)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> tuple[ApiApp, str, str]:
    from imagewarden.server import open_runtime

    tmp: Path = tmp_path_factory.mktemp("fuzz")
    rt = open_runtime(f"sqlite:///{tmp / 'f.db'}", tmp / "k")
    sid, skey, _ = rt.service.create_key("fuzz")
    return build_app(rt, rate_limits=False), sid, skey


def check(payload: bytes) -> dict[str, Any]:
    env = msgspec.json.decode(payload)["Response"]
    assert isinstance(env["RequestId"], str) and env["RequestId"]
    if "Error" in env:
        assert env["Error"]["Code"] in DOCUMENTED, env
        assert "Traceback" not in env["Error"]["Message"]
    return env


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=bodies, action=st.sampled_from(["DescribeAssetImageList", "ReportHostAssets", "Nope", ""])
)
def test_signed_random_bodies(app: tuple[ApiApp, str, str], body: bytes, action: str) -> None:
    api, sid, skey = app
    headers = {
        k.lower(): v
        for k, v in tc3_sign_request(
            secret_id=sid, secret_key=skey, action=action, version="2020-11-01", host="h", body=body
        ).items()
    }
    check(api.handle(_Raw("POST", headers, "", body), "rid"))


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    headers=st.dictionaries(
        st.sampled_from(
            [
                "authorization",
                "x-tc-action",
                "x-tc-version",
                "x-tc-timestamp",
                "content-type",
                "host",
                "x-tc-token",
                "x-tc-language",
            ]
        ),
        st.text(max_size=80),
        max_size=8,
    ),
    query=st.text(max_size=80),
    method=st.sampled_from(["GET", "POST"]),
)
def test_garbled_headers_and_queries(
    app: tuple[ApiApp, str, str], headers: dict[str, str], query: str, method: str
) -> None:
    api, _, _ = app
    check(api.handle(_Raw(method, headers, query, b"{}"), "rid"))
