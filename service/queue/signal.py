"""Waking lease calls: a run queued by one request reaches a worker long-polling in another
at once, instead of at its next poll — at the cost of one look for it, however many wait.

A notification wakes one waiting call, the one waiting longest; a call that then leases a run
passes the notification on (there may be more runs), one that finds nothing does not. So a
queued run costs about one lease attempt in this process, not one per waiting worker (with
hundreds waiting, waking them all made every submission a burst of hundreds of transactions).
Runs no notification announces — queued by another API process, or made runnable by time (a
retry's backoff, an expired lease) — are found by polling, and ``poll_interval`` keeps the
process's polls at about PROCESS_POLLS_PER_SECOND between all its waiting calls: a lone worker
looks four times a second, five hundred spread over four processes do not make two thousand
transactions a second, and whichever call looks next finds the run within 1/20 s on average
(sooner with several processes).
At most LOOKS_AT_ONCE calls of a process look at once (``looking``); the others wait their turn
on the event loop, so that a burst of lease calls (every worker coming back after a restart)
holds neither the thread pool nor more database connections than that, whatever the number
of workers.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import deque

PROCESS_POLLS_PER_SECOND = 20.0  # lease attempts a second all waiting calls make between them
POLL_SECONDS = 0.25  # the shortest time a waiting call waits before it looks again
JITTER = 0.5  # poll intervals are drawn from ±50 % around their mean, so looks spread evenly
LOOKS_AT_ONCE = 4  # lease attempts in flight per process; more would only queue for the database


class QueueSignal:
    """Wakes the lease calls waiting in this process when runs become available. ``notify``
    may be called from any thread; ``wait`` is awaited on the event loop. A waiter passes the
    ``generation`` it saw before looking for work, so a notification in between is not lost:
    its wait returns at once."""

    def __init__(self):
        self.generation = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._waiters: deque[asyncio.Future] = deque()  # oldest first; touched on the loop only
        self.looking = asyncio.Semaphore(LOOKS_AT_ONCE)  # ``async with`` around each attempt

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def poll_interval(self) -> float:
        """How long a call about to wait should wait before it looks again unwoken."""
        mean = max(POLL_SECONDS, (self.waiting + 1) / PROCESS_POLLS_PER_SECOND)
        return mean * random.uniform(1 - JITTER, 1 + JITTER)

    @staticmethod
    def spread() -> float:
        """The fraction of its ``wait`` a lease call long-polls: from 0.8 to 1."""
        return random.uniform(0.8, 1.0)

    async def wait(self, seen: int, timeout: float) -> None:
        """Until a notification wakes this call, or ``timeout`` seconds."""
        with self._lock:
            if self.generation != seen:
                return
            self._loop = asyncio.get_running_loop()
        waiter = self._loop.create_future()
        self._waiters.append(waiter)  # before any wake-up scheduled since the check can run
        try:
            await asyncio.wait_for(waiter, timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def notify(self) -> None:
        """Wake one waiting call (the oldest), if any."""
        with self._lock:
            self.generation += 1
            loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake_one)

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():  # (a waiter that timed out meanwhile cannot take it)
                waiter.set_result(None)
                return
