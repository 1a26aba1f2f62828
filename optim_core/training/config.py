"""The run config: a plain dict, validated up front with errors that name the field.

    {"dataset": "digits" | {"name": "spiral", "classes": 3, "seed": 0, …},
     "model": {"kind": "mlp", "hidden": [100, 100], "activation": "relu", …},
     "optimizer": {"name": "adam", "lr": 1e-3, "convention": "torch", "clip_grad_norm": …},
     "schedule": {"name": "cosine", "T_max": 1000},          # optional, default constant
     "epochs": 20,  or  "steps": 5000,                        # exactly one
     "batch_size": 128, "seed": 0,
     "log_every": 1,         # steps between train_loss / lr / grad_norm records
     "eval_every": None,     # steps between validations (always at each epoch's end)
     "checkpoint_every": None,  # steps between checkpoints (always at each epoch's end)
     "threads": 1}           # BLAS threads; small matrices gain little from more, and
                             # spinning BLAS threads collapse when the cores are shared

The dataset's own seed (default 0) is separate from the run's seed, so runs that differ only in
seed train on the same split; the run's seed drives initialisation, shuffling and dropout.
A ``point`` model (a 2-D test function) takes no dataset and counts ``steps``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import datasets, models
from ..errors import ConfigError
from ..hyperparams import INT, Hyper, validate
from ..optimizers import create as create_optimizer
from ..schedules import create as create_schedule

TOP_LEVEL = {
    "epochs": Hyper("epochs", INT, None, "passes over the training set", low=1, high=100_000),
    "steps": Hyper("steps", INT, None, "optimizer steps in all (instead of epochs)", low=1,
                   high=100_000_000),
    "batch_size": Hyper("batch_size", INT, 128, "examples per step", low=1),
    "seed": Hyper("seed", INT, 0, "seed of the run's random generator", low=0, high=2**63 - 1),
    "log_every": Hyper("log_every", INT, 1, "steps between train-loss records", low=1),
    "eval_every": Hyper("eval_every", INT, None, "steps between validations (also at every "
                                                 "epoch's end)", low=1),
    "checkpoint_every": Hyper("checkpoint_every", INT, None, "steps between checkpoints (also "
                                                             "at every epoch's end)", low=1),
    "threads": Hyper("threads", INT, 1, "BLAS threads of the run (run one worker per core "
                                        "rather than more threads per run)", low=1, high=256),
}
SECTIONS = ("dataset", "model", "optimizer", "schedule")


def flatten(run_config: dict[str, Any]) -> dict[str, Any]:
    """The service's sectioned form, ``{…, "training": {"epochs": …, "seed": …}}``, as the flat
    config ``train`` takes (``{…, "epochs": …, "seed": …}``)."""
    if not isinstance(run_config, dict):
        raise ConfigError("config", f"must be an object, got {type(run_config).__name__}")
    flat = {k: v for k, v in run_config.items() if k != "training"}
    training = run_config.get("training", {})
    if not isinstance(training, dict):
        raise ConfigError("training", f"must be an object, got {training!r}")
    for key, value in training.items():
        if key not in TOP_LEVEL:
            raise ConfigError(f"training.{key}", f"unknown field; allowed: {', '.join(TOP_LEVEL)}")
        flat[key] = value
    return flat


def sectioned(flat: dict[str, Any]) -> dict[str, Any]:
    """The inverse of ``flatten``: training fields gathered under "training"."""
    out = {k: v for k, v in flat.items() if k not in TOP_LEVEL}
    out["training"] = {k: v for k, v in flat.items() if k in TOP_LEVEL}
    return out


@dataclass(frozen=True)
class RunConfig:
    """A validated config: the normalised dict plus what was resolved from it."""

    config: dict[str, Any]
    dataset: datasets.Dataset | datasets.DatasetShape | None  # a shape: validated from facts
    total_steps: int
    steps_per_epoch: int  # 0 for a point model


def resolve(config: dict[str, Any], load_dataset=datasets.load) -> RunConfig:
    """Validate ``config`` against the catalog and return it normalised (defaults filled).
    ``load_dataset`` lets the caller share loaded datasets between runs, or answer with a
    DatasetShape (a pushed file's facts, no arrays) where validating is all it does; the
    options a shape pins (the pushed file's sha256) go into the normalised config."""
    if not isinstance(config, dict):
        raise ConfigError("config", f"must be an object, got {type(config).__name__}")
    unknown = sorted(set(config) - set(TOP_LEVEL) - set(SECTIONS))
    if unknown:
        raise ConfigError(unknown[0], f"unknown field; allowed: "
                                      f"{', '.join([*SECTIONS, *TOP_LEVEL])}")
    top = validate(TOP_LEVEL, {k: v for k, v in config.items() if k in TOP_LEVEL}, "a run")
    model_spec = _section(config, "model", "kind", required=True)
    optimizer_spec = _section(config, "optimizer", "name", required=True)
    schedule_spec = config.get("schedule")
    schedule = create_schedule(schedule_spec).spec()  # validates, raising schedule.<field>
    optimizer_spec = _check_optimizer(optimizer_spec)
    if (top["epochs"] is None) == (top["steps"] is None):
        raise ConfigError("epochs", "give exactly one of epochs and steps")

    if model_spec["kind"] == "point":
        if "dataset" in config:
            raise ConfigError("dataset", "a point model optimises a 2-D function; it takes no "
                                         "dataset")
        if top["steps"] is None:
            raise ConfigError("steps", "a point model counts steps, not epochs")
        model_spec = _check_model(model_spec, None)
        normal = {**_jsonable(top), "model": model_spec, "optimizer": optimizer_spec,
                  "schedule": schedule}
        return RunConfig(normal, None, top["steps"], 0)

    dataset_spec = _section(config, "dataset", "name", required=True)
    options = {k: v for k, v in dataset_spec.items() if k not in ("name", "seed")}
    seed = dataset_spec.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError("dataset.seed", f"must be an integer >= 0, got {seed!r}")
    data = load_dataset(dataset_spec["name"], seed=seed, **options)
    model_spec = _check_model(model_spec, data)
    n_train = data.n_train
    if top["batch_size"] > n_train:
        raise ConfigError("batch_size", f"must be <= {n_train} (the training set size), got "
                                        f"{top['batch_size']}")
    steps_per_epoch = -(-n_train // top["batch_size"])
    total = top["steps"] if top["steps"] is not None else top["epochs"] * steps_per_epoch
    normal = {**_jsonable(top), "dataset": {**dataset_spec, **data.pinned, "seed": seed},
              "model": model_spec, "optimizer": optimizer_spec, "schedule": schedule}
    return RunConfig(normal, data, total, steps_per_epoch)


def _section(config: dict, key: str, name_field: str, required: bool) -> dict[str, Any]:
    value = config.get(key)
    if isinstance(value, str):
        value = {name_field: value}
    if value is None and required:
        raise ConfigError(key, "is required")
    if not isinstance(value, dict) or name_field not in value:
        raise ConfigError(key, f"must be a name or an object with a {name_field!r}, "
                               f"got {value!r}")
    return dict(value)


def _check_optimizer(spec: dict[str, Any]) -> dict[str, Any]:
    """Validate the optimizer section; return it with every hyperparameter filled in."""
    options = {k: v for k, v in spec.items() if k != "name"}
    try:
        opt = create_optimizer(spec["name"], **options)
    except ConfigError as exc:
        raise exc.within("optimizer") from None
    normal = {"name": spec["name"], "convention": opt.convention, **_jsonable(opt.hyper)}
    if opt.clip_grad_norm is not None:
        normal["clip_grad_norm"] = opt.clip_grad_norm
    return normal


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    """Defaults filled by validation, as JSON values: tuples as lists, unset options dropped
    (so that a normalised config validates again to itself)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items() if v is not None}


def _check_model(spec: dict[str, Any],
                 data: datasets.Dataset | datasets.DatasetShape | None) -> dict[str, Any]:
    spec = dict(spec)
    if data is not None:
        for field_name, actual in (("input_dim", data.input_dim), ("output_dim", data.output_dim)):
            if spec.setdefault(field_name, actual) != actual:
                raise ConfigError(f"model.{field_name}", f"must be {actual} for dataset "
                                                         f"{data.name!r}, got {spec[field_name]!r}")
    options = {k: v for k, v in spec.items() if k != "kind"}
    try:
        values = models.check(spec["kind"], data.task if data else "classification", options)
    except ConfigError as exc:
        raise exc.within("model") from None
    return {"kind": spec["kind"], **_jsonable(values)}
