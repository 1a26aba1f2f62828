"""Many idle workers waiting in lease calls, on two API processes over one database: their
looks for work stay at the process's polling budget instead of growing with their number, and
a run queued through the other process still reaches one of them, and only one."""

from __future__ import annotations

import asyncio
import re
import time

import httpx

from service.queue.signal import PROCESS_POLLS_PER_SECOND

from ..harness import Server, run_async

WAITERS, WAIT = 60, 6.0  # idle lease calls, and how long each long-polls
QUIET = 3.0  # seconds the test counts looks while nothing is queued
TINY = {"name": "tiny", "model": {"kind": "point"}, "optimizer": {"name": "adam", "lr": 0.1},
        "training": {"steps": 5}}


def lease_attempts(srv: Server) -> float:
    body = srv.api.get("/metrics").text
    return float(re.search(r"^optrack_lease_attempts_total (\S+)$", body, re.M)[1])


async def wait_for_leases(srv: Server) -> list[tuple[int, dict | None, float]]:
    """``WAITERS`` lease calls of one ``WAIT`` each, all started together: (status, lease,
    monotonic time answered) of each."""
    async with httpx.AsyncClient(base_url=srv.url, timeout=WAIT + 30,
                                 headers={"authorization": f"Bearer {srv.worker_token}"},
                                 limits=httpx.Limits(max_connections=WAITERS)) as client:
        async def one(i: int):
            r = await client.post("/api/v1/worker/lease",
                                  json={"worker_id": f"idle-{i}", "wait": WAIT})
            return r.status_code, r.json() if r.status_code == 200 else None, time.monotonic()
        return await asyncio.gather(*(one(i) for i in range(WAITERS)))


async def quiet_then_submit(waiting: Server, other: Server):
    """Wait in ``WAITERS`` lease calls on ``waiting``; after ``QUIET`` seconds, queue one run
    through ``other``. (The looks made meanwhile, when it was queued, its id, the answers.)"""
    before = await asyncio.to_thread(lease_attempts, waiting)
    calls = asyncio.create_task(wait_for_leases(waiting))
    await asyncio.sleep(QUIET)
    looked = await asyncio.to_thread(lease_attempts, waiting) - before
    submitted = time.monotonic()
    (run_id,) = await asyncio.to_thread(other.submit, TINY)
    return looked, submitted, run_id, await calls


def test_idle_lease_calls_look_at_a_bounded_rate_and_one_gets_a_run_queued_elsewhere(server):
    settings = {"lease_wait_seconds": WAIT + 2, "lease_seconds": 60}  # no lease runs out
    waiting, other = server(**settings), server(**settings)
    looked, submitted, run_id, answers = run_async(quiet_then_submit(waiting, other))
    # one look each on arrival, then polls within the process's budget (twice it here, for the
    # first calls, which wait while few others do); each polling 4 times a second made 720
    assert looked <= WAITERS + 2 * PROCESS_POLLS_PER_SECOND * QUIET + 10, looked
    got = [(lease, at) for status, lease, at in answers if status == 200]
    assert [lease["run_id"] for lease, _ in got] == [run_id]
    assert got[0][1] - submitted < WAIT - QUIET  # found by a poll, before the waits ran out
    assert sorted(status for status, _, _ in answers) == [200] + [204] * (WAITERS - 1)
