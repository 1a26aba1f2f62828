"""The experiments ``optrack up --demo`` submits: the book's chapter-6 comparison on digits,
the 2-D trajectory experiment on x²/20 + y², a small adaptive search (TPE with ASHA early
stopping) for the optimizer and learning rate on digits, and a small fair comparison of the
four optimizers (each its own tuned learning rate, then three fresh seeds)."""

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

SEARCH = {
    "name": "which optimizer and learning rate? TPE + ASHA on digits",
    "tags": ["ch6", "demo", "search"],
    "dataset": "digits",
    "model": {"kind": "mlp", "hidden": [100, 100]},
    "optimizer": {"name": "adam"},
    "training": {"epochs": 9, "batch_size": 128, "seed": 0},
    "search": {"method": "tpe", "trials": 24, "parallelism": 4, "seed": 0,
               "objective": {"metric": "val_loss", "mode": "min"},
               "space": {"optimizer.name": {"choice": ["sgd", "momentum", "adagrad", "adam"]},
                         "optimizer.lr": {"log_uniform": [1e-4, 1.0]}},
               "pruner": {"name": "asha", "min_resource": 1, "reduction_factor": 3}},
}

COMPARISON = {
    "name": "chapter 6 done fairly: each optimizer's lr tuned, then 3 seeds",
    "tags": ["ch6", "demo", "compare"],
    "dataset": "digits",
    "model": {"kind": "mlp", "hidden": [100, 100]},
    "optimizer": {"convention": "book"},
    "training": {"epochs": 6, "batch_size": 128, "seed": 0},
    "search": {"method": "compare", "optimizers": ["sgd", "momentum", "adagrad", "adam"],
               "tune": {"optimizer.lr": {"log_uniform": [1e-4, 1.0]}},
               "budget": 6, "sampler": "tpe", "final_seeds": 3, "seed": 0, "parallelism": 4,
               "objective": {"metric": "val_loss", "mode": "min"},
               "pruner": {"name": "asha", "min_resource": 1, "reduction_factor": 3}},
}

EXPERIMENTS = [CHAPTER_6, TRAJECTORIES, SEARCH, COMPARISON]
