"""A sliding-window rate limit per client address, for login and token endpoints (guessing
tokens is hopeless at 256 bits; the limit stops floods and noisy scanners)."""

from __future__ import annotations

import math
import threading
import time
from collections import deque

from ..errors import RateLimited


class RateLimiter:
    def __init__(self, per_minute: int, window: float = 60.0):
        self.limit, self.window = per_minute, window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str, what: str) -> None:
        """Count one attempt by ``key``; RateLimited (429) beyond the limit."""
        now = time.monotonic()
        with self._lock:
            if len(self._hits) > 10_000:  # forget idle clients
                self._hits = {k: q for k, q in self._hits.items() if q and q[-1] > now - self.window}
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                wait = math.ceil(hits[0] + self.window - now)
                raise RateLimited(f"too many {what} attempts; retry in {wait} s", wait)
            hits.append(now)
