"""Secret rules as data: loading, validation and the rule-set fingerprint.

A rule file is TOML.  Each ``[[rule]]`` has an ``id``, a ``category`` (the kind of
credential: "AWS", "Tencent Cloud", "Private key", ...), a ``title``, a ``severity``, a
``regex`` with a named group ``secret`` (the part that is redacted; the whole match when
there is no such group), ``keywords`` (lower-case byte strings: the rule's regex runs only
on a file that contains one of them; an empty list means "always", which only path-scoped
rules may use), optional ``paths`` (globs the file must match), ``min_length`` (of the
secret) and an ``[rule.allow]`` table (``regexes`` on the secret, ``paths`` globs).
A top-level ``[allow]`` table holds allow rules for every rule (known test keys, paths).

Globs are matched against the root-relative path: ``*`` and ``?`` stay inside one path
component, ``**/`` spans any number of directories (also none), a trailing ``**`` any rest.

The built-in set ships as package data (``builtin.toml``); operators add files of the same
shape (``SecretRules.load(extra=[...])``): a rule with an existing ``id`` replaces it.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from imagewarden.scan.detect.base import Severity

__all__ = ["Allow", "PathGlobs", "Rule", "RuleError", "SecretRules", "glob_regex"]

#: bump when the matching code changes what a given rule set reports
ENGINE_VERSION = 1


class RuleError(ValueError):
    """A rule file that cannot be used (bad TOML, missing field, bad regex or glob)."""


def glob_regex(glob: str) -> str:
    """The regex (unanchored text, to be wrapped in ``^...$``) of a path glob."""
    out: list[str] = []
    i = 0
    g = glob.lstrip("/")
    while i < len(g):
        if g.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif g.startswith("**", i):
            out.append(".*")
            i += 2
        elif g[i] == "*":
            out.append("[^/]*")
            i += 1
        elif g[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(g[i]))
            i += 1
    return "".join(out)


_WILD = re.compile(r"\*\*/|\*\*|\*|\?")


class PathGlobs:
    """A set of path globs, matched the way ``glob_regex`` defines, mostly without a regex.

    Every file of an image is checked against the allow paths and the path-scoped rules'
    globs, and an alternation of anchored ``(?:.*/)?`` patterns costs Python's ``re`` a few
    microseconds per path.  The shapes rule files use are answered by set and string tests
    instead: a plain path (equality), ``**/NAME`` (the last component), ``**/*SUFFIX`` (the
    path's end), ``PREFIX/**`` (its start).  The other globs keep one regex together, tried
    only on paths that contain the longest literal part of one of them (every literal part
    of a glob is a substring of each path it matches): one search of those literals
    answers most paths.
    """

    def __init__(self, globs: Iterable[str]) -> None:
        exact: set[str] = set()
        names: set[str] = set()
        suffixes: set[str] = set()
        prefixes: set[str] = set()
        rest: list[str] = []
        for glob in globs:
            g = glob.lstrip("/")
            if not _WILD.search(g):
                exact.add(g)
            elif g.startswith("**/") and _plain_name(g[3:]):
                names.add(g[3:])
            elif g.startswith("**/*") and _plain_name(g[4:]):
                suffixes.add(g[4:])
            elif g.endswith("/**") and not _WILD.search(g[:-3]):
                prefixes.add(g[:-2])
            else:
                rest.append(g)
        self._exact = frozenset(exact)
        self._names = frozenset(names)
        self._suffixes = tuple(sorted(suffixes))
        self._prefixes = tuple(sorted(prefixes))
        literals = {max(_WILD.split(g), key=len) for g in rest}
        #: ``None``: no other glob; a glob with no literal part at all is always tried
        self._gate: re.Pattern[str] | None = None
        self._rest: re.Pattern[str] | None = None
        if rest:
            self._gate = re.compile("|".join(re.escape(lit) for lit in sorted(literals)))
            self._rest = re.compile("^(?:" + "|".join(glob_regex(g) for g in rest) + ")$")

    def match(self, path: str) -> bool:
        """Whether the root-relative ``path`` matches one of the globs."""
        if path in self._exact or path.rpartition("/")[2] in self._names:
            return True
        if self._suffixes and path.endswith(self._suffixes):
            return True
        if self._prefixes and path.startswith(self._prefixes):
            return True
        if self._rest is None or self._gate is None or self._gate.search(path) is None:
            return False
        return self._rest.match(path) is not None


def _plain_name(part: str) -> bool:
    """A path component with no wildcard (nor a ``/``)."""
    return "/" not in part and not _WILD.search(part)


def _path_globs(globs: Sequence[str]) -> PathGlobs | None:
    return PathGlobs(globs) if globs else None


@dataclass(frozen=True)
class Allow:
    """What not to report: secrets matching ``regexes``, files matching ``paths``."""

    regexes: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    _regex: re.Pattern[bytes] | None = field(default=None, compare=False, repr=False)
    _paths: PathGlobs | None = field(default=None, compare=False, repr=False)

    @classmethod
    def build(cls, regexes: Iterable[str] = (), paths: Iterable[str] = ()) -> Allow:
        rx, ps = tuple(regexes), tuple(paths)
        compiled = re.compile("|".join(f"(?:{r})" for r in rx).encode()) if rx else None
        return cls(rx, ps, compiled, _path_globs(ps))

    def allows_secret(self, secret: bytes) -> bool:
        return self._regex is not None and self._regex.search(secret) is not None

    def allows_path(self, path: str) -> bool:
        return self._paths is not None and self._paths.match(path)

    def merged(self, other: Allow) -> Allow:
        return Allow.build((*self.regexes, *other.regexes), (*self.paths, *other.paths))


@dataclass(frozen=True)
class Rule:
    id: str
    category: str
    title: str
    severity: Severity
    regex: str
    keywords: tuple[bytes, ...] = ()
    paths: tuple[str, ...] = ()
    min_length: int = 0
    allow: Allow = field(default_factory=Allow)
    compiled: re.Pattern[bytes] = field(default=re.compile(b"(?!)"), compare=False, repr=False)
    path_globs: PathGlobs | None = field(default=None, compare=False, repr=False)

    def applies_to(self, path: str) -> bool:
        return self.path_globs is None or self.path_globs.match(path)

    def as_doc(self) -> dict[str, Any]:
        """The rule as plain data (for the fingerprint)."""
        return {
            "id": self.id,
            "category": self.category,
            "title": self.title,
            "severity": self.severity.value,
            "regex": self.regex,
            "keywords": [k.decode() for k in self.keywords],
            "paths": list(self.paths),
            "min_length": self.min_length,
            "allow": {"regexes": list(self.allow.regexes), "paths": list(self.allow.paths)},
        }


def _str_list(doc: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RuleError(f"{where}: {key} must be a list of strings")
    return tuple(value)


def _allow(doc: Any, where: str) -> Allow:
    if doc is None:
        return Allow()
    if not isinstance(doc, dict):
        raise RuleError(f"{where}: allow must be a table")
    unknown = set(doc) - {"regexes", "paths"}
    if unknown:
        raise RuleError(f"{where}: unknown allow field(s) {', '.join(sorted(unknown))}")
    try:
        return Allow.build(_str_list(doc, "regexes", where), _str_list(doc, "paths", where))
    except re.error as exc:
        raise RuleError(f"{where}: bad allow regex: {exc}") from exc


_RULE_FIELDS = {"id", "category", "title", "severity", "regex", "keywords", "paths"}
_RULE_FIELDS |= {"min_length", "allow"}


def _rule(doc: Any, where: str) -> Rule:
    if not isinstance(doc, dict):
        raise RuleError(f"{where}: a rule must be a table")
    unknown = set(doc) - _RULE_FIELDS
    if unknown:
        raise RuleError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    for key in ("id", "category", "title", "severity", "regex"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            raise RuleError(f"{where}: {key} is required (a non-empty string)")
    where = f"{where} ({doc['id']})"
    try:
        severity = Severity(doc["severity"].upper())
    except ValueError:
        raise RuleError(f"{where}: unknown severity {doc['severity']!r}") from None
    keywords = tuple(k.lower().encode() for k in _str_list(doc, "keywords", where))
    paths = _str_list(doc, "paths", where)
    if not keywords and not paths:
        raise RuleError(f"{where}: a rule without keywords must be limited by paths")
    if any(not k for k in keywords):
        raise RuleError(f"{where}: empty keyword")
    min_length = doc.get("min_length", 0)
    if not isinstance(min_length, int) or min_length < 0:
        raise RuleError(f"{where}: min_length must be a non-negative integer")
    try:
        compiled = re.compile(doc["regex"].encode())
    except re.error as exc:
        raise RuleError(f"{where}: bad regex: {exc}") from exc
    return Rule(
        id=doc["id"],
        category=doc["category"],
        title=doc["title"],
        severity=severity,
        regex=doc["regex"],
        keywords=keywords,
        paths=paths,
        min_length=min_length,
        allow=_allow(doc.get("allow"), where),
        compiled=compiled,
        path_globs=_path_globs(paths),
    )


def parse_rules(text: str, where: str) -> tuple[list[Rule], Allow]:
    """The rules and the global allow table of one TOML document."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"{where}: {exc}") from exc
    unknown = set(doc) - {"rule", "allow"}
    if unknown:
        raise RuleError(f"{where}: unknown table(s) {', '.join(sorted(unknown))}")
    rules = doc.get("rule", [])
    if not isinstance(rules, list):
        raise RuleError(f"{where}: rule must be an array of tables ([[rule]])")
    return [_rule(r, f"{where}: rule {i + 1}") for i, r in enumerate(rules)], _allow(
        doc.get("allow"), f"{where}: allow"
    )


@dataclass(frozen=True)
class SecretRules:
    """An ordered rule set (earlier rules win where two matches overlap) + global allow."""

    rules: tuple[Rule, ...]
    allow: Allow = field(default_factory=Allow)

    @classmethod
    def load(cls, extra: Iterable[str | Path] = (), *, builtin: bool = True) -> SecretRules:
        """The built-in rules (unless ``builtin=False``) plus each of the ``extra`` files."""
        rules: dict[str, Rule] = {}
        allow = Allow()
        sources: list[tuple[str, str]] = []
        if builtin:
            text = resources.files(__package__).joinpath("builtin.toml").read_text("utf-8")
            sources.append((text, "builtin.toml"))
        for path in extra:
            try:
                sources.append((Path(path).read_text("utf-8"), str(path)))
            except (OSError, UnicodeDecodeError) as exc:
                raise RuleError(f"{path}: cannot read: {exc}") from exc
        for text, where in sources:
            parsed, more = parse_rules(text, where)
            for r in parsed:
                rules.pop(r.id, None)  # a replaced rule takes the new one's place in the order
                rules[r.id] = r
            allow = allow.merged(more)
        return cls(tuple(rules.values()), allow)

    def fingerprint(self) -> str:
        """sha256 over the engine version and the whole rule set (part of layer-cache keys)."""
        doc = {
            "engine": ENGINE_VERSION,
            "rules": [r.as_doc() for r in self.rules],
            "allow": {"regexes": list(self.allow.regexes), "paths": list(self.allow.paths)},
        }
        blob = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()
