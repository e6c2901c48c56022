"""Per (account, action) request-rate limiting: at most N requests in any one-second window.

A sliding log, exact within one server process.  With several worker processes each
process keeps its own log (documented in the README); the embedded default runs one.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["SlidingWindowLimiter"]


class SlidingWindowLimiter:
    def __init__(self, window: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._window = window
        self._clock = clock
        self._logs: dict[tuple[int, str], deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, account_id: int, action: str, limit: int) -> bool:
        if limit <= 0:
            return True
        now = self._clock()
        with self._lock:
            log = self._logs.setdefault((account_id, action), deque())
            edge = now - self._window
            while log and log[0] <= edge:
                log.popleft()
            if len(log) >= limit:
                return False
            log.append(now)
            return True
