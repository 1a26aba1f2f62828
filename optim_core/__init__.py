"""optim_core: first-order optimizers, learning-rate schedules and 2-D test functions in pure
NumPy, exact to torch.optim (``convention="torch"``) and to the book "Deep Learning from
Scratch" (``convention="book"``).

    opt = optim_core.create("adam", lr=1e-3)
    opt.step(params, grads)          # dict[str, ndarray] each; params updated in place
    optim_core.catalog()             # every optimizer and schedule, with defaults and bounds
    optim_core.trajectory("anisotropic", "adam", steps=30)
    for event in optim_core.train(config): …   # Metrics, Checkpoint, then Finished
"""

from . import datasets, functions, kernels, models, schedules
from .catalog import catalog
from .errors import ConfigError
from .optimizers import Optimizer, StepReport, create
from .training import Checkpoint, Finished, Metrics, train
from .trajectory import trajectory

__all__ = ["Checkpoint", "ConfigError", "Finished", "Metrics", "Optimizer", "StepReport",
           "catalog", "create", "datasets", "functions", "kernels", "models", "schedules", "train",
           "trajectory"]
