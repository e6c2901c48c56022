"""The action registry: an action is a request model, a response model and a handler.

Registering an ``Action`` by (name, version) is all it takes to expose it; decoding, auth,
rate limiting and the envelope happen once, in ``api.app``, around every handler.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec

from imagewarden.api.errors import Lang

__all__ = ["Action", "ActionRegistry", "RequestContext", "wire_names"]

Req = TypeVar("Req", bound=msgspec.Struct)
Resp = TypeVar("Resp", bound=msgspec.Struct)

API_VERSION = "2020-11-01"


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    account_id: int
    secret_id: str
    action: str
    version: str
    region: str | None
    language: Lang
    #: "http://host:port" as the caller reached us (for URLs handed back, e.g. downloads)
    base_url: str = ""


@dataclass(frozen=True)
class Action(Generic[Req, Resp]):
    name: str
    request: type[Req]
    response: type[Resp]
    handler: Callable[[Req, RequestContext], Resp]
    version: str = API_VERSION
    #: requests per second per account (TCSS documents 20/s for its image actions)
    rate_limit: int = 20


class ActionRegistry:
    def __init__(self, actions: Iterable[Action[Any, Any]]) -> None:
        self._by_name: dict[str, dict[str, Action[Any, Any]]] = {}
        for a in actions:
            versions = self._by_name.setdefault(a.name, {})
            if a.version in versions:
                raise ValueError(f"action {a.name} {a.version} registered twice")
            versions[a.version] = a

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def versions(self, name: str) -> dict[str, Action[Any, Any]] | None:
        return self._by_name.get(name)


_ACRONYMS = {"Id": "ID", "Ids": "Ids", "Ip": "IP", "Ips": "IPs", "Os": "Os", "Cve": "CVE"}


def wire_names(**overrides: str) -> Callable[[str], str]:
    """A msgspec ``rename`` callable: snake_case → the SDK's PascalCase.

    ``image_id`` → ``ImageID`` (a trailing ``_id`` is spelled ``ID`` as in the SDK); anything
    irregular is given explicitly in ``overrides``.
    """

    def rename(name: str) -> str:
        if name in overrides:
            return overrides[name]
        parts = [p.capitalize() for p in name.split("_")]
        if parts and parts[-1] == "Id":
            parts[-1] = "ID"
        return "".join(parts)

    return rename
