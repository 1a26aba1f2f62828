"""Compile every fused kernel for float32 and float64 into numba's on-disk cache, so that a new
process loads them instead of compiling them at its first step (the Dockerfile runs this).

    python -m optim_core.kernels
"""

from __future__ import annotations

import sys
import time

from . import select, warm


def main() -> int:
    t0 = time.perf_counter()
    select("numba")  # fails loudly without numba: filling its cache is the point
    warm()
    print(f"optim_core.kernels: numba kernels compiled or loaded in "
          f"{time.perf_counter() - t0:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
