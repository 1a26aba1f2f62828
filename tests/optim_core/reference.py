"""Reference implementations for the tests, written the plain way (new arrays, no in-place
tricks) from the algorithm boxes in torch.optim's documentation and from the book's
common/optimizer.py. optim_core must agree with them."""

from __future__ import annotations

import math

import numpy as np


def torch_rule(name: str, h: dict, params: dict, grad_seq: list[dict], lrs=None, clip=None):
    """Run ``len(grad_seq)`` steps of torch's algorithm; return the list of param dicts after
    each step."""
    params = {k: v.copy() for k, v in params.items()}
    state = {k: {"t": 0} for k in params}
    history = []
    for i, grads in enumerate(grad_seq):
        lr = h["lr"] if lrs is None else lrs[i]
        if clip is not None:
            norm = math.sqrt(sum(float((g * g).sum()) for g in grads.values()))
            coef = clip / (norm + 1e-6)
            if coef < 1:
                grads = {k: g * coef for k, g in grads.items()}
        for k in params:
            params[k] = _torch_update(name, h, params[k], grads[k], lr, state[k])
        history.append({k: v.copy() for k, v in params.items()})
    return history


def _torch_update(name, h, p, g, lr, st):
    st["t"] += 1
    t = st["t"]
    if h.get("maximize"):
        g = -g
    if name in ("sgd", "momentum", "nesterov"):
        if h["weight_decay"]:
            g = g + h["weight_decay"] * p
        mu = h["momentum"]
        if mu:
            # the "nesterov" optimizer pins nesterov=True and dampening=0
            dampening, nesterov = h.get("dampening", 0.0), h.get("nesterov", name == "nesterov")
            st["buf"] = g.copy() if t == 1 else mu * st["buf"] + (1 - dampening) * g
            g = g + mu * st["buf"] if nesterov else st["buf"]
        return p - lr * g
    if name == "adagrad":
        if h["weight_decay"]:
            g = g + h["weight_decay"] * p
        st.setdefault("sum", np.full_like(p, h["initial_accumulator_value"]))
        clr = lr / (1 + (t - 1) * h["lr_decay"])
        st["sum"] = st["sum"] + g * g
        return p - clr * g / (np.sqrt(st["sum"]) + h["eps"])
    if name == "rmsprop":
        if h["weight_decay"]:
            g = g + h["weight_decay"] * p
        a = h["alpha"]
        st["v"] = a * st.get("v", 0 * p) + (1 - a) * g * g
        if h["centered"]:
            st["ga"] = _lerp(st.get("ga", 0 * p), g, 1 - a)
            avg = np.sqrt(st["v"] - st["ga"] * st["ga"]) + h["eps"]
        else:
            avg = np.sqrt(st["v"]) + h["eps"]
        if h["momentum"] > 0:
            st["buf"] = h["momentum"] * st.get("buf", 0 * p) + g / avg
            return p - lr * st["buf"]
        return p - lr * g / avg
    if name in ("adam", "adamw"):
        b1, b2 = h["betas"]
        if name == "adamw":
            p = p * (1 - lr * h["weight_decay"])
        elif h["weight_decay"]:
            g = g + h["weight_decay"] * p
        st["m"] = _lerp(st.get("m", 0 * p), g, 1 - b1)
        st["v"] = b2 * st.get("v", 0 * p) + (1 - b2) * g * g
        v = st["v"]
        if h["amsgrad"]:
            st["vmax"] = v = np.maximum(st.get("vmax", 0 * p), v)
        denom = np.sqrt(v) / math.sqrt(1 - b2**t) + h["eps"]
        return p - (lr / (1 - b1**t)) * st["m"] / denom
    raise AssertionError(name)


def _lerp(start, end, w):
    return start + w * (end - start) if w < 0.5 else end - (end - start) * (1 - w)


# --- the book's common/optimizer.py, transcribed (Nesterov in its corrected form) ----------

def _zeros_like(params):
    return {key: np.zeros_like(val) for key, val in params.items()}


class BookSGD:
    def __init__(self, lr=0.01):
        self.lr = lr

    def update(self, params, grads):
        for key in params.keys():
            params[key] -= self.lr * grads[key]


class BookMomentum:
    def __init__(self, lr=0.01, momentum=0.9):
        self.lr, self.momentum, self.v = lr, momentum, None

    def update(self, params, grads):
        if self.v is None:
            self.v = _zeros_like(params)
        for key in params.keys():
            self.v[key] = self.momentum * self.v[key] - self.lr * grads[key]
            params[key] += self.v[key]


class BookNesterov(BookMomentum):  # the book's constructor and velocity are Momentum's
    def update(self, params, grads):
        if self.v is None:
            self.v = _zeros_like(params)
        for key in params.keys():
            params[key] += self.momentum * self.momentum * self.v[key]
            params[key] -= (1 + self.momentum) * self.lr * grads[key]
            self.v[key] *= self.momentum
            self.v[key] -= self.lr * grads[key]


class BookAdaGrad:
    def __init__(self, lr=0.01):
        self.lr, self.h = lr, None

    def update(self, params, grads):
        if self.h is None:
            self.h = _zeros_like(params)
        for key in params.keys():
            self.h[key] += grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + 1e-7)


class BookRMSprop:
    def __init__(self, lr=0.01, decay_rate=0.99):
        self.lr, self.decay_rate, self.h = lr, decay_rate, None

    def update(self, params, grads):
        if self.h is None:
            self.h = _zeros_like(params)
        for key in params.keys():
            self.h[key] *= self.decay_rate
            self.h[key] += (1 - self.decay_rate) * grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + 1e-7)


class BookAdam:
    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr, self.beta1, self.beta2 = lr, beta1, beta2
        self.iter, self.m, self.v = 0, None, None

    def update(self, params, grads):
        if self.m is None:
            self.m = _zeros_like(params)
            self.v = _zeros_like(params)
        self.iter += 1
        lr_t = self.lr * np.sqrt(1.0 - self.beta2**self.iter) / (1.0 - self.beta1**self.iter)
        for key in params.keys():
            self.m[key] += (1 - self.beta1) * (grads[key] - self.m[key])
            self.v[key] += (1 - self.beta2) * (grads[key] ** 2 - self.v[key])
            params[key] -= lr_t * self.m[key] / (np.sqrt(self.v[key]) + 1e-7)


BOOK = {"sgd": BookSGD, "momentum": BookMomentum, "nesterov": BookNesterov,
        "adagrad": BookAdaGrad, "rmsprop": BookRMSprop, "adam": BookAdam}


def random_problem(seed: int, steps: int, dtype=np.float64):
    """Parameters of a few shapes and a sequence of random gradients."""
    rng = np.random.default_rng(seed)
    shapes = {"W1": (7, 5), "b1": (5,), "W2": (5, 3), "s": ()}
    params = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    grads = [{k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
             for _ in range(steps)]
    return params, grads
