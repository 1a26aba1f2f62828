"""Pruners: ``should_prune`` rebuilt from plain records gives, at every report of every trial,
the decision of a live Optuna study with the same pruner, direction and study name that was
asked after each report (Hypothesis: 1–12 trials, up to 30 steps, ties, NaN, interleavings,
both directions). Also: the spec rules of ``validate_pruner``, one bad input at a time."""

from __future__ import annotations

import math
import random

import optuna
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from optuna.pruners import HyperbandPruner, MedianPruner, SuccessiveHalvingPruner
from optuna.trial import TrialState

from service.errors import InvalidInput
from service.search.pruners import (STUDY_NAME, TrialRecord, should_prune,
                                         validate_pruner)

optuna.logging.set_verbosity(optuna.logging.ERROR)  # a log line per study and per tell
pytestmark = [  # Optuna's own, on the NaN values the scenarios report on purpose
    pytest.mark.filterwarnings("ignore:The value nan is not acceptable:UserWarning"),
    pytest.mark.filterwarnings("ignore:All-NaN slice encountered:RuntimeWarning"),
]

NAN = math.nan
REFERENCE_PRUNERS = {"median": MedianPruner, "asha": SuccessiveHalvingPruner,
                     "successive_halving": SuccessiveHalvingPruner,
                     "hyperband": HyperbandPruner}
SERVICE_STATES = {TrialState.COMPLETE: "complete", TrialState.FAIL: "failed"}
PROPERTY = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# a trial is a level plus small moves: trials differ in quality, values tie often, and about
# one report in fifteen is NaN
LEVELS = st.one_of(st.sampled_from([0.0, 1.0, 2.0, 3.0]), st.floats(-3, 3, allow_nan=False))
MOVES = st.sampled_from([0.0, 0.0, 0.5, -0.5, 1.0, 0.25, -1.0, 2.0, -0.25, 0.75, 1.5, 3.0,
                         -2.0, 0.1, NAN])
ENDINGS = st.sampled_from(["complete"] * 4 + ["fail"])


@st.composite
def plans(draw) -> list[tuple[list[float], str]]:
    """1–12 trials, each with 1–30 values and how it ends if never pruned."""
    result = []
    for _ in range(draw(st.sampled_from(range(1, 13)))):
        level, n_steps = draw(LEVELS), draw(st.sampled_from(range(1, 31)))
        moves = draw(st.lists(MOVES, min_size=n_steps, max_size=n_steps))
        result.append(([level + move for move in moves], draw(ENDINGS)))
    return result


PLANS = plans()
DIRECTION = st.sampled_from(["minimize", "maximize"])


def decisions_both_ways(spec: dict, direction: str, plans: list, rnd: random.Random) -> tuple:
    """Drive a live Optuna study and ask ``should_prune`` alongside it at every report.

    Each plan is one trial's values and how it ends ("complete" or "fail") if it is never
    pruned. At each turn ``rnd`` either asks for the next trial or has one running trial
    report its next step; after each report both Optuna and ``should_prune`` (over records
    built from the history so far) decide. Returns both lists of (trial, step, decision)."""
    params = {key: value for key, value in spec.items() if key != "name"}
    study = optuna.create_study(study_name=STUDY_NAME, direction=direction,
                                pruner=REFERENCE_PRUNERS[spec["name"]](**params))
    history: dict[int, TrialRecord] = {}
    live: dict[int, tuple[optuna.Trial, list[float], str]] = {}
    waiting = list(plans)
    optuna_says, we_say = [], []
    while waiting or live:
        pick = rnd.choice((["ask"] if waiting else []) + sorted(live))
        if pick == "ask":
            trial = study.ask()
            live[trial.number] = (trial, *waiting.pop(0))
            history[trial.number] = TrialRecord(trial.number, "running", {})
            continue
        trial, values, ending = live[pick]
        step = len(history[pick].intermediate) + 1
        value = values[step - 1]
        trial.report(value, step)
        history[pick].intermediate[step] = value
        optuna_says.append((pick, step, bool(trial.should_prune())))
        we_say.append((pick, step, should_prune(spec, direction, list(history.values()), pick)))
        state = None
        if optuna_says[-1][2]:
            state = "pruned"
            study.tell(trial, state=TrialState.PRUNED)
        elif step == len(values) and ending == "fail":
            state = "failed"
            study.tell(trial, state=TrialState.FAIL)
        elif step == len(values):
            # Optuna refuses a NaN objective and records the trial as FAIL
            state = SERVICE_STATES[study.tell(trial, value).state]
        if state is not None:
            del live[pick]
            history[pick] = TrialRecord(pick, state, history[pick].intermediate)
    return optuna_says, we_say


@PROPERTY
@given(n_startup_trials=st.integers(0, 4), n_warmup_steps=st.integers(0, 5),
       interval_steps=st.integers(1, 3), direction=DIRECTION, plans=PLANS,
       rnd=st.randoms(use_true_random=False))
def test_median_decides_as_a_live_optuna_study(n_startup_trials, n_warmup_steps,
                                               interval_steps, direction, plans, rnd):
    spec = validate_pruner({"name": "median", "n_startup_trials": n_startup_trials,
                            "n_warmup_steps": n_warmup_steps, "interval_steps": interval_steps})
    optuna_says, we_say = decisions_both_ways(spec, direction, plans, rnd)
    assert we_say == optuna_says


@PROPERTY
@given(name=st.sampled_from(["asha", "successive_halving"]), min_resource=st.integers(1, 3),
       reduction_factor=st.integers(2, 4), min_early_stopping_rate=st.integers(0, 2),
       direction=DIRECTION, plans=PLANS, rnd=st.randoms(use_true_random=False))
def test_asha_decides_as_a_live_optuna_study(name, min_resource, reduction_factor,
                                             min_early_stopping_rate, direction, plans, rnd):
    """From the first rung (rate 0) and from later ones, under both of its names."""
    spec = validate_pruner({"name": name, "min_resource": min_resource,
                            "reduction_factor": reduction_factor,
                            "min_early_stopping_rate": min_early_stopping_rate})
    optuna_says, we_say = decisions_both_ways(spec, direction, plans, rnd)
    assert we_say == optuna_says


@PROPERTY
@given(min_resource=st.integers(1, 3), max_resource=st.integers(3, 30),
       reduction_factor=st.integers(2, 4), direction=DIRECTION, plans=PLANS,
       rnd=st.randoms(use_true_random=False))
def test_hyperband_decides_as_a_live_optuna_study(min_resource, max_resource, reduction_factor,
                                                  direction, plans, rnd):
    spec = validate_pruner({"name": "hyperband", "min_resource": min_resource,
                            "max_resource": max_resource, "reduction_factor": reduction_factor})
    optuna_says, we_say = decisions_both_ways(spec, direction, plans, rnd)
    assert we_say == optuna_says


def records(*trials: tuple[str, dict[int, float]]) -> list[TrialRecord]:
    """Trials numbered 0, 1, 2, … in the order given, as (state, intermediate values)."""
    return [TrialRecord(number, state, values) for number, (state, values) in enumerate(trials)]


ASHA_2 = {"name": "asha", "min_resource": 1, "reduction_factor": 2}


def test_no_pruner_never_prunes():
    trials = records(("complete", {1: 0.0, 2: 0.0}), ("running", {1: NAN, 2: 9.0}))
    assert [should_prune(spec, "minimize", trials, 1)
            for spec in (None, {"name": "none"})] == [False, False]


def test_asha_prunes_a_nan_at_a_rung_and_records_no_rung_for_it():
    nan_now = records(("running", {1: NAN}))
    after_it = records(("pruned", {1: NAN}), ("running", {1: 5.0}))
    # were the NaN recorded at rung 0, 5.0 would be compared with it and lose
    assert [should_prune(ASHA_2, "minimize", nan_now, 0),
            should_prune(ASHA_2, "minimize", after_it, 1)] == [True, False]


def test_asha_trials_pruned_at_a_rung_still_compete_there():
    best, beaten = ("complete", {1: 0.0, 2: 0.0}), ("pruned", {1: 3.0})
    judged = ("running", {1: 1.0})
    # [0, 3, 3, 1]: 1.0 is in the top half; against [0] alone it is not
    assert [should_prune(ASHA_2, "minimize", records(best, beaten, beaten, judged), 3),
            should_prune(ASHA_2, "minimize", records(best, judged), 1)] == [False, True]


def test_asha_judges_the_current_trial_at_its_latest_step_only():
    # rung 0 was crossed (and won) at step 1; step 2 completes rung 1, where 2.0 loses to 1.0
    trials = records(("complete", {1: 1.0, 2: 1.0}), ("running", {1: 0.0, 2: 2.0}))
    assert should_prune(ASHA_2, "minimize", trials, 1) is True


def test_asha_maximize_keeps_the_larger_values():
    trials = records(("complete", {1: 1.0}), ("running", {1: 2.0}))
    assert [should_prune(ASHA_2, direction, trials, 1)
            for direction in ("minimize", "maximize")] == [True, False]


def test_median_counts_only_complete_trials_towards_n_startup_trials():
    spec = {"name": "median", "n_startup_trials": 2}
    good = ("complete", {1: 0.0})
    judged = ("running", {1: 5.0})
    assert [should_prune(spec, "minimize", records(good, judged), 1),
            should_prune(spec, "minimize",
                         records(good, ("pruned", {1: 0.0}), ("failed", {1: 0.0}), judged), 3),
            should_prune(spec, "minimize", records(good, good, judged), 2)] \
        == [False, False, True]


def test_numbers_not_yet_created_are_trials_that_have_reported_nothing():
    first = TrialRecord(0, "complete", {1: 0.0})
    judged = TrialRecord(2, "running", {1: 1.0})
    assert [should_prune(ASHA_2, "minimize", [judged, first], 2),
            should_prune(ASHA_2, "minimize", [first, TrialRecord(1, "running", {}), judged], 2)] \
        == [True, True]


@pytest.mark.parametrize("direction, trials, current, message", [
    ("min", records(("running", {1: 0.0})), 0, "direction must be one of"),
    ("minimize", records(("complete", {1: 0.0})), 0, "trial 0 is not a running trial"),
    ("minimize", records(("running", {1: 0.0})), 1, "trial 1 is not a running trial"),
    ("minimize", [TrialRecord(0, "running", {1: 0.0})] * 2, 0, "trial number 0 is negative or"),
    ("minimize", [TrialRecord(-1, "running", {1: 0.0})], -1, "trial number -1 is negative or"),
    ("minimize", records(("done", {1: 0.0}), ("running", {1: 0.0})), 1, "unknown state 'done'"),
], ids=["direction", "finished", "absent", "repeated", "negative", "state"])
def test_should_prune_refuses_a_call_outside_its_contract(direction, trials, current, message):
    with pytest.raises(ValueError, match=message):
        should_prune(ASHA_2, direction, trials, current)


@pytest.mark.parametrize("spec, normalised", [
    (None, {"name": "none"}),
    ({"name": "none"}, {"name": "none"}),
    ({"name": "median"},
     {"name": "median", "n_startup_trials": 5, "n_warmup_steps": 0, "interval_steps": 1}),
    ({"name": "asha"},
     {"name": "asha", "min_resource": 1, "reduction_factor": 3, "min_early_stopping_rate": 0}),
    ({"name": "successive_halving"}, {"name": "successive_halving", "min_resource": 1,
                                      "reduction_factor": 3, "min_early_stopping_rate": 0}),
    ({"name": "hyperband", "max_resource": 27},
     {"name": "hyperband", "min_resource": 1, "max_resource": 27, "reduction_factor": 3}),
], ids=["null", "none", "median", "asha", "successive_halving", "hyperband"])
def test_validate_pruner_fills_in_the_defaults(spec, normalised):
    assert validate_pruner(spec) == normalised


def test_validate_pruner_keeps_given_values():
    spec = {"name": "hyperband", "min_resource": 3, "max_resource": 3, "reduction_factor": 2}
    assert validate_pruner(spec) == spec


@pytest.mark.parametrize("spec, loc, msg", [
    ("median", "search.pruner", "must be an object, got str"),
    ({"name": "bohb"}, "search.pruner.name",
     "must be one of none, median, asha, successive_halving, hyperband, got 'bohb'"),
    ({}, "search.pruner.name",
     "must be one of none, median, asha, successive_halving, hyperband, got None"),
    ({"name": "median", "patience": 3}, "search.pruner.patience",
     "is not a parameter of median (it takes n_startup_trials, n_warmup_steps, interval_steps)"),
    ({"name": "none", "min_resource": 1}, "search.pruner.min_resource",
     "is not a parameter of none (it takes no parameters)"),
    ({"name": "hyperband", "max_resource": 9, "min_early_stopping_rate": 1},
     "search.pruner.min_early_stopping_rate",
     "is not a parameter of hyperband (it takes min_resource, max_resource, reduction_factor)"),
    ({"name": "asha", "reduction_factor": True}, "search.pruner.reduction_factor",
     "must be an integer >= 2, got True"),
    ({"name": "median", "n_startup_trials": False}, "search.pruner.n_startup_trials",
     "must be an integer >= 0, got False"),
    ({"name": "asha", "min_resource": 2.0}, "search.pruner.min_resource",
     "must be an integer >= 1, got 2.0"),
    ({"name": "hyperband", "max_resource": "27"}, "search.pruner.max_resource",
     "must be an integer >= 1, got '27'"),
    ({"name": "median", "interval_steps": None}, "search.pruner.interval_steps",
     "must be an integer >= 1, got None"),
    ({"name": "asha", "reduction_factor": 1}, "search.pruner.reduction_factor",
     "must be an integer >= 2, got 1"),
    ({"name": "successive_halving", "min_resource": 0}, "search.pruner.min_resource",
     "must be an integer >= 1, got 0"),
    ({"name": "asha", "min_early_stopping_rate": -1}, "search.pruner.min_early_stopping_rate",
     "must be an integer >= 0, got -1"),
    ({"name": "median", "n_startup_trials": -1}, "search.pruner.n_startup_trials",
     "must be an integer >= 0, got -1"),
    ({"name": "median", "n_warmup_steps": -2}, "search.pruner.n_warmup_steps",
     "must be an integer >= 0, got -2"),
    ({"name": "median", "interval_steps": 0}, "search.pruner.interval_steps",
     "must be an integer >= 1, got 0"),
    ({"name": "hyperband", "max_resource": 9, "reduction_factor": 1},
     "search.pruner.reduction_factor", "must be an integer >= 2, got 1"),
    ({"name": "hyperband", "max_resource": 9, "min_resource": 0}, "search.pruner.min_resource",
     "must be an integer >= 1, got 0"),
    ({"name": "hyperband", "max_resource": 0}, "search.pruner.max_resource",
     "must be an integer >= 1, got 0"),
    ({"name": "hyperband"}, "search.pruner.max_resource",
     "is required: the number of evaluations a full run makes"),
    ({"name": "hyperband", "min_resource": 4, "max_resource": 2}, "search.pruner.max_resource",
     "must be >= min_resource (4), got 2"),
], ids=["not-an-object", "unknown-name", "no-name", "unknown-key", "key-on-none",
        "asha-key-on-hyperband", "bool-true", "bool-false", "float", "string", "null",
        "reduction-factor-1", "min-resource-0", "negative-early-stopping-rate",
        "negative-startup-trials", "negative-warmup", "interval-0", "hyperband-reduction-1",
        "hyperband-min-resource-0", "max-resource-0", "no-max-resource",
        "max-below-min-resource"])
def test_validate_pruner_names_the_bad_field_and_its_rule(spec, loc, msg):
    with pytest.raises(InvalidInput) as caught:
        validate_pruner(spec)
    assert (caught.value.message, caught.value.details) == (f"{loc}: {msg}",
                                                            [{"loc": loc, "msg": msg}])
