"""Peak memory of one training run, measured in a fresh subprocess (``bench.train_step``'s
part 4): max RSS from getrusage (and /proc VmHWM), and the peak of Python + numpy allocations
from tracemalloc.

    python -m bench._train_memory CONFIG_JSON   (the child; prints one JSON line)
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
import tracemalloc

import optim_core
from bench._format import fmt_bytes


def _vm_hwm() -> int | None:
    """This process's own peak RSS (VmHWM) in bytes, where /proc exists (Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def ru_maxrss() -> int:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r if sys.platform == "darwin" else r * 1024  # Linux reports KiB, macOS bytes


def memory_child(config: dict) -> int:
    """Run the training ``config`` in this (fresh) process, one BLAS thread, and print a JSON
    line: peak RSS after the imports and after the run, then tracemalloc's peak during a
    second, identical run (traced separately, so that tracing does not inflate the RSS)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        before = {"ru_maxrss": ru_maxrss(), "vm_hwm": _vm_hwm()}
        started = time.perf_counter()
        for _ in optim_core.train(config):
            pass
        wall = time.perf_counter() - started
        after = {"ru_maxrss": ru_maxrss(), "vm_hwm": _vm_hwm()}
        tracemalloc.start()
        try:
            for _ in optim_core.train(config):
                pass
            current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    print(json.dumps({"before": before, "after": after, "wall": wall, "traced_peak": peak,
                      "traced_end": current}))
    return 0


def spawn_memory_child(config: dict) -> dict | str:
    """Start the memory child now, while this process is still small: on Linux a child's
    ru_maxrss starts from the parent's peak RSS at the fork (the kernel carries the old
    address space's high-water mark across exec), so it must not be spawned after torch is
    loaded. VmHWM, the child's own high-water mark, is reported as a cross-check."""
    proc = subprocess.run([sys.executable, "-m", "bench._train_memory", json.dumps(config)],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        return f"memory child failed (exit {proc.returncode}): {proc.stderr.strip()[-800:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def print_memory(m: dict | str, parent_rss: int, config: dict) -> None:
    print(f"peak memory of a {config['epochs']}-epoch digits run (same config, 1 BLAS "
          f"thread), in a fresh subprocess that imports numpy, scikit-learn and optim_core, "
          f"not torch")
    if isinstance(m, str):
        print(f"  {m}")
        print()
        return
    b, a = m["before"], m["after"]
    print(f"  max RSS, getrusage ru_maxrss: {fmt_bytes(a['ru_maxrss'])} at the end of the run; "
          f"{fmt_bytes(b['ru_maxrss'])} after the imports, before it")
    if a["vm_hwm"] is not None:
        print(f"  max RSS, /proc VmHWM (the child's own):  {fmt_bytes(a['vm_hwm'])} at the end; "
              f"{fmt_bytes(b['vm_hwm'])} after the imports => the run added "
              f"{fmt_bytes(a['vm_hwm'] - b['vm_hwm'])} (dataset load + training, "
              f"{m['wall']:.2f} s)")
    print(f"  (the parent's peak RSS when it spawned the child: {fmt_bytes(parent_rss)}; "
          f"ru_maxrss cannot be below it)")
    print(f"  tracemalloc (Python objects + numpy buffers) over a second identical run, dataset "
          f"cached: peak {fmt_bytes(m['traced_peak'])} allocated at once; "
          f"{fmt_bytes(m['traced_end'])} still held at the end")
    print()


if __name__ == "__main__":
    sys.exit(memory_child(json.loads(sys.argv[1])))
