"""Waking lease calls: a run queued by one request reaches a worker long-polling in another
at once, instead of at its next poll."""

from __future__ import annotations

import asyncio
import threading


class QueueSignal:
    """Wakes the lease calls waiting in this process when runs become available. ``notify``
    may be called from any thread; ``wait`` is awaited on the event loop. A waiter passes the
    ``generation`` it saw before looking for work, so a notification in between is not lost."""

    def __init__(self):
        self.generation = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._lock = threading.Lock()

    async def wait(self, seen: int, timeout: float) -> None:
        with self._lock:
            if self.generation != seen:
                return
            if self._event is None:
                self._loop, self._event = asyncio.get_running_loop(), asyncio.Event()
            event = self._event
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    def notify(self) -> None:
        with self._lock:
            self.generation += 1
            loop, event = self._loop, self._event
            self._event = None  # later waiters wait for the next notification
        if loop is not None and event is not None:
            loop.call_soon_threadsafe(event.set)
