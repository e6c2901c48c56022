"""Flattened (GET / v1) parameter decoding and error translation."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagewarden.api.actions.images import DescribeAssetImageListRequest
from imagewarden.api.errors import ApiError
from imagewarden.api.params import decode_form, decode_json, unflatten


def flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """The SDK's flattening rule (0-based indexes, empty lists dropped, bools as True/False)."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in flatten(v, f"{prefix}.{k}" if prefix else k)]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in flatten(v, f"{prefix}.{i}")]
    return [(prefix, str(value))]


def code(fn) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(ApiError) as info:
        fn()
    return info.value.code


filters = st.lists(
    st.fixed_dictionaries(
        {
            "Name": st.sampled_from(["ImageName", "ImageID", "ScanStatus"]),
            "Values": st.lists(st.text(min_size=1), min_size=1, max_size=3),
        },
        optional={"ExactMatch": st.booleans()},
    ),
    min_size=1,
    max_size=3,
)
requests = st.fixed_dictionaries(
    {},
    optional={
        "Limit": st.integers(1, 100),
        "Offset": st.integers(0, 10**6),
        "Filters": filters,
        "By": st.sampled_from(["CreateTime", "ImageName", "HostCnt"]),
        "Order": st.sampled_from(["asc", "DESC"]),
    },
)


@given(requests)
def test_form_and_json_decode_to_the_same_request(req: dict[str, Any]) -> None:
    from_json = decode_json(msgspec.json.encode(req), DescribeAssetImageListRequest)
    # through a real query string, as the SDK sends it
    pairs = parse_qsl(urlencode(flatten(req)), keep_blank_values=True)
    assert decode_form(pairs, DescribeAssetImageListRequest) == from_json


def test_booleans_in_any_case() -> None:
    for spelled, value in (("True", True), ("true", True), ("FALSE", False), ("0", False)):
        r = decode_form(
            [
                ("Filters.0.Name", "ImageName"),
                ("Filters.0.Values.0", "x"),
                ("Filters.0.ExactMatch", spelled),
            ],
            DescribeAssetImageListRequest,
        )
        assert r.filters is not None and r.filters[0].exact_match is value


def test_unflatten_rejects_gaps_and_conflicts() -> None:
    assert unflatten([("A.0", "x"), ("A.1", "y")]) == {"A": ["x", "y"]}
    for bad in (
        [("A.1", "x")],
        [("A", "x"), ("A.0", "y")],
        [("A", "x"), ("A", "y")],
        [("A..B", "x")],
        [("A.01", "x")],
    ):
        assert code(lambda bad=bad: unflatten(bad)) == "InvalidParameter"


def test_error_translation() -> None:
    M = DescribeAssetImageListRequest
    assert code(lambda: decode_form([("Limit", "ten")], M)) == "InvalidParameter"
    assert code(lambda: decode_form([("Limit", "0")], M)) == "InvalidParameterValue"
    assert code(lambda: decode_form([("Colour", "red")], M)) == "UnknownParameter"
    assert code(lambda: decode_form([("Filters.0.Values.0", "x")], M)) == "MissingParameter"
    assert code(lambda: decode_json(b"{", M)) == "InvalidParameter.ParsingError"
    assert code(lambda: decode_json(b"[]", M)) == "InvalidParameter.ParsingError"
    assert code(lambda: decode_json(b'{"Limit": NaN}', M)) == "InvalidParameter.ParsingError"
    assert code(lambda: decode_json(b'{"Limit": null}', M)) == "InvalidParameter"
    assert code(lambda: decode_json(b'{"Limit": 1.5}', M)) == "InvalidParameter"
    assert code(lambda: decode_json(b'{"Limit": true}', M)) == "InvalidParameter"
    assert (
        code(lambda: decode_json(b'{"Filters": [{"Name": "x", "Values": ["a"], "Extra": 1}]}', M))
        == "UnknownParameter"
    )
    with pytest.raises(ApiError) as info:
        decode_json(b'{"Filters": [{"Name": "x", "Values": [1]}]}', M)
    assert info.value.code == "InvalidParameter" and "Filters.0.Values.0" in info.value.en
    assert decode_json(b"", M) == M()


def test_deep_nesting_is_refused_not_crashed() -> None:
    assert code(lambda: unflatten([("A." * 5000 + "B", "x")])) == "InvalidParameter"
    assert (
        code(lambda: decode_json(b"[" * 100_000 + b"]" * 100_000, DescribeAssetImageListRequest))
        == "InvalidParameter.ParsingError"
    )
