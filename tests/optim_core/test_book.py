"""convention="book" against the book's own code (transcribed in reference.py), value for value,
and the chapter-6 trajectory experiment of the course note."""

import numpy as np
import pytest

import optim_core

from .reference import BOOK, random_problem

BOOK_LRS = {"sgd": 0.95, "momentum": 0.1, "adagrad": 1.5, "adam": 0.3}  # the seed's figure


def book_run(name, lr, params, grad_seq, **kw):
    ref = BOOK[name](lr=lr, **kw)
    params = {k: v.copy() for k, v in params.items()}
    history = []
    for grads in grad_seq:
        ref.update(params, grads)
        history.append({k: v.copy() for k, v in params.items()})
    return history


@pytest.mark.parametrize("name", sorted(BOOK))
def test_200_steps_equal_the_books_code_bit_for_bit(name):
    params, grad_seq = random_problem(seed=11, steps=200)
    opt = optim_core.create(name, lr=0.05, convention="book")
    ours = {k: v.copy() for k, v in params.items()}
    expected = book_run(name, 0.05, params, grad_seq)
    for step, grads in enumerate(grad_seq):
        opt.step(ours, {k: g.copy() for k, g in grads.items()})
        for k in ours:
            np.testing.assert_array_equal(ours[k], expected[step][k], err_msg=f"step {step + 1}")


def test_book_hyperparameters_follow_the_book():
    opt = optim_core.create("rmsprop", lr=0.05, alpha=0.9, convention="book")
    params, grad_seq = random_problem(seed=5, steps=50)
    expected = book_run("rmsprop", 0.05, params, grad_seq, decay_rate=0.9)[-1]
    ours = {k: v.copy() for k, v in params.items()}
    for grads in grad_seq:
        opt.step(ours, grads)
    for k in ours:
        np.testing.assert_array_equal(ours[k], expected[k])


def book_trajectory(name):
    """The book's ch06/optimizer_compare_naive.py loop, for one optimizer: 30 updates."""
    optimizer = BOOK[name](lr=BOOK_LRS[name])
    params = {"x": -7.0, "y": 2.0}
    grads = {}
    history = []
    for _ in range(30):
        history.append((params["x"], params["y"]))
        grads["x"], grads["y"] = params["x"] / 10.0, 2.0 * params["y"]
        optimizer.update(params, grads)
    history.append((params["x"], params["y"]))
    return np.array(history, dtype=np.float64)


@pytest.mark.parametrize("name", sorted(BOOK_LRS))
def test_seed_trajectories_equal_the_books_point_by_point(name):
    ours = optim_core.trajectory("anisotropic",
                                 optim_core.create(name, lr=BOOK_LRS[name], convention="book"),
                                 start=(-7.0, 2.0), steps=30)
    assert ours.shape == (31, 2)
    np.testing.assert_array_equal(ours, book_trajectory(name))


def test_seed_experiment_shows_the_books_picture():
    paths = {name: optim_core.trajectory("anisotropic",
                                         optim_core.create(name, lr=lr, convention="book"))
             for name, lr in BOOK_LRS.items()}
    sgd_y = paths["sgd"][:, 1]
    # SGD zig-zags in y: the sign of y flips at every one of the 30 steps
    assert np.all(np.sign(sgd_y[1:]) == -np.sign(sgd_y[:-1]))
    assert np.count_nonzero(np.diff(np.sign(paths["adam"][:, 1]))) < 5
    distance = {name: float(np.hypot(*path[-1])) for name, path in paths.items()}
    assert distance["adagrad"] < distance["sgd"]
    assert distance["adam"] < distance["sgd"]


@pytest.mark.parametrize("name", ["momentum", "nesterov"])
def test_book_and_torch_momentum_visit_the_same_points_with_constant_lr(name):
    # documented in optimizers/book.py: v = −η·b, so the paths agree up to rounding
    book = optim_core.trajectory("rosenbrock", optim_core.create(name, lr=1e-3, convention="book"),
                                 steps=200)
    torch = optim_core.trajectory("rosenbrock", optim_core.create(name, lr=1e-3), steps=200)
    np.testing.assert_allclose(book, torch, rtol=1e-9, atol=1e-12)


def test_book_defaults_are_the_books():
    assert optim_core.create("sgd", convention="book").hyper == {"lr": 0.01}
    assert optim_core.create("adam", convention="book").hyper == {
        "lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-7}
    assert optim_core.create("adagrad", convention="book").hyper == {"lr": 0.01, "eps": 1e-7}
