"""Simulated idle workers for bench/idle_workers.py: ``--count`` asyncio tasks in this process,
each speaking the worker protocol of optrack/protocol.py with the worker token — a lease call
long-polling ``POST /api/v1/worker/lease`` (``wait`` seconds), again at once after a 204; a
lease it gets is written to ``--out`` as ``<run id> <unix time received>`` and finished at once
(``succeeded``), then the task polls again. Each task has its own connection, as a worker
machine would. SIGTERM stops them; the last line of ``--out`` counts the responses by status.

    python -m bench._idle_pollers --server URL --token T --count 250 --out FILE --name p0
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import time
from collections import Counter

import httpx

WAIT = 20.0  # seconds a lease call long-polls (the server caps it at lease_wait_seconds)
RAMP = 3.0  # seconds over which the tasks make their first call
READY_LINE = "# ready"


async def poller(base: str, token: str, worker_id: str, out, statuses: Counter) -> None:
    headers = {"authorization": f"Bearer {token}"}
    await asyncio.sleep(random.uniform(0, RAMP))
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=WAIT + 30,
                                 limits=httpx.Limits(max_connections=1)) as client:
        while True:
            try:
                r = await client.post("/api/v1/worker/lease",
                                      json={"worker_id": worker_id, "wait": WAIT})
            except httpx.TransportError:
                statuses["transport error"] += 1
                await asyncio.sleep(1)
                continue
            statuses[r.status_code] += 1
            if r.status_code == 204:
                continue
            if r.status_code != 200:
                await asyncio.sleep(1)
                continue
            lease = r.json()
            out.write(f"{lease['run_id']} {time.time():.6f}\n")
            out.flush()
            await client.post(f"/api/v1/worker/runs/{lease['run_id']}/finish",
                              json={"attempt": lease["attempt"], "status": "succeeded"})


async def main_async(args) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    statuses: Counter = Counter()
    with open(args.out, "a") as out:
        tasks = [asyncio.create_task(poller(args.server, args.token, f"{args.name}-{i}", out,
                                            statuses)) for i in range(args.count)]
        await asyncio.sleep(RAMP + 1)
        out.write(f"{READY_LINE}\n")
        out.flush()
        await stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        out.write(f"# statuses {json.dumps({str(k): v for k, v in statuses.items()})}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--name", default="idle")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
