"""The agent loop: collect → spool → send, with exponential backoff and jitter.

Memory holds at most one snapshot (the newest); the spool on disk holds the same one until
the server accepts it, so a restart of the agent loses nothing.  A newer collection replaces
an undelivered older one: every report is a full snapshot, so only the newest matters.
Retries wait ``min(cap, base · 2^n)`` scaled by a random factor in [0.5, 1] and never
postpone the next collection.  If the engine cannot be read, the spooled snapshot (the
newest known state the server has not got yet) is still delivered.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from imagewarden.agent.collector import Collector, CollectorError
from imagewarden.agent.model import HostIdentity, Inventory, report_payload
from imagewarden.agent.scanning import AgentScanner, ScanRound
from imagewarden.agent.sender import Sender, SendError
from imagewarden.agent.state import StateDir

__all__ = ["Agent", "Backoff", "OnceResult"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    base: float = 1.0
    cap: float = 300.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Wait before retry number ``attempt`` (1-based)."""
        raw = min(self.cap, self.base * 2.0 ** min(attempt - 1, 30))
        return raw * rng.uniform(0.5, 1.0)


@dataclass(frozen=True)
class OnceResult:
    collected: bool
    delivered: bool
    attempts: int
    error: str = ""
    response: dict[str, Any] | None = None
    scans: ScanRound | None = None

    @property
    def ok(self) -> bool:
        return (
            self.collected
            and self.delivered
            and (self.scans is None or self.scans.undelivered == 0)
        )


class Agent:
    def __init__(
        self,
        collector: Collector,
        identity: Callable[[], HostIdentity],
        sender: Sender,
        state: StateDir,
        *,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        scanner: AgentScanner | None = None,
    ) -> None:
        """``scanner`` (``--scan``): after a snapshot is delivered, the images it lists that
        are due are scanned here and their results reported (``agent.scanning``)."""
        self.scanner = scanner
        self.last_inventory: Inventory | None = None
        self.collector = collector
        self.identity = identity
        self.sender = sender
        self.state = state
        self.backoff = backoff or Backoff()
        self.rng = rng or random.Random()
        self.clock = clock

    def collect(self) -> bool:
        """Collect one snapshot and spool it; False (logged) when the engine cannot be read."""
        try:
            inventory = self.collector.collect()
        except CollectorError as exc:
            log.error("collect failed: %s", exc)
            return False
        self.last_inventory = inventory
        payload = report_payload(self.identity(), inventory)
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.state.write_spool(payload, stamp)
        log.info(
            "collected %d image(s), %d container(s) from %s",
            len(inventory.images),
            len(inventory.containers),
            self.collector.name,
        )
        return True

    def deliver(self) -> tuple[bool | None, dict[str, Any] | None, SendError | None]:
        """Send the spooled snapshot: (True, response, None) | (False, None, error) | (None, ...)
        when nothing is spooled.  A snapshot the server refuses for good is dropped."""
        spooled = self.state.read_spool()
        if spooled is None:
            return None, None, None
        payload, collected_at = spooled
        try:
            response = self.sender.send(payload)
        except SendError as exc:
            if not exc.retryable:
                log.error("the server refused the snapshot of %s: %s", collected_at, exc)
                self.state.clear_spool()
            else:
                log.warning("report failed (will retry): %s", exc)
            return False, None, exc
        if self.state.read_spool() == spooled:  # not replaced meanwhile
            self.state.clear_spool()
        log.info(
            "reported snapshot of %s: %s image(s), %s container(s), removed %s/%s",
            collected_at,
            response.get("ImageCount"),
            response.get("ContainerCount"),
            response.get("RemovedImageCount"),
            response.get("RemovedContainerCount"),
        )
        return True, response, None

    def scan_round(self) -> ScanRound | None:
        """With ``--scan``: scan what the last collected (and delivered) snapshot lists."""
        if self.scanner is None or self.last_inventory is None:
            return None
        result = self.scanner.scan(self.identity().host_id, self.last_inventory)
        log.info(
            "scan round: %d scanned, %d unreadable, %d undelivered, %d already scanned",
            result.scanned,
            result.failed,
            result.undelivered,
            result.skipped,
        )
        return result

    def run_once(self, attempts: int = 5, sleep: Callable[[float], Any] = time.sleep) -> OnceResult:
        """One snapshot, delivered with up to ``attempts`` tries."""
        collected = self.collect()
        error = ""
        for n in range(1, max(1, attempts) + 1):
            ok, response, exc = self.deliver()
            if ok is None:
                return OnceResult(collected, False, n - 1, "nothing to report")
            if ok:
                scans = self.scan_round()
                error = "" if collected else "collect failed"
                if scans is not None and scans.undelivered:
                    error = f"{scans.undelivered} scan report(s) not delivered"
                return OnceResult(collected, True, n, error, response, scans)
            error = str(exc)
            if exc is not None and not exc.retryable:
                return OnceResult(collected, False, n, error)
            if n < attempts:
                sleep(self.backoff.delay(n, self.rng))
        return OnceResult(collected, False, attempts, error)

    def run_forever(self, interval: float, stop: threading.Event) -> None:
        """Collect every ``interval`` seconds and deliver, retrying with backoff, until ``stop``."""
        next_collect = self.clock()
        failures = 0
        retry_at: float | None = None
        while not stop.is_set():
            now = self.clock()
            if now >= next_collect:
                self.collect()
                next_collect = now + interval
                retry_at = now  # a new snapshot is sent at once
            if retry_at is not None and self.clock() >= retry_at:
                ok, _, exc = self.deliver()
                if ok:
                    self.scan_round()
                if ok is False and exc is not None and exc.retryable:
                    failures += 1
                    retry_at = self.clock() + self.backoff.delay(failures, self.rng)
                else:
                    failures = 0
                    retry_at = None
            wake = next_collect if retry_at is None else min(next_collect, retry_at)
            stop.wait(max(0.0, wake - self.clock()))
