"""The training loop the worker calls: deterministic, resumable, and honest about divergence."""

from __future__ import annotations

import math
import time
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
from threadpoolctl import threadpool_limits

from .. import datasets, models
from ..optimizers import create as create_optimizer
from . import checkpoint
from .config import RunConfig, resolve
from .events import Checkpoint, Finished, Metrics

Event = Metrics | Checkpoint | Finished


@lru_cache(maxsize=16)
def _cached_dataset(name: str, seed: int, options: tuple,
                    cache_dir: Path | None) -> datasets.Dataset:
    data = datasets.load(name, seed=seed, cache_dir=cache_dir, **dict(options))
    for part in (data.x_train, data.y_train, data.x_val, data.y_val):
        part.flags.writeable = False  # shared by every run in this process
    return data


def load_dataset(name: str, seed: int = 0, cache_dir: Path | None = None,
                 **options: Any) -> datasets.Dataset:
    """datasets.load, memoised per process: a worker loads each dataset once (a pushed file's
    reference pins its content, so the memo cannot serve stale arrays)."""
    return _cached_dataset(name, seed, tuple(sorted(options.items())), cache_dir)


@lru_cache(maxsize=16)
def _as_dtype(data: datasets.Dataset, dtype: str) -> tuple[np.ndarray, ...]:
    parts = [data.x_train.astype(dtype), data.y_train, data.x_val.astype(dtype), data.y_val]
    if data.task == "regression":
        parts[1], parts[3] = parts[1].astype(dtype)[:, None], parts[3].astype(dtype)[:, None]
    for part in parts:
        part.flags.writeable = False
    return tuple(parts)


def train(config: dict[str, Any], resume_from: bytes | None = None,
          checkpoint_now: Callable[[], bool] | None = None,
          cache_dir: Path | None = None) -> Iterator[Event]:
    """Train as ``config`` says (see training/config.py), yielding Metrics, Checkpoint and
    finally Finished events. ``resume_from`` is a Checkpoint's data: the run continues
    bit-identically. ``checkpoint_now`` is asked after every step; when it answers True a
    Checkpoint is yielded there (a worker shutting down). ``cache_dir`` holds the pushed
    dataset files (named by sha256) that the config may name. Raises ConfigError (before
    yielding anything) for a bad config."""
    run = resolve(config, load_dataset=partial(load_dataset, cache_dir=cache_dir))
    cfg = run.config
    rng = np.random.default_rng(cfg["seed"])
    model_spec = {k: v for k, v in cfg["model"].items() if k != "kind"}
    task = run.dataset.task if run.dataset else "classification"
    model = models.create(cfg["model"]["kind"], rng=rng, task=task, **model_spec)
    opt_spec = {k: v for k, v in cfg["optimizer"].items() if k != "name"}
    optimizer = create_optimizer(cfg["optimizer"]["name"], schedule=cfg["schedule"], **opt_spec)
    digest = checkpoint.config_digest(cfg)
    loop = checkpoint.LoopState()
    if resume_from is not None:
        loop = checkpoint.restore(resume_from, model, optimizer, rng, digest)
    wanted = checkpoint_now or (lambda: False)
    if run.dataset is None:
        yield from _optimise_point(run, model, optimizer, rng, loop, digest, wanted)
        return
    with threadpool_limits(limits=cfg["threads"], user_api="blas"):
        yield from _fit(run, model, optimizer, rng, loop, digest, wanted)


def _fit(run: RunConfig, model, optimizer, rng, loop, digest, wanted) -> Iterator[Event]:
    cfg, data = run.config, run.dataset
    x_train, y_train, x_val, y_val = _as_dtype(data, cfg["model"].get("dtype", "float32"))
    batch_size, n = cfg["batch_size"], len(x_train)
    latest = loop.latest
    with np.errstate(all="ignore"):  # overflow is reported as divergence, not as warnings
        while loop.step < run.total_steps:
            if loop.order is None:
                loop.order = rng.permutation(n)
            idx = loop.order[loop.batch * batch_size:(loop.batch + 1) * batch_size]
            started = time.perf_counter()
            loss, grads = model.loss_and_grads(x_train[idx], y_train[idx], rng=rng)
            report = optimizer.step(model.params, grads) if math.isfinite(loss) else None
            if report is None or not report.applied:
                yield _diverged(run, loop.step + 1, loss, report, latest)
                return
            loop.step += 1
            loop.batch += 1
            epoch = loop.epoch
            epoch_done = loop.batch == run.steps_per_epoch
            if loop.step % cfg["log_every"] == 0:
                values = {"train_loss": loss, "lr": report.lr, "grad_norm": report.grad_norm,
                          "step_time": time.perf_counter() - started}
                latest.update(values)
                yield Metrics(loop.step, epoch, values)
            if epoch_done:
                loop.epoch, loop.batch, loop.order = loop.epoch + 1, 0, None
            if epoch_done or _every(loop.step, cfg.get("eval_every")):
                values = model.evaluate(x_val, y_val)
                latest.update(values)
                yield Metrics(loop.step, epoch, values)
            if epoch_done or _every(loop.step, cfg.get("checkpoint_every")) or wanted():
                yield _checkpoint(model, optimizer, rng, loop, digest)
    yield Finished(_summary(run, "succeeded", loop.step, latest))


def _optimise_point(run: RunConfig, model, optimizer, rng, loop, digest,
                    wanted) -> Iterator[Event]:
    cfg = run.config
    latest = loop.latest
    if loop.step == 0:
        latest.update(model.position())
        yield Metrics(0, 0, dict(latest))
    with np.errstate(all="ignore"):
        while loop.step < run.total_steps:
            f, grads = model.loss_and_grads()
            report = optimizer.step(model.params, grads)
            position = model.position()
            if not report.applied or not all(map(math.isfinite, position.values())):
                yield _diverged(run, loop.step + 1, f, report, latest)
                return
            loop.step += 1
            if loop.step % cfg["log_every"] == 0:
                latest.update(position, lr=report.lr, grad_norm=report.grad_norm)
                yield Metrics(loop.step, 0, dict(latest))
            if _every(loop.step, cfg.get("checkpoint_every")) or wanted():
                yield _checkpoint(model, optimizer, rng, loop, digest)
    yield Finished(_summary(run, "succeeded", loop.step, latest))


def _checkpoint(model, optimizer, rng, loop, digest) -> Checkpoint:
    arrays = checkpoint.snapshot(model, optimizer, rng, loop, digest)
    return Checkpoint(partial(checkpoint.encode, arrays), loop.step)


def _every(step: int, interval: int | None) -> bool:
    return interval is not None and step % interval == 0


def _diverged(run: RunConfig, step: int, loss: float, report, latest) -> Finished:
    if not math.isfinite(loss):
        reason = f"loss is {loss} at step {step}"
    elif report is not None and report.nonfinite:
        reason = f"gradient of {', '.join(report.nonfinite)} is not finite at step {step}"
    else:
        reason = f"parameters left the finite range at step {step}"
    summary = _summary(run, "diverged", step - 1, latest)
    summary.update(diverged_step=step, reason=reason)
    return Finished(summary)


def _summary(run: RunConfig, outcome: str, steps: int, latest: dict[str, float]) -> dict:
    summary: dict[str, Any] = {
        "outcome": outcome,
        "steps": steps,
        "metrics": {k: v for k, v in latest.items() if k != "step_time"},
    }
    if run.dataset is not None:
        summary.update(dataset=run.dataset.name, dataset_hash=run.dataset.content_hash,
                       epochs=steps / run.steps_per_epoch)
    return summary
