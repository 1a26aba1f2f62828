"""``python -m worker --server URL [--token T] [--concurrency N]``."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys

from optrack import heap

from .runner import Worker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="optrack worker", description=__doc__)
    parser.add_argument("--server", default=os.environ.get("OPTRACK_SERVER",
                                                           "http://127.0.0.1:8000"))
    parser.add_argument("--token", default=os.environ.get("OPTRACK_TOKEN"))
    parser.add_argument("--concurrency", type=int, default=1,
                        help="worker processes to run (one run each at a time)")
    parser.add_argument("--cache-dir", default=None,
                        help="where pushed datasets are kept (default: $OPTRACK_CACHE_DIR, "
                             "else $OPTRACK_DATA_DIR/cache/datasets)")
    parser.add_argument("--max-runs", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
    if args.concurrency > 1:
        return _supervise(args)
    worker = Worker(args.server, args.token, cache_dir=args.cache_dir)
    worker.install_signal_handlers()
    heap.settle()
    worker.run_forever(max_runs=args.max_runs)
    return 0


def _supervise(args) -> int:
    """N single-run worker processes; signals are passed on to them."""
    child_args = [sys.executable, "-m", "worker", "--server", args.server,
                  *(["--cache-dir", args.cache_dir] if args.cache_dir else [])]
    env = dict(os.environ, **({"OPTRACK_TOKEN": args.token} if args.token else {}))
    children = [subprocess.Popen(child_args, env=env) for _ in range(args.concurrency)]
    import signal

    def forward(signum, _frame):
        for child in children:
            child.send_signal(signum)
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    return max(child.wait() for child in children)


if __name__ == "__main__":
    sys.exit(main())
