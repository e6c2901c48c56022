"""A memoising AdvisoryIndex wrapper for bulk matching (re-matching a whole inventory):
images share most of their packages, so each (ecosystem, name) is looked up once."""

from __future__ import annotations

from collections.abc import Iterable

from imagewarden.vulndb.index import Advisory, AdvisoryIndex

__all__ = ["MemoIndex"]


class MemoIndex:
    def __init__(
        self,
        inner: AdvisoryIndex,
        max_entries: int = 200_000,
        known: set[tuple[str, str]] | None = None,
    ) -> None:
        """``known``: every (ecosystem, name) with an advisory; other names are answered
        without a lookup (most packages of an image have no advisory at all)."""
        self._inner = inner
        self._known = known
        self._memo: dict[tuple[str, str], tuple[Advisory, ...]] = {}
        self._max = max_entries
        self.lookups = 0

    def candidates(self, ecosystem: str, name: str) -> Iterable[Advisory]:
        key = (ecosystem, name)
        if self._known is not None and key not in self._known:
            return ()
        hit = self._memo.get(key)
        if hit is None:
            self.lookups += 1
            hit = tuple(self._inner.candidates(ecosystem, name))
            if len(self._memo) >= self._max:
                self._memo.clear()
            self._memo[key] = hit
        return hit
