"""Checkpoints: one ``.npz`` blob with params, model buffers, optimizer state, the generator's
state and the loop's counters. Written with np.savez and read with allow_pickle=False."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError

FORMAT = 1


@dataclass
class LoopState:
    """Where the loop is: updates done, the epoch, the next batch, this epoch's order, and the
    latest value of each metric (for the final summary)."""

    step: int = 0
    epoch: int = 0
    batch: int = 0
    order: np.ndarray | None = None
    latest: dict[str, float] = field(default_factory=dict)


def config_digest(config: dict[str, Any]) -> str:
    """Identifies the run config a checkpoint belongs to."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def snapshot(model, optimizer, rng: np.random.Generator, loop: LoopState,
             digest: str) -> dict[str, Any]:
    """Everything a checkpoint holds, copied (the arrays go on changing in place): cheap next
    to ``encode``, which the loop leaves until somebody reads the checkpoint's data."""
    arrays: dict[str, Any] = {
        "format": FORMAT,
        "config": digest,
        "rng": json.dumps(rng.bit_generator.state),
        "loop.step": loop.step,
        "loop.epoch": loop.epoch,
        "loop.batch": loop.batch,
        "loop.order": loop.order.copy() if loop.order is not None else np.zeros(0, np.int64),
        "loop.latest": json.dumps(loop.latest),  # floats round-trip exactly through JSON
    }
    arrays.update({f"params.{k}": v.copy() for k, v in model.params.items()})
    arrays.update({f"buffers.{k}": v.copy() for k, v in model.buffers.items()})
    arrays.update({f"optimizer.{k}": v for k, v in optimizer.state_dict().items()})  # copies
    return arrays


def encode(arrays: dict[str, Any]) -> bytes:
    """A snapshot as the ``.npz`` blob ``restore`` reads."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def restore(blob: bytes, model, optimizer, rng: np.random.Generator, digest: str) -> LoopState:
    """Load ``blob`` into the model, optimizer and generator; return the loop's counters."""
    try:
        data = dict(np.load(io.BytesIO(blob), allow_pickle=False))
    except Exception as exc:
        raise ConfigError("resume_from", f"is not a readable checkpoint: {exc}") from exc
    if int(data.get("format", -1)) != FORMAT:
        raise ConfigError("resume_from", f"checkpoint format {data.get('format')} is not {FORMAT}")
    if str(data["config"]) != digest:
        raise ConfigError("resume_from", "the checkpoint belongs to a different run config")
    for prefix, target in (("params.", model.params), ("buffers.", model.buffers)):
        for k in target:
            target[k][...] = data[prefix + k]  # in place: layers hold these very arrays
    optimizer.load_state_dict({k[len("optimizer."):]: v for k, v in data.items()
                               if k.startswith("optimizer.")})
    rng.bit_generator.state = json.loads(str(data["rng"]))
    order = data["loop.order"]
    return LoopState(step=int(data["loop.step"]), epoch=int(data["loop.epoch"]),
                     batch=int(data["loop.batch"]), order=order if order.size else None,
                     latest=json.loads(str(data["loop.latest"])))
