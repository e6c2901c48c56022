"""Decoding request parameters into typed request models.

Two shapes reach us: a JSON object (POST + TC3) and a flat form (GET, or POST + v1) where
nested values are spelled ``Filters.0.Values.1=x`` with 0-based indexes and every value is a
string.  Both end as the same msgspec Struct, and every decoding failure becomes a Tencent
parameter error naming the offending parameter in the flattened spelling.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
from msgspec import inspect as mi

from imagewarden.api.errors import ApiError

__all__ = ["COMMON_V1_PARAMS", "decode_form", "decode_json", "unflatten"]

T = TypeVar("T")

#: common parameters carried next to business parameters in v1/GET requests; never "unknown"
COMMON_V1_PARAMS = frozenset(
    {
        "Action",
        "Version",
        "Region",
        "Timestamp",
        "Nonce",
        "SecretId",
        "Signature",
        "SignatureMethod",
        "Token",
        "Language",
        "RequestClient",
    }
)

#: no request model nests deeper than this; deeper flattened names are rejected up front
MAX_DEPTH = 12

_PATH_RE = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_FIELD_RE = re.compile(r"field `(?P<name>[^`]+)`")
_VALUE_CONSTRAINT_RE = re.compile(
    r"^Expected `\w+` (of length )?(>=|<=|<|>|matching)|Invalid enum value"
)


def _dotted(path: str) -> str:
    """``.Filters[0].Values`` → ``Filters.0.Values``."""
    return re.sub(r"\[(\d+)\]", r".\1", path).lstrip(".")


def _translate(err: msgspec.ValidationError) -> ApiError:
    text = str(err)
    m = _PATH_RE.search(text)
    path = _dotted(m.group("path")) if m else ""
    head = text[: m.start()] if m else text
    fm = _FIELD_RE.search(head)
    if head.startswith("Object contains unknown field") and fm:
        return ApiError.unknown_parameter(".".join(p for p in (path, fm.group("name")) if p))
    if head.startswith("Object missing required field") and fm:
        return ApiError.missing_parameter(".".join(p for p in (path, fm.group("name")) if p))
    if _VALUE_CONSTRAINT_RE.search(head):
        return ApiError.invalid_value(path or "(request)", head)
    return ApiError.invalid_parameter(path or "(request)", head)


def decode_json(body: bytes, model: type[T]) -> T:
    """Decode a JSON body.  Empty body = ``{}``; anything but an object is a parsing error."""
    if not body.strip():
        data: Any = {}
    else:
        try:
            data = msgspec.json.decode(body)
        except msgspec.DecodeError as exc:
            raise ApiError.parsing_error(str(exc)) from None
        except RecursionError:
            raise ApiError.parsing_error("the JSON is nested too deeply") from None
    if not isinstance(data, dict):
        raise ApiError.parsing_error("the body must be a JSON object")
    try:
        return msgspec.convert(data, model, strict=True)
    except msgspec.ValidationError as exc:
        raise _translate(exc) from None


def unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Turn ``[("Filters.0.Name", "x"), ...]`` into nested dicts and lists.

    Indexes must be contiguous from 0; a key used both as a value and as a container, or a
    repeated key, is an ``InvalidParameter``.
    """
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.split(".")
        if len(parts) > MAX_DEPTH:
            raise ApiError.invalid_parameter(key[:64], f"nested more than {MAX_DEPTH} levels")
        if any(p == "" for p in parts):
            raise ApiError.invalid_parameter(key, "malformed parameter name")
        node: dict[str, Any] = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if last:
                if part in node:
                    raise ApiError.invalid_parameter(key, "the parameter is given more than once")
                node[part] = value
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise ApiError.invalid_parameter(
                        key, "a value and a nested parameter share a name"
                    )
                node = child
    out: dict[str, Any] = _listify(root, "")
    return out


def _listify(node: dict[str, Any], prefix: str) -> Any:
    out: dict[str, Any] = {}
    for k, v in node.items():
        name = f"{prefix}.{k}" if prefix else k
        out[k] = _listify(v, name) if isinstance(v, dict) else v
    if out and all(k.isdigit() for k in out):
        indexes = sorted(int(k) for k in out)
        if indexes != list(range(len(indexes))) or any(
            k != str(int(k)) for k in out
        ):  # "01" is not an index
            raise ApiError.invalid_parameter(
                prefix or "(request)", "list indexes must be 0, 1, 2, ..."
            )
        return [out[str(i)] for i in indexes]
    return out


def _coerce(value: Any, t: mi.Type) -> Any:
    """Turn form strings into the scalar types the model expects; leave the rest to msgspec."""
    if isinstance(t, mi.Metadata):
        t = t.type
    if isinstance(t, mi.UnionType):
        for member in t.types:
            if not isinstance(member, mi.NoneType):
                return _coerce(value, member)
        return value
    if isinstance(value, str):
        if isinstance(t, mi.BoolType):
            low = value.strip().lower()
            if low in ("true", "1"):
                return True
            if low in ("false", "0"):
                return False
            return value
        if isinstance(t, mi.IntType):
            s = value.strip()
            return int(s) if re.fullmatch(r"[-+]?\d{1,19}", s) else value
        if isinstance(t, mi.FloatType):
            try:
                return float(value)
            except ValueError:
                return value
        if isinstance(t, mi.ListType | mi.StructType):
            return value  # a scalar where a container belongs: msgspec reports the type error
        return value
    if isinstance(value, list) and isinstance(t, mi.ListType):
        return [_coerce(v, t.item_type) for v in value]
    if isinstance(value, dict) and isinstance(t, mi.StructType):
        fields = {f.encode_name: f.type for f in t.fields}
        return {k: (_coerce(v, fields[k]) if k in fields else v) for k, v in value.items()}
    return value


def decode_form(pairs: list[tuple[str, str]], model: type[T]) -> T:
    """Decode GET / v1 form parameters (common parameters already removed)."""
    data = unflatten(pairs)
    data = _coerce(data, mi.type_info(model))
    try:
        return msgspec.convert(data, model, strict=True)
    except msgspec.ValidationError as exc:
        raise _translate(exc) from None
