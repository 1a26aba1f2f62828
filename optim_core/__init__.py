"""optim_core: first-order optimizers, learning-rate schedules and 2-D test functions in pure
NumPy, exact to torch.optim (``convention="torch"``) and to the book "Deep Learning from
Scratch" (``convention="book"``).

    opt = optim_core.create("adam", lr=1e-3)
    opt.step(params, grads)          # dict[str, ndarray] each; params updated in place
    optim_core.catalog()             # every optimizer and schedule, with defaults and bounds
    optim_core.trajectory("anisotropic", "adam", steps=30)
"""

from . import functions, schedules
from .catalog import catalog
from .errors import ConfigError
from .optimizers import Optimizer, StepReport, create
from .trajectory import trajectory

__all__ = ["ConfigError", "Optimizer", "StepReport", "catalog", "create", "functions",
           "schedules", "trajectory"]
