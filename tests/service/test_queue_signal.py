"""The wake-up of waiting lease calls (service/queue/signal.py): one waiter per notification,
the one waiting longest; no notification lost between looking for work and waiting; polls
spread so that a process's waiting calls look at a bounded rate between them."""

from __future__ import annotations

import asyncio
import time

from service.queue.signal import POLL_SECONDS, PROCESS_POLLS_PER_SECOND, QueueSignal

from ..harness import run_async


async def waiting_calls(signal: QueueSignal, n: int, timeout: float = 5.0) -> list[asyncio.Task]:
    tasks = []
    for _ in range(n):
        tasks.append(asyncio.create_task(signal.wait(signal.generation, timeout)))
        await asyncio.sleep(0.01)  # in this order
    return tasks


def test_a_notification_wakes_only_the_call_waiting_longest():
    async def scenario():
        signal = QueueSignal()
        tasks = await waiting_calls(signal, 3)
        signal.notify()
        await asyncio.sleep(0.05)
        first = [t.done() for t in tasks]
        signal.notify()
        signal.notify()
        await asyncio.sleep(0.05)
        return first, [t.done() for t in tasks], signal.waiting
    assert run_async(scenario()) == ([True, False, False], [True, True, True], 0)


def test_a_notification_between_looking_and_waiting_is_not_lost():
    async def scenario():
        signal = QueueSignal()
        seen = signal.generation  # looked for work, found none …
        signal.notify()  # … a run is queued …
        started = time.monotonic()
        await signal.wait(seen, 5.0)  # … so the wait returns at once
        return time.monotonic() - started
    assert run_async(scenario()) < 1.0


def test_a_call_whose_wait_ran_out_does_not_swallow_the_next_notification():
    async def scenario():
        signal = QueueSignal()
        (short,) = await waiting_calls(signal, 1, timeout=0.02)
        (long,) = await waiting_calls(signal, 1)
        await asyncio.sleep(0.1)  # the first one's wait has ended
        signal.notify()
        await asyncio.sleep(0.05)
        return short.done(), long.done()
    assert run_async(scenario()) == (True, True)


def test_poll_intervals_keep_a_process_within_its_polling_budget():
    async def scenario():
        signal = QueueSignal()
        alone = [signal.poll_interval() for _ in range(200)]
        tasks = await waiting_calls(signal, 199, timeout=30)
        crowded = [signal.poll_interval() for _ in range(200)]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return alone, crowded, signal.waiting
    alone, crowded, left = run_async(scenario())
    assert all(POLL_SECONDS / 2 <= s <= POLL_SECONDS * 1.5 for s in alone)
    mean = 200 / PROCESS_POLLS_PER_SECOND  # 200 calls (199 and the next) share 20 looks a second
    assert all(mean / 2 <= s <= mean * 1.5 for s in crowded)
    assert abs(sum(crowded) / len(crowded) - mean) < mean * 0.15
    assert left == 0  # cancelled calls leave no waiter behind
