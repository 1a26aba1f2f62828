"""Searches: the ``search`` section of a request (spec.py), configs from sampled parameters
(configs.py), adaptive trials asked of Optuna's samplers (trials.py), and early stopping by
Optuna's pruners (pruning.py, pruners.py). Below the queue: a trial that ends asks here for its
successors."""
