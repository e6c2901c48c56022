"""Registry authentication: credentials, docker ``config.json`` lookup, challenges, tokens.

Three schemes, chosen by what the registry asks for in ``WWW-Authenticate``:

- none: the registry answers without a challenge;
- ``Basic``: the credentials are sent with every request once the registry asked once;
- ``Bearer``: the client asks the token server named by ``realm`` for a token carrying
  ``service`` and ``scope`` (with the credentials as HTTP basic, when there are any), then
  repeats the request with ``Authorization: Bearer <token>``.  Tokens are kept per
  (realm, service, scope) until they expire and sent up front to later requests.

Nothing here reads the environment: the path of a ``config.json`` is given by the caller.
"""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from imagewarden.scan.errors import SourceError

#: a token server answer larger than this is refused
MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024
#: the token lifetime the spec assumes when ``expires_in`` is missing (and the minimum)
DEFAULT_TOKEN_SECONDS = 60
#: a token is renewed this long before it expires
_EXPIRY_MARGIN = 5.0

_DOCKER_HUB_KEYS = ("docker.io", "index.docker.io", "registry-1.docker.io")
_PARAM = re.compile(r'([A-Za-z0-9_.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)')


@dataclass(frozen=True)
class Credentials:
    """A user name and password (or a registry access token used as one)."""

    username: str
    password: str = field(repr=False)

    def basic_header(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True)
class Challenge:
    """One ``WWW-Authenticate`` challenge: a scheme and its parameters (names lower-cased)."""

    scheme: str
    params: dict[str, str]


def parse_challenges(values: list[str]) -> list[Challenge]:
    """Parse ``WWW-Authenticate`` header values into challenges.

    Each value is ``Scheme k=v, k="v, with commas"`` and may hold several challenges; a new
    challenge starts at a bare token that is not followed by ``=``.
    """
    found: list[Challenge] = []
    for value in values:
        pos = 0
        current: Challenge | None = None
        while pos < len(value):
            while pos < len(value) and value[pos] in " ,\t":
                pos += 1
            if pos >= len(value):
                break
            match = _PARAM.match(value, pos)
            if match and current is not None:
                raw = match.group(2)
                if raw.startswith('"'):
                    raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
                current.params[match.group(1).lower()] = raw
                pos = match.end()
                continue
            end = pos
            while end < len(value) and value[end] not in " ,\t":
                end += 1
            current = Challenge(value[pos:end].lower(), {})
            found.append(current)
            pos = end
    return found


def _auth_key_host(key: str) -> str:
    """``https://index.docker.io/v1/`` → ``index.docker.io``; ``host/ns/repo`` is kept."""
    for prefix in ("https://", "http://"):
        if key.startswith(prefix):
            key = key[len(prefix) :]
            break
    key = key.rstrip("/")
    for suffix in ("/v1", "/v2"):
        if key.endswith(suffix):
            key = key[: -len(suffix)]
    return key


def credentials_from_config(path: str | Path, registry: str, repository: str) -> Credentials | None:
    """Find credentials for ``registry``/``repository`` in a docker ``config.json``.

    ``path`` is a ``config.json`` / containers ``auth.json`` file, or a directory holding
    ``config.json`` (what ``DOCKER_CONFIG`` names).  Keys may be bare hosts, URLs
    (``https://index.docker.io/v1/``) or ``host/namespace/repo`` (the most specific wins).
    Credential helpers (``credsStore``, ``credHelpers``) are not run.  A missing file means
    no credentials; an unreadable or malformed one is a ``SourceError``.
    """
    file = Path(path)
    if file.is_dir():
        file = file / "config.json"
    if not file.exists():
        return None
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SourceError(f"registry auth file {file}: cannot read: {exc}") from exc
    auths = data.get("auths") if isinstance(data, dict) else None
    if not isinstance(auths, dict):
        return None
    entries = {_auth_key_host(str(k)): v for k, v in auths.items() if isinstance(v, dict)}
    hosts = _DOCKER_HUB_KEYS if registry in _DOCKER_HUB_KEYS else (registry,)
    parts = repository.split("/")
    for host in hosts:
        for n in range(len(parts), -1, -1):
            key = "/".join([host, *parts[:n]])
            if key in entries:
                return _entry_credentials(entries[key], file, key)
    return None


def _entry_credentials(entry: dict[str, object], file: Path, key: str) -> Credentials | None:
    user, password = entry.get("username"), entry.get("password")
    if isinstance(user, str) and isinstance(password, str) and user:
        return Credentials(user, password)
    encoded = entry.get("auth")
    if not isinstance(encoded, str) or not encoded:
        return None
    try:
        user_s, sep, password_s = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceError(f"registry auth file {file}: entry {key!r}: bad 'auth' value") from exc
    if not sep or not user_s:
        raise SourceError(f"registry auth file {file}: entry {key!r}: 'auth' is not user:password")
    return Credentials(user_s, password_s)


@dataclass
class _Token:
    value: str
    expires: float  # time.monotonic()


class Authenticator:
    """Holds the credentials and tokens of one client and answers challenges.

    ``authorization()`` gives the header to send up front (``None``: send nothing);
    ``answer(response, scope)`` reacts to a 401 and returns the header to retry with, or
    ``None`` when there is nothing new to try.
    """

    def __init__(
        self,
        client: httpx.Client,
        credentials: Credentials | None,
        *,
        default_scope: str,
        max_token_bytes: int = MAX_TOKEN_RESPONSE_BYTES,
    ) -> None:
        self._client = client
        self._credentials = credentials
        self._default_scope = default_scope
        self._max_token_bytes = max_token_bytes
        self._basic = False  # the registry asked for Basic once: keep sending it
        self._bearer: tuple[str, str] | None = None  # (realm, service) of the last challenge
        self._tokens: dict[tuple[str, str, str], _Token] = {}
        #: token server round trips made (tests and diagnostics)
        self.token_requests = 0

    def authorization(self, scope: str | None = None) -> str | None:
        if self._bearer is not None:
            token = self._tokens.get((*self._bearer, scope or self._default_scope))
            if token is not None and token.expires > time.monotonic():
                return "Bearer " + token.value
            return None
        if self._basic and self._credentials is not None:
            return self._credentials.basic_header()
        return None

    def answer(self, response: httpx.Response, scope: str | None = None) -> str | None:
        challenges = parse_challenges(response.headers.get_list("www-authenticate"))
        sent = response.request.headers.get("authorization")
        for challenge in challenges:
            if challenge.scheme == "bearer" and "realm" in challenge.params:
                return self._bearer_answer(challenge, scope, sent)
        for challenge in challenges:
            if challenge.scheme == "basic" and self._credentials is not None:
                header = self._credentials.basic_header()
                if sent == header:
                    return None  # the registry refused these credentials
                self._basic = True
                return header
        return None

    def _bearer_answer(
        self, challenge: Challenge, scope: str | None, sent: str | None
    ) -> str | None:
        realm = challenge.params["realm"]
        service = challenge.params.get("service", "")
        wanted = challenge.params.get("scope") or scope or self._default_scope
        self._bearer = (realm, service)
        key = (realm, service, wanted)
        cached = self._tokens.get(key)
        if cached is not None and cached.expires > time.monotonic():
            header = "Bearer " + cached.value
            if header != sent:
                return header
        fresh = self._fetch_token(realm, service, wanted)
        header = "Bearer " + fresh.value
        if header == sent:
            return None  # the token server keeps handing out a token the registry refuses
        self._tokens[key] = fresh
        if scope is None or wanted == scope:
            self._tokens[(realm, service, scope or self._default_scope)] = fresh
        return header

    def _fetch_token(self, realm: str, service: str, scope: str) -> _Token:
        url = httpx.URL(realm)
        if url.scheme not in ("http", "https"):
            raise SourceError(f"registry token realm {realm!r} is not an http(s) URL")
        params: list[tuple[str, str]] = []
        if service:
            params.append(("service", service))
        params.extend(("scope", s) for s in scope.split(" ") if s)
        headers = {"Accept": "application/json"}
        if self._credentials is not None:
            params.append(("account", self._credentials.username))
            headers["Authorization"] = self._credentials.basic_header()
        self.token_requests += 1
        try:
            with self._client.stream(
                "GET", url.copy_merge_params(tuple(params)), headers=headers, follow_redirects=True
            ) as response:
                body = read_bounded(response, self._max_token_bytes, f"token server {realm}")
        except httpx.HTTPError as exc:
            raise SourceError(f"token server {realm}: {exc}") from exc
        if response.status_code != 200:
            raise SourceError(
                f"token server {realm}: HTTP {response.status_code} for scope {scope!r}"
            )
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise SourceError(f"token server {realm}: answer is not JSON") from exc
        value = data.get("token") or data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(value, str) or not value:
            raise SourceError(f"token server {realm}: answer has no token")
        lifetime = data.get("expires_in")
        seconds = lifetime if isinstance(lifetime, int) and lifetime > 0 else DEFAULT_TOKEN_SECONDS
        seconds = max(seconds, DEFAULT_TOKEN_SECONDS)
        return _Token(value, time.monotonic() + seconds - _EXPIRY_MARGIN)


def read_bounded(response: httpx.Response, limit: int, what: str) -> bytes:
    """Read a streamed body, refusing it as soon as it exceeds ``limit`` bytes."""
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise SourceError(f"{what}: response of {declared} bytes exceeds the {limit}-byte limit")
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_bytes():
        total += len(chunk)
        if total > limit:
            raise SourceError(f"{what}: response exceeds the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)
