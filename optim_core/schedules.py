"""Learning-rate schedules as pure functions of the step count.

``schedule.lr(step, base_lr)`` is the learning rate for optimizer step ``step`` (0-based), the
value torch.optim.lr_scheduler holds after ``step`` calls of ``scheduler.step()``:

    constant        lr = base
    step            lr = base · gamma^⌊step / step_size⌋                      (StepLR)
    exponential     lr = base · gamma^step                                    (ExponentialLR)
    cosine          lr = eta_min + (base − eta_min) · (1 + cos(π·step/T_max)) / 2
                                                                  (CosineAnnealingLR, closed form)
    linear_warmup   lr = base · (f + (1 − f)·step/warmup_steps) while step < warmup_steps, then
                    the ``then`` schedule from its own step 0    (SequentialLR(LinearLR, then))

Like torch's closed form, cosine keeps following the cosine past T_max.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError
from .hyperparams import FLOAT, INT, Hyper, validate


def _steps(name: str, doc: str) -> Hyper:
    """A schedule's step count: required, and at least 1 since the schedule divides by it."""
    return Hyper(name, INT, None, doc, low=1, required=True)


def _decay_factor(default: float | None, doc: str) -> Hyper:
    """A schedule's decay factor ``gamma``: in (0, 1]; required when it has no default."""
    return Hyper("gamma", FLOAT, default, doc, low=0, high=1, low_open=True,
                 required=default is None)


class Schedule:
    """A learning-rate schedule: ``lr(step, base_lr)``; ``spec()`` gives back its config."""

    name: str
    HYPERS: dict[str, Hyper] = {}

    def lr(self, step: int, base_lr: float) -> float:
        raise NotImplementedError

    def spec(self) -> dict[str, Any]:
        """The config that rebuilds this schedule: its name and every hyperparameter."""
        return {"name": self.name, **{key: getattr(self, key) for key in self.HYPERS}}


@dataclass(frozen=True)
class Constant(Schedule):
    """lr = base."""

    name = "constant"
    HYPERS = {}

    def lr(self, step: int, base_lr: float) -> float:
        return base_lr


@dataclass(frozen=True)
class StepDecay(Schedule):
    """lr = base · gamma^⌊step / step_size⌋ (torch StepLR)."""

    step_size: int
    gamma: float = 0.1
    name = "step"
    HYPERS = {
        "step_size": _steps("step_size", "steps between decays"),
        "gamma": _decay_factor(0.1, "factor applied at each decay"),
    }

    def lr(self, step: int, base_lr: float) -> float:
        return base_lr * self.gamma ** (step // self.step_size)


@dataclass(frozen=True)
class Exponential(Schedule):
    """lr = base · gamma^step (torch ExponentialLR)."""

    gamma: float
    name = "exponential"
    HYPERS = {
        "gamma": _decay_factor(None, "factor applied every step"),
    }

    def lr(self, step: int, base_lr: float) -> float:
        return base_lr * self.gamma ** step


@dataclass(frozen=True)
class Cosine(Schedule):
    """lr = eta_min + (base − eta_min)(1 + cos(π·step/T_max))/2 (torch CosineAnnealingLR)."""

    T_max: int
    eta_min: float = 0.0
    name = "cosine"
    HYPERS = {
        "T_max": _steps("T_max", "steps in a half cosine period"),
        "eta_min": Hyper("eta_min", FLOAT, 0.0, "learning rate at the end of the period",
                         low=0),
    }

    def lr(self, step: int, base_lr: float) -> float:
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * step / self.T_max)) / 2


@dataclass(frozen=True)
class LinearWarmup(Schedule):
    """Linear ramp from start_factor·base to base over warmup_steps, then ``then`` from its own
    step 0 (torch SequentialLR of LinearLR and that schedule)."""

    warmup_steps: int
    start_factor: float = 1.0 / 3.0
    then: Schedule = Constant()
    name = "linear_warmup"
    HYPERS = {
        "warmup_steps": _steps("warmup_steps", "steps of the linear ramp"),
        "start_factor": Hyper("start_factor", FLOAT, 1.0 / 3.0,
                              "fraction of the base rate at step 0", low=0, high=1,
                              low_open=True),
    }

    def lr(self, step: int, base_lr: float) -> float:
        if step < self.warmup_steps:
            f = self.start_factor
            return base_lr * (f + (1.0 - f) * step / self.warmup_steps)
        return self.then.lr(step - self.warmup_steps, base_lr)

    def spec(self) -> dict[str, Any]:
        return {**super().spec(), "then": self.then.spec()}


SCHEDULES: dict[str, type[Schedule]] = {
    cls.name: cls for cls in (Constant, StepDecay, Exponential, Cosine, LinearWarmup)
}


def create(spec: str | dict[str, Any] | Schedule | None) -> Schedule:
    """Build a schedule from a name, a ``{"name": …, **hyperparameters}`` dict, or return the
    given Schedule. Raises ConfigError naming the field (``schedule.T_max``)."""
    try:
        return _create(spec)
    except ConfigError as exc:
        raise exc.within("schedule") from None


def _create(spec: str | dict[str, Any] | Schedule | None) -> Schedule:
    if spec is None:
        return Constant()
    if isinstance(spec, Schedule):
        return spec
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict):
        raise ConfigError("name", f"a schedule is a name or an object with a name, got {spec!r}")
    spec = dict(spec)
    name = spec.pop("name", None)
    if name not in SCHEDULES:
        raise ConfigError("name", f"unknown schedule {name!r}; choose one of "
                                  f"{', '.join(SCHEDULES)}")
    cls = SCHEDULES[name]
    then = spec.pop("then", None) if cls is LinearWarmup else None
    values = validate(cls.HYPERS, spec, f"schedule {name!r}")
    if cls is LinearWarmup:
        try:
            values["then"] = _create(then)
        except ConfigError as exc:
            raise exc.within("then") from None
        if isinstance(values["then"], LinearWarmup):
            raise ConfigError("then.name", "a warmup cannot follow a warmup")
    return cls(**values)
