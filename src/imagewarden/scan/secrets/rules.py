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

__all__ = ["Allow", "Rule", "RuleError", "SecretRules", "glob_regex"]

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


def _paths_regex(globs: Sequence[str]) -> re.Pattern[str] | None:
    if not globs:
        return None
    return re.compile("^(?:" + "|".join(glob_regex(g) for g in globs) + ")$")


@dataclass(frozen=True)
class Allow:
    """What not to report: secrets matching ``regexes``, files matching ``paths``."""

    regexes: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    _regex: re.Pattern[bytes] | None = field(default=None, compare=False, repr=False)
    _paths: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def build(cls, regexes: Iterable[str] = (), paths: Iterable[str] = ()) -> Allow:
        rx, ps = tuple(regexes), tuple(paths)
        compiled = re.compile("|".join(f"(?:{r})" for r in rx).encode()) if rx else None
        return cls(rx, ps, compiled, _paths_regex(ps))

    def allows_secret(self, secret: bytes) -> bool:
        return self._regex is not None and self._regex.search(secret) is not None

    def allows_path(self, path: str) -> bool:
        return self._paths is not None and self._paths.match(path) is not None

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
    path_regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def applies_to(self, path: str) -> bool:
        return self.path_regex is None or self.path_regex.match(path) is not None

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
        path_regex=_paths_regex(paths),
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
