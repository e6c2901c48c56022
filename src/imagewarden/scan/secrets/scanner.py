"""The secret scanner: rules over file bytes, keyword prefilter first, redacted results.

Per file: skip it unless ``wants`` (size, extension, allowed paths); skip binaries (a NUL
byte in the first 8 KiB); find which keywords of the rules that apply to the path occur,
ignoring case, in one multi-keyword pass (``KeywordSearch``: Hyperscan, exact about which
keywords are present); only a rule with a keyword present (or a path-scoped rule without
keywords) runs its regex.  Clean files — nearly all of a root filesystem — therefore cost
one keyword pass, never a regex pass.

Where matches of two rules overlap only the earlier rule's is kept.  A result holds the
rule, the 1-based line and an excerpt of that line with *every* match on it replaced by
``********``: the secret never leaves this module, not even its length.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import ClassVar

import hyperscan

from imagewarden.scan.analyzer.base import FileInfo, LayerFile
from imagewarden.scan.detect.base import FileFinding, FindingCategory
from imagewarden.scan.secrets.rules import PathGlobs, Rule, SecretRules

__all__ = ["MASK", "SecretMatch", "SecretScanner"]

MASK = "********"
_MIB = 1024 * 1024
#: extensions of files that are binary, compressed or media: never text with a credential
SKIP_SUFFIXES = frozenset(
    """
    .a .o .so .ko .dll .exe .dylib .pyc .pyo .class .jar .war .ear .whl .egg .zip .gz .tgz
    .bz2 .xz .lz .lzma .zst .7z .rar .deb .udeb .rpm .png .jpg .jpeg .gif .ico .bmp .webp
    .tif .tiff .svgz .woff .woff2 .ttf .otf .eot .pfb .pdf .mo .gmo .mp3 .mp4 .wav .ogg
    .flac .avi .mov .db .sqlite .sqlite3 .pack .idx .bin .dat .cache .gpg .kbx .sig .pyd
    .wasm .node .mmdb
    """.split()
)
_EXCERPT = 120  # characters of context at most
_BINARY_SNIFF = 8192


@dataclass(frozen=True, order=True)
class SecretMatch:
    """One accepted match: the rule, its line and a redacted excerpt (never the secret)."""

    line: int
    rule_id: str
    excerpt: str


def _sanitize(text: str) -> str:
    return "".join(ch if ch.isprintable() else " " for ch in text).strip()


class SecretScanner:
    """A ``ContentScanner`` for sensitive information, driven by a ``SecretRules`` set."""

    name: ClassVar[str] = "secrets"
    category: ClassVar[FindingCategory] = FindingCategory.SECRET

    def __init__(self, rules: SecretRules | None = None, *, max_file_size: int = 4 * _MIB):
        self.rules = rules if rules is not None else SecretRules.load()
        self.max_file_size = max_file_size
        self._by_id = {r.id: r for r in self.rules.rules}
        self._global = tuple(r for r in self.rules.rules if r.path_globs is None)
        self._scoped = tuple(r for r in self.rules.rules if r.path_globs is not None)
        #: every scoped rule's paths together: most files match none of them
        self._any_scoped = (
            PathGlobs(g for r in self._scoped for g in r.paths) if self._scoped else None
        )
        #: the keywords of the global rules, searched for together; path-scoped rules' (often
        #: common words: "pass", "key") join them only on their paths (``_search_for``)
        self._search_global = keyword_search(k for r in self._global for k in r.keywords)
        self._searches: dict[tuple[int, ...], KeywordSearch] = {}
        doc = f"{self.rules.fingerprint()}|{max_file_size}|{','.join(sorted(SKIP_SUFFIXES))}"
        self._fingerprint = hashlib.sha256(doc.encode()).hexdigest()

    @classmethod
    def from_files(cls, files: Iterable[str | Path] = (), **kw: int) -> SecretScanner:
        """The built-in rules plus operator rule files (same TOML shape as the built-in set)."""
        return cls(SecretRules.load(files), **kw)

    def rule(self, rule_id: str) -> Rule:
        return self._by_id[rule_id]

    # -- the ContentScanner protocol ---------------------------------------------------------

    def fingerprint(self) -> str:
        return self._fingerprint

    def wants(self, path: PurePosixPath, info: FileInfo) -> bool:
        if info.size <= 0 or info.size > self.max_file_size:
            return False
        name = path.name
        dot = name.rfind(".")
        if dot > 0 and name[dot:].lower() in SKIP_SUFFIXES:
            return False
        if ".so." in name:  # libfoo.so.1.2
            return False
        return not self.rules.allow.allows_path(str(path))

    def scan(self, file: LayerFile) -> tuple[FileFinding, ...]:
        # the walker asked ``wants`` first, which already turned allowed paths away
        path = str(file.path)
        matches = self._matches(file.content, self._spans_of(file.content, path))
        return tuple(self.finding(m, "/" + path, size=file.size) for m in matches)

    # -- matching ----------------------------------------------------------------------------

    def finding(self, m: SecretMatch, path: str, *, size: int = 0) -> FileFinding:
        rule = self._by_id[m.rule_id]
        return FileFinding(
            category=FindingCategory.SECRET,
            rule_id=rule.id,
            title=rule.title,
            severity=rule.severity,
            path=path,
            line=m.line,
            excerpt=m.excerpt,
            size=size,
            tags=(rule.category,),
            engine=self.name,
            description=f"{rule.title} ({rule.category}) found in {path}, line {m.line}.",
            solution=(
                "Remove the credential from the image and rotate it: it is readable by anyone "
                "who can pull the image. Provide it at run time instead (a secret mount or a "
                "secret store)."
            ),
        )

    def find(self, data: bytes, path: str) -> list[SecretMatch]:
        """The matches in ``data`` for a file at root-relative ``path`` (path-scoped rules and
        allow paths are decided by ``path``).  Binary data gives nothing."""
        return self._matches(data, self._spans(data, path))

    @staticmethod
    def _matches(data: bytes, spans: list[tuple[int, int, int, Rule]]) -> list[SecretMatch]:
        if not spans:
            return []
        secrets = [(s, e) for s, e, _, _ in spans]
        return sorted(
            SecretMatch(data.count(b"\n", 0, at) + 1, rule.id, _excerpt(data, at, secrets))
            for _, _, at, rule in spans
        )

    def redact(self, text: str, path: str = ".env") -> str:
        """``text`` with every secret the rules find masked (rules scoped as for ``path``)."""
        data = text.encode("utf-8", "surrogateescape")
        spans = sorted((s, e) for s, e, _, _ in self._spans(data, path))
        if not spans:
            return text
        out: list[bytes] = []
        pos = 0
        for s, e in spans:
            out += [data[pos:s], MASK.encode()]
            pos = e
        out.append(data[pos:])
        return b"".join(out).decode("utf-8", "replace")

    def allows_value(self, value: str) -> bool:
        """Whether the global allow rules call ``value`` a placeholder, not a secret."""
        return self.rules.allow.allows_secret(value.encode("utf-8", "replace"))

    def _spans(self, data: bytes, path: str) -> list[tuple[int, int, int, Rule]]:
        """Accepted (secret start, secret end, match start, rule), rule order, no overlaps."""
        if self.rules.allow.allows_path(path):
            return []
        return self._spans_of(data, path)

    def _spans_of(self, data: bytes, path: str) -> list[tuple[int, int, int, Rule]]:
        """``_spans`` for a path known not to be allowed."""
        if data.find(b"\x00", 0, _BINARY_SNIFF) >= 0:
            return []
        rules = self._global
        search = self._search_global
        scoped: set[int] = set()
        if self._any_scoped is not None and self._any_scoped.match(path):
            scoped = {id(r) for r in self._scoped if r.applies_to(path)}
            rules = tuple(r for r in self.rules.rules if r.path_globs is None or id(r) in scoped)
            search = self._search_for(rules)
        present = search.present(data) if search.keywords else frozenset()
        if not present and not scoped:
            return []  # every global rule has keywords: a clean file ends here
        spans: list[tuple[int, int, int, Rule]] = []
        for rule in rules:
            if rule.keywords and present.isdisjoint(rule.keywords):
                continue
            if rule.allow.allows_path(path):
                continue
            grouped = "secret" in rule.compiled.groupindex
            for m in rule.compiled.finditer(data):
                start, end = m.span("secret") if grouped else m.span()
                if start < 0 or end <= start:
                    continue
                secret = data[start:end]
                if len(secret.strip()) < rule.min_length:
                    continue
                if rule.allow.allows_secret(secret) or self.rules.allow.allows_secret(secret):
                    continue
                if any(s < end and start < e for s, e, _, _ in spans):
                    continue
                spans.append((start, end, m.start(), rule))
        return spans

    def _search_for(self, rules: tuple[Rule, ...]) -> KeywordSearch:
        key = tuple(sorted(id(r) for r in rules))
        search = self._searches.get(key)
        if search is None:
            search = keyword_search(k for r in rules for k in r.keywords)
            self._searches[key] = search
        return search


def keyword_search(keywords: Iterable[bytes]) -> KeywordSearch:
    """The ``KeywordSearch`` of ``keywords``, shared by every scanner with the same set (a
    scanner is built for each scan)."""
    return _keyword_search(frozenset(keywords))


@functools.lru_cache(maxsize=256)
def _keyword_search(keywords: frozenset[bytes]) -> KeywordSearch:
    return KeywordSearch(keywords)


class KeywordSearch:
    """Which of a set of lower-case keywords occur in bytes, ignoring ASCII case, in one pass.

    Hyperscan (the ``hyperscan`` wheel bundles the library) with every keyword a caseless
    literal reported once per scan (``HS_FLAG_SINGLEMATCH``).  It reports overlapping and
    nested occurrences too, so the answer is exactly that of one case-insensitive substring
    search per keyword, and it reads the file's bytes as they are: no lower-cased copy.
    (Before: a leftmost-first Aho-Corasick pass over ``bytes.lower()``, plus a repair for
    keywords a reported match could hide; this is ~2.5x faster over a Debian root's text
    files, benchmarks/README.md "Detectors".)  The scan releases the GIL; scratch space is
    per thread, as the walk may scan on two.
    """

    def __init__(self, keywords: Iterable[bytes]) -> None:
        self.keywords: tuple[bytes, ...] = tuple(sorted(set(keywords)))
        self._db: hyperscan.Database | None = None
        if self.keywords:
            flags = hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_SINGLEMATCH
            db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            db.compile(
                expressions=list(self.keywords),
                ids=list(range(len(self.keywords))),
                elements=len(self.keywords),
                flags=[flags] * len(self.keywords),
                literal=True,
            )
            self._db = db
        self._local = threading.local()

    def present(self, data: bytes) -> frozenset[bytes]:
        """The keywords occurring in ``data``, in any ASCII case."""
        if self._db is None:
            return frozenset()
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = hyperscan.Scratch(self._db)
        found: list[int] = []
        self._db.scan(data, match_event_handler=_found, context=found, scratch=scratch)
        return frozenset(self.keywords[i] for i in found) if found else frozenset()


def _found(pattern: int, start: int, end: int, flags: int, found: object) -> None:
    assert isinstance(found, list)
    found.append(pattern)


def _excerpt(data: bytes, at: int, secrets: list[tuple[int, int]]) -> str:
    """The line holding ``at`` with every secret span on it masked, trimmed around ``at``."""
    line_start = data.rfind(b"\n", 0, at) + 1
    line_end = data.find(b"\n", at)
    if line_end < 0:
        line_end = len(data)
    parts: list[bytes] = []
    pos = line_start
    first_mask = -1
    for s, e in sorted(secrets):
        if e <= line_start or s >= line_end:
            continue
        s, e = max(s, line_start), min(e, line_end)
        if s < pos:
            continue
        parts.append(data[pos:s])
        if first_mask < 0:
            first_mask = sum(len(p) for p in parts)
        parts.append(MASK.encode())
        pos = e
    parts.append(data[pos:line_end])
    text = _sanitize(b"".join(parts).decode("utf-8", "replace"))
    if len(text) > _EXCERPT:
        centre = max(first_mask, 0)
        lo = max(0, min(centre - _EXCERPT // 3, len(text) - _EXCERPT))
        text = (
            ("…" if lo else "")
            + text[lo : lo + _EXCERPT]
            + ("…" if lo + _EXCERPT < len(text) else "")
        )
    # defence in depth: a secret that still shows (say, repeated elsewhere on the line) blanks
    # the whole excerpt
    for s, e in secrets:
        chunk = data[s:e].strip()
        if len(chunk) >= 6 and chunk.decode("utf-8", "replace") in text:
            return MASK
    return text
