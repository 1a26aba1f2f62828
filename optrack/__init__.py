"""optrack's client side: the Python SDK and the one REST client that the SDK, the command
line and the worker share.

    import optrack
    with optrack.init(project="vision", experiment="resnet sweep", name="lr=3e-4",
                      config={"optimizer": {"name": "adam", "lr": 3e-4}}) as run:
        for step in range(10_000):
            run.log({"train_loss": loss}, step=step)   # returns at once
"""

from .client import ApiError, Client, Unreachable
from .run import Run, ask, init
from .spool import sync

__all__ = ["ApiError", "Client", "Run", "Unreachable", "ask", "init", "sync"]
