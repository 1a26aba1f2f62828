"""Formatting and output shared by the benchmark scripts."""


def say(msg: str = "") -> None:
    """Print a line at once (a benchmark's progress shows while it runs)."""
    print(msg, flush=True)


def fmt_bytes(n: int) -> str:
    """A byte count in B, KiB or MiB."""
    if abs(n) >= 1 << 20:
        return f"{n / (1 << 20):.2f} MiB"
    if abs(n) >= 1 << 10:
        return f"{n / (1 << 10):.2f} KiB"
    return f"{n} B"
