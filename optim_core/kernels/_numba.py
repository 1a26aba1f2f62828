"""The fused kernels, compiled by numba: one loop per update rule over flat arrays, reading and
writing each element once instead of once per NumPy operation.

Every kernel performs, element by element, exactly the operations of the readable NumPy rule in
optim_core/optimizers/ in the same order and in the arrays' dtype (scalars arrive already cast
to it, as NumPy casts a Python float), so the results are bit-identical to that rule. That holds
because fastmath stays off: LLVM then neither reorders floating-point operations nor contracts a
multiply and an add into an FMA; it still vectorises the loops, with IEEE-exact vector sqrt and
division. ``error_model="numpy"`` lets x/0 give inf like NumPy instead of raising, which is also
what allows the divisions to vectorise. Flags are plain booleans; LLVM moves their tests out of
the loops.
"""

from __future__ import annotations

import math

import numba

_jit = numba.njit(cache=True, nogil=True, error_model="numpy")


@_jit
def _effective_grad(p, g, weight_decay, decay, maximize):
    """common.effective_grad for one element: (λθ) − g or (λθ) + g, else −g or g."""
    if decay:
        t = p * weight_decay
        return t - g if maximize else t + g
    return -g if maximize else g


@_jit
def _lerp(start, end, weight, small):
    """common.lerp_ for one element; ``weight`` is w when ``small`` (w < 0.5), else 1 − w."""
    t = end - start
    return start + t * weight if small else end - t * weight


@_jit
def sgd(p, g, weight_decay, decay, maximize, neg_lr):
    """sgd.SGD._update without momentum."""
    for i in range(p.shape[0]):
        p[i] = p[i] + _effective_grad(p[i], g[i], weight_decay, decay, maximize) * neg_lr


@_jit
def sgd_momentum(p, g, buf, weight_decay, decay, maximize, momentum, first, keep, dampen,
                 nesterov, neg_lr):
    """sgd.SGD._update with momentum; ``keep`` is 1 − dampening, ``first`` starts the buffer
    at d."""
    for i in range(p.shape[0]):
        d = _effective_grad(p[i], g[i], weight_decay, decay, maximize)
        if first:
            b = d
        elif dampen:
            b = buf[i] * momentum + d * keep
        else:
            b = buf[i] * momentum + d
        buf[i] = b
        p[i] = p[i] + (b * momentum + d if nesterov else b) * neg_lr


@_jit
def adagrad(p, g, acc, weight_decay, decay, maximize, eps, neg_clr):
    """adaptive.Adagrad._update (its ``value·g·g`` has value 1, an exact product)."""
    for i in range(p.shape[0]):
        d = _effective_grad(p[i], g[i], weight_decay, decay, maximize)
        s = acc[i] + d * d
        acc[i] = s
        p[i] = p[i] + (d * neg_clr) / (math.sqrt(s) + eps)


# RMSprop in four loops, one per set of state arrays, and Adam in two: a loop that names an
# array it does not use still costs (LLVM checks it for overlap, and may load from it).

@_jit
def _rmsprop_square(p, g, sq, weight_decay, decay, maximize, alpha, one_minus_alpha):
    """RMSprop's effective gradient and new square average for one element."""
    d = _effective_grad(p, g, weight_decay, decay, maximize)
    return d, sq * alpha + (d * one_minus_alpha) * d


@_jit
def rmsprop(p, g, sq, weight_decay, decay, maximize, alpha, one_minus_alpha, eps, neg_lr):
    """adaptive.RMSprop._update, neither centered nor with momentum."""
    for i in range(p.shape[0]):
        d, s = _rmsprop_square(p[i], g[i], sq[i], weight_decay, decay, maximize, alpha,
                               one_minus_alpha)
        sq[i] = s
        p[i] = p[i] + (d * neg_lr) / (math.sqrt(s) + eps)


@_jit
def rmsprop_momentum(p, g, sq, buf, weight_decay, decay, maximize, alpha, one_minus_alpha, eps,
                     momentum, neg_lr):
    """adaptive.RMSprop._update with momentum, not centered."""
    for i in range(p.shape[0]):
        d, s = _rmsprop_square(p[i], g[i], sq[i], weight_decay, decay, maximize, alpha,
                               one_minus_alpha)
        sq[i] = s
        b = buf[i] * momentum + d / (math.sqrt(s) + eps)
        buf[i] = b
        p[i] = p[i] + b * neg_lr


@_jit
def _rmsprop_centered_parts(p, g, sq, grad_avg, weight_decay, decay, maximize, alpha,
                            one_minus_alpha, eps, lerp_weight, lerp_small):
    """Centered RMSprop for one element: d, the new square and gradient averages, and the
    denominator √(v − ḡ²) + ε."""
    d, s = _rmsprop_square(p, g, sq, weight_decay, decay, maximize, alpha, one_minus_alpha)
    a = _lerp(grad_avg, d, lerp_weight, lerp_small)
    return d, s, a, math.sqrt((-a) * a + s) + eps


@_jit
def rmsprop_centered(p, g, sq, grad_avg, weight_decay, decay, maximize, alpha, one_minus_alpha,
                     eps, lerp_weight, lerp_small, neg_lr):
    """adaptive.RMSprop._update, centered, without momentum."""
    for i in range(p.shape[0]):
        d, sq[i], grad_avg[i], den = _rmsprop_centered_parts(
            p[i], g[i], sq[i], grad_avg[i], weight_decay, decay, maximize, alpha,
            one_minus_alpha, eps, lerp_weight, lerp_small)
        p[i] = p[i] + (d * neg_lr) / den


@_jit
def rmsprop_centered_momentum(p, g, sq, grad_avg, buf, weight_decay, decay, maximize, alpha,
                              one_minus_alpha, eps, lerp_weight, lerp_small, momentum, neg_lr):
    """adaptive.RMSprop._update, centered and with momentum."""
    for i in range(p.shape[0]):
        d, sq[i], grad_avg[i], den = _rmsprop_centered_parts(
            p[i], g[i], sq[i], grad_avg[i], weight_decay, decay, maximize, alpha,
            one_minus_alpha, eps, lerp_weight, lerp_small)
        b = buf[i] * momentum + d / den
        buf[i] = b
        p[i] = p[i] + b * neg_lr


@_jit
def _adam_moments(p, g, m, v, rule):
    """Adam's θ (decayed first for AdamW), first moment and second moment for one element;
    ``rule`` holds (decoupled, decay_factor, weight_decay, decay, maximize, lerp_weight,
    lerp_small, beta2, one_minus_beta2)."""
    decoupled, decay_factor, weight_decay, decay, maximize, w, small, beta2, one_minus_beta2 = rule
    pi = p * decay_factor if decoupled else p
    d = _effective_grad(pi, g, weight_decay, decay, maximize)
    return pi, _lerp(m, d, w, small), v * beta2 + (d * one_minus_beta2) * d


@_jit
def adam(p, g, m, v, rule, bias_correction2_sqrt, eps, neg_step_size):
    """adam.Adam._update without amsgrad (AdamW when decoupled)."""
    for i in range(p.shape[0]):
        pi, mi, v[i] = _adam_moments(p[i], g[i], m[i], v[i], rule)
        m[i] = mi
        p[i] = pi + (mi * neg_step_size) / (math.sqrt(v[i]) / bias_correction2_sqrt + eps)


@_jit
def adam_amsgrad(p, g, m, v, v_max, rule, bias_correction2_sqrt, eps, neg_step_size):
    """adam.Adam._update with amsgrad: the step divides by the running maximum of v."""
    for i in range(p.shape[0]):
        pi, mi, vi = _adam_moments(p[i], g[i], m[i], v[i], rule)
        m[i] = mi
        v[i] = vi
        previous = v_max[i]
        if previous > vi or previous != previous:  # np.maximum, NaN included
            vi = previous
        v_max[i] = vi
        p[i] = pi + (mi * neg_step_size) / (math.sqrt(vi) / bias_correction2_sqrt + eps)
