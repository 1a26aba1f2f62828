"""The fused kernels (optim_core.kernels) against the readable NumPy rules they replace: every
optimizer and option combination, several steps under a schedule, float64 and float32, results
and optimizer state bit-identical; arrays the kernels do not take fall back to the rules."""

import itertools
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import optim_core
from optim_core import kernels
from optim_core.optimizers import OPTIMIZERS

try:
    from optim_core.kernels import _numba as numba_kernels
except ImportError:  # the fallback tests at the end still run
    numba_kernels = None
needs_numba = pytest.mark.skipif(numba_kernels is None,
                                 reason="numba (the 'fast' extra) is not installed")

STEPS = 12
SCHEDULE = {"name": "linear_warmup", "warmup_steps": 4, "start_factor": 0.3,
            "then": {"name": "cosine", "T_max": 8, "eta_min": 1e-4}}
SHAPES = {"W": (37, 29), "b": (29,), "s": ()}  # long enough for vector loops and their tails


def combos(name, **options):
    keys = list(options)
    return [(name, dict(zip(keys, values))) for values in itertools.product(*options.values())]


ON_OFF = (False, True)
CASES = [
    *[(n, h) for n, h in combos("sgd", momentum=(0.0, 0.9), dampening=(0.0, 0.5),
                                nesterov=ON_OFF, weight_decay=(0.0, 0.1), maximize=ON_OFF)
      if not h["nesterov"] or (h["momentum"] > 0 and h["dampening"] == 0)],
    *[(n, h) for n, h in combos("momentum", dampening=(0.0, 0.5), nesterov=ON_OFF,
                                weight_decay=(0.0, 0.1), maximize=ON_OFF)
      if not (h["nesterov"] and h["dampening"])],
    *combos("nesterov", momentum=(0.5, 0.9), weight_decay=(0.0, 0.1), maximize=ON_OFF),
    *combos("adagrad", lr_decay=(0.0, 0.01), weight_decay=(0.0, 0.1),
            initial_accumulator_value=(0.0, 0.5), maximize=ON_OFF),
    # alpha 0.3 makes 1 − α ≥ 0.5: the other branch of the centered average's lerp
    *combos("rmsprop", alpha=(0.99, 0.3), momentum=(0.0, 0.5), centered=ON_OFF,
            weight_decay=(0.0, 0.1), maximize=ON_OFF),
    # β1 = 0.3 likewise takes the other branch of the first moment's lerp
    *combos("adam", betas=((0.9, 0.999), (0.3, 0.9)), amsgrad=ON_OFF, weight_decay=(0.0, 0.1),
            maximize=ON_OFF),
    *combos("adamw", betas=((0.9, 0.999), (0.3, 0.9)), amsgrad=ON_OFF, weight_decay=(0.0, 0.5),
            maximize=ON_OFF),
]
FAMILY = {"sgd": "sgd", "momentum": "sgd", "nesterov": "sgd", "adagrad": "adagrad",
          "rmsprop": "rmsprop", "adam": "adam", "adamw": "adam"}  # kernels' names start so
KERNELS = ["sgd", "sgd_momentum", "adagrad", "rmsprop", "rmsprop_momentum", "rmsprop_centered",
           "rmsprop_centered_momentum", "adam", "adam_amsgrad"]


@pytest.fixture(autouse=True)
def restore_backend(monkeypatch):
    monkeypatch.setattr(kernels, "MIN_SIZE", 0)  # the small and 0-d tensors take the kernels too
    yield
    kernels.select()


@pytest.fixture
def kernel_calls(monkeypatch):
    """Counts calls of each numba kernel, so a test knows the fast path really ran."""
    calls = dict.fromkeys(KERNELS, 0)
    for rule in calls:
        def counted(*args, _rule=rule, _kernel=getattr(numba_kernels, rule)):
            calls[_rule] += 1
            return _kernel(*args)
        monkeypatch.setattr(numba_kernels, rule, counted)
    return calls


def problem(dtype, seed=0):
    rng = np.random.default_rng(seed)
    params = {k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}
    grads = [{k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}
             for _ in range(STEPS)]
    grads[3]["W"][::5] = 0.0  # zero gradients: an exact 0 through every formula
    return params, grads


def run(backend, name, hyper, params, grad_seq, **kw):
    """Every step's parameters and the final optimizer state, on the given path."""
    assert kernels.select(backend) == backend
    opt = optim_core.create(name, lr=0.05, schedule=SCHEDULE, **hyper, **kw)
    params = {k: v.copy() for k, v in params.items()}
    history = []
    for grads in grad_seq:
        assert opt.step(params, {k: g.copy() for k, g in grads.items()}).applied
        history.append({k: v.copy() for k, v in params.items()})
    return history, opt.state


def assert_same_run(fast, reference):
    (fast_history, fast_state), (ref_history, ref_state) = fast, reference
    for step, (a, b) in enumerate(zip(fast_history, ref_history, strict=True)):
        for k in b:
            np.testing.assert_array_equal(a[k], b[k], err_msg=f"step {step + 1}, param {k}")
    assert fast_state.keys() == ref_state.keys()
    for key, slots in ref_state.items():
        assert fast_state[key].keys() == slots.keys(), key
        for slot, value in slots.items():
            np.testing.assert_array_equal(fast_state[key][slot], value, err_msg=f"{key}.{slot}")
            assert np.asarray(fast_state[key][slot]).dtype == np.asarray(value).dtype


@needs_numba
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,hyper", CASES, ids=[f"{n}-{h}" for n, h in CASES])
def test_fused_kernel_is_bit_identical_to_the_numpy_rule(name, hyper, dtype, kernel_calls):
    # fastmath off: the kernels round exactly as the NumPy rules do, in both precisions
    params, grad_seq = problem(np.dtype(dtype))
    reference = run("numpy", name, hyper, params, grad_seq)
    assert sum(kernel_calls.values()) == 0
    fast = run("numba", name, hyper, params, grad_seq)
    used = {k: n for k, n in kernel_calls.items() if n}
    assert sum(used.values()) == STEPS * len(SHAPES)
    assert all(k.startswith(FAMILY[name]) for k in used), used
    assert_same_run(fast, reference)


def test_every_optimizer_is_covered_by_the_cases():
    assert {n for n, _ in CASES} == set(OPTIMIZERS["torch"])


@needs_numba
def test_every_kernel_is_counted():
    assert sorted(KERNELS) == sorted(name for name, value in vars(numba_kernels).items()
                                     if hasattr(value, "py_func") and not name.startswith("_"))


@needs_numba
@pytest.mark.parametrize("name", sorted(FAMILY))
def test_clipped_gradients_take_the_fast_path_identically(name, kernel_calls):
    params, grad_seq = problem(np.float32, seed=5)
    reference = run("numpy", name, {}, params, grad_seq, clip_grad_norm=1.0)
    fast = run("numba", name, {}, params, grad_seq, clip_grad_norm=1.0)
    assert sum(kernel_calls.values()) == STEPS * len(SHAPES)
    assert_same_run(fast, reference)


def odd_layouts(rng):
    """Parameters (and a gradient) that the kernels must refuse, each with its reason."""
    base = rng.standard_normal((12, 10))
    return {
        "transposed": (base.T, rng.standard_normal((10, 12))),
        "strided": (base[:, ::2], rng.standard_normal((12, 5))),
        "fortran": (np.asfortranarray(base), rng.standard_normal((12, 10))),
        "float16": (base.astype(np.float16), rng.standard_normal((12, 10)).astype(np.float16)),
        "gradient strided": (base.copy(), rng.standard_normal((12, 20))[:, ::2]),
    }


@needs_numba
@pytest.mark.parametrize("layout", ["transposed", "strided", "fortran", "float16",
                                    "gradient strided"])
@pytest.mark.parametrize("name", sorted(FAMILY))
def test_unsuitable_arrays_fall_back_to_the_numpy_rule(name, layout, kernel_calls):
    results = []
    for backend in ("numpy", "numba"):
        kernels.select(backend)
        p, g = odd_layouts(np.random.default_rng(1))[layout]  # fresh views, same values
        assert not kernels.applies(p, g)
        opt = optim_core.create(name, lr=0.01, **({"momentum": 0.9} if name == "sgd" else {}))
        for _ in range(3):
            opt.step({"p": p}, {"p": g})
        results.append(p)
    assert sum(kernel_calls.values()) == 0
    np.testing.assert_array_equal(results[1], results[0])


@needs_numba
def test_small_tensors_keep_the_numpy_rules(monkeypatch, kernel_calls):
    monkeypatch.setattr(kernels, "MIN_SIZE", 1024)
    kernels.select("numba")
    small, large = np.ones(1023), np.ones(1024)
    assert not kernels.applies(small, small)
    assert kernels.applies(large, large)
    optim_core.create("adam").step({"w": small}, {"w": small.copy()})
    assert sum(kernel_calls.values()) == 0


@needs_numba
def test_warm_compiles_every_kernel_for_both_dtypes(monkeypatch):
    monkeypatch.setattr(kernels, "MIN_SIZE", 1024)
    kernels.select("numba")
    assert kernels.warm() == "numba"
    for name in KERNELS:
        assert {sig[0].dtype.name for sig in getattr(numba_kernels, name).signatures} == \
            {"float32", "float64"}, name


def test_the_choice_is_validated():
    with pytest.raises(optim_core.ConfigError, match="OPTRACK_KERNELS"):
        kernels.select("fortran")


PROBE = """
import json, sys
{block}
import numpy as np
import optim_core
from optim_core import kernels
params = {{"w": np.ones(5000, np.float32)}}
for name in optim_core.optimizers.OPTIMIZERS["torch"]:
    opt = optim_core.create(name)
    opt.step(params, {{"w": np.full(5000, 0.5, np.float32)}})
print(json.dumps({{"backend": kernels.backend(), "numba": sys.modules.get("numba") is not None,
                  "finite": bool(np.isfinite(params["w"]).all()),
                  "moved": bool((params["w"] < 1).all())}}))
"""
BLOCK_NUMBA = "sys.modules['numba'] = None  # import numba now raises ImportError"


def probe(block: str, choice: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != kernels.ENV}
    if choice is not None:
        env[kernels.ENV] = choice
    return subprocess.run([sys.executable, "-c", PROBE.format(block=block)], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("block,choice", [(BLOCK_NUMBA, None), ("", "numpy")],
                         ids=["numba unimportable", "OPTRACK_KERNELS=numpy"])
def test_without_the_accelerator_the_optimizers_use_the_numpy_rules(block, choice):
    done = probe(block, choice)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"backend": "numpy", "numba": False, "finite": True,
                                       "moved": True}


def test_asking_for_numba_without_it_fails_loudly():
    done = probe(BLOCK_NUMBA, "numba")
    assert done.returncode != 0
    assert "OPTRACK_KERNELS: is 'numba' but numba cannot be imported" in done.stderr


@needs_numba
def test_the_accelerator_is_used_by_default_when_importable():
    done = probe("", None)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["backend"] == "numba"
