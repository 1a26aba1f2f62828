"""The experiments ``optrack up --demo`` submits: the book's chapter-6 comparison on digits and
the 2-D trajectory experiment on x²/20 + y²."""

CHAPTER_6 = {
    "name": "chapter 6: SGD, Momentum, AdaGrad, Adam on digits",
    "tags": ["ch6", "demo"],
    "dataset": "digits",
    "model": {"kind": "mlp", "hidden": [100, 100, 100, 100]},
    "optimizer": [{"name": "sgd", "lr": 0.01, "convention": "book"},
                  {"name": "momentum", "lr": 0.01, "convention": "book"},
                  {"name": "adagrad", "lr": 0.01, "convention": "book"},
                  {"name": "adam", "lr": 0.001, "convention": "book"}],
    "training": {"epochs": 10, "batch_size": 128, "seed": 0},
}

TRAJECTORIES = {
    "name": "chapter 6: optimizer paths on x²/20 + y²",
    "tags": ["ch6", "demo", "trajectory"],
    "model": {"kind": "point", "function": "anisotropic"},
    "optimizer": [{"name": "sgd", "lr": 0.95, "convention": "book"},
                  {"name": "momentum", "lr": 0.1, "convention": "book"},
                  {"name": "adagrad", "lr": 1.5, "convention": "book"},
                  {"name": "adam", "lr": 0.3, "convention": "book"}],
    "training": {"steps": 30},
}

EXPERIMENTS = [CHAPTER_6, TRAJECTORIES]
