"""optim_core.train: determinism, bit-identical resume, learning, divergence and bad configs."""

import numpy as np
import pytest

import optim_core
from optim_core import Checkpoint, Finished, Metrics
from optim_core.optimizers import OPTIMIZERS
from optim_core.training import TIMING_KEYS


def small_config(**overrides):
    config = {"dataset": {"name": "spiral", "samples": 40},  # 96 train rows: 3 steps/epoch
              "model": {"kind": "mlp", "hidden": [16, 16], "batch_norm": True, "dropout": 0.1},
              "optimizer": {"name": "adam", "lr": 0.01},
              "schedule": {"name": "cosine", "T_max": 9},
              "epochs": 3, "batch_size": 32, "seed": 5, "checkpoint_every": 1, "eval_every": 2}
    config.update(overrides)
    return config


def stream(events):
    """Events as comparable tuples, without wall-clock values and checkpoint bytes."""
    out = []
    for e in events:
        if isinstance(e, Metrics):
            out.append(("metrics", e.step, e.epoch,
                        {k: v for k, v in e.values.items() if k not in TIMING_KEYS}))
        elif isinstance(e, Checkpoint):
            out.append(("checkpoint", e.step))
        else:
            out.append(("finished", e.summary))
    return out


def test_same_config_gives_identical_metric_streams_and_other_seeds_differ():
    first = stream(optim_core.train(small_config()))
    assert first == stream(optim_core.train(small_config()))
    other = stream(optim_core.train(small_config(seed=6)))
    assert other != first
    assert first[-1][0] == "finished" and first[-1][1]["outcome"] == "succeeded"


def test_metrics_emitted():
    events = list(optim_core.train(small_config(log_every=1)))
    keys = set().union(*(e.values for e in events if isinstance(e, Metrics)))
    assert keys == {"train_loss", "lr", "grad_norm", "step_time", "val_loss", "val_accuracy"}
    val_steps = [e.step for e in events if isinstance(e, Metrics) and "val_loss" in e.values]
    assert val_steps == [2, 3, 4, 6, 8, 9]  # every 2 steps and at each epoch's end (3, 6, 9)
    assert [e.step for e in events if isinstance(e, Checkpoint)] == list(range(1, 10))
    summary = events[-1].summary
    assert summary["steps"] == 9 and summary["epochs"] == 3
    assert summary["dataset_hash"] == optim_core.datasets.load("spiral", samples=40).content_hash
    regression = list(optim_core.train({"dataset": "regression",
                                        "model": {"kind": "linear"},
                                        "optimizer": "sgd", "epochs": 1}))
    assert "val_rmse" in regression[-1].summary["metrics"]


RESUME_CASES = [(name, "torch") for name in OPTIMIZERS["torch"]] + [("adam", "book"),
                                                                      ("nesterov", "book")]


@pytest.mark.parametrize("name,convention", RESUME_CASES)
def test_interrupted_and_resumed_equals_uninterrupted(name, convention):
    config = small_config(optimizer={"name": name, "lr": 0.01, "convention": convention})
    full = list(optim_core.train(config))
    checkpoints = {e.step: e for e in full if isinstance(e, Checkpoint)}
    final_params = _params(checkpoints[9].data)
    for at in (1, 4, 9):  # the first step, mid-epoch (epoch 2 of 3), the last step
        resumed = list(optim_core.train(config, resume_from=checkpoints[at].data))
        after = full[full.index(checkpoints[at]) + 1:]
        assert stream(resumed) == stream(after), f"resumed at step {at}"
        last = [e for e in resumed if isinstance(e, Checkpoint)]
        if last:
            for k, v in _params(last[-1].data).items():
                np.testing.assert_array_equal(v, final_params[k])


def test_a_checkpoint_read_after_training_went_on_holds_the_state_at_its_step():
    # the loop encodes a checkpoint only when its data is read: read at once or after the
    # run ended, it holds the same state (all but the wall-clock step_time)
    def state(blob):
        import io
        with np.load(io.BytesIO(blob), allow_pickle=False) as data:
            return {k: data[k].tolist() for k in data.files if k != "loop.latest"}

    at_once = [state(e.data) for e in optim_core.train(small_config())
               if isinstance(e, Checkpoint)]
    later = [e for e in optim_core.train(small_config()) if isinstance(e, Checkpoint)]
    assert [state(e.data) for e in later] == at_once
    assert len({str(s) for s in at_once}) == len(at_once) == 9


def _params(blob):
    import io
    with np.load(io.BytesIO(blob), allow_pickle=False) as data:
        return {k: data[k] for k in data.files if k.startswith(("params.", "buffers.",
                                                                "optimizer.state."))}


def test_resuming_with_another_config_is_refused():
    blob = next(e for e in optim_core.train(small_config()) if isinstance(e, Checkpoint)).data
    with pytest.raises(ValueError, match="resume_from: the checkpoint belongs to a different"):
        list(optim_core.train(small_config(seed=9), resume_from=blob))
    with pytest.raises(ValueError, match="resume_from: is not a readable checkpoint"):
        list(optim_core.train(small_config(), resume_from=b"not a zip"))


def test_adam_learns_digits_to_95_percent_in_a_few_epochs():
    config = {"dataset": "digits", "model": {"kind": "mlp", "hidden": [100, 100]},
              "optimizer": {"name": "adam", "lr": 1e-3}, "epochs": 8, "batch_size": 64}
    accuracy = [e.values["val_accuracy"] for e in optim_core.train(config)
                if isinstance(e, Metrics) and "val_accuracy" in e.values]
    assert max(accuracy) >= 0.95, accuracy


def test_chapter_6_comparison_sgd_has_the_highest_loss():
    losses = {}
    for name, lr in [("sgd", 0.01), ("momentum", 0.01), ("adagrad", 0.01), ("adam", 0.001)]:
        config = {"dataset": "digits", "model": {"kind": "mlp", "hidden": [100] * 4},
                  "optimizer": {"name": name, "lr": lr, "convention": "book"},
                  "steps": 300, "batch_size": 128, "seed": 0}
        train_loss = [e.values["train_loss"] for e in optim_core.train(config)
                      if isinstance(e, Metrics) and "train_loss" in e.values]
        losses[name] = float(np.mean(train_loss[-50:]))
    assert max(losses, key=losses.get) == "sgd", losses
    assert losses["sgd"] > 5 * max(v for k, v in losses.items() if k != "sgd"), losses


def test_sgd_with_a_huge_learning_rate_ends_diverged_not_raising():
    config = {"dataset": "digits", "model": {"kind": "mlp", "hidden": [50]},
              "optimizer": {"name": "sgd", "lr": 1e3}, "epochs": 5}
    events = list(optim_core.train(config))
    assert isinstance(events[-1], Finished)
    summary = events[-1].summary
    assert summary["outcome"] == "diverged"
    assert summary["diverged_step"] >= 1 and "not finite" in summary["reason"] or \
        "loss is" in summary["reason"]
    assert all(np.isfinite(v) for e in events if isinstance(e, Metrics)
               for v in e.values.values())


def test_point_model_runs_the_books_trajectory():
    config = {"model": {"kind": "point", "function": "anisotropic"},
              "optimizer": {"name": "adagrad", "lr": 1.5, "convention": "book"}, "steps": 30}
    points = [(e.values["x"], e.values["y"]) for e in optim_core.train(config)
              if isinstance(e, Metrics)]
    expected = optim_core.trajectory("anisotropic",
                                     optim_core.create("adagrad", lr=1.5, convention="book"))
    np.testing.assert_array_equal(np.array(points), expected)


@pytest.mark.parametrize("change,message", [
    ({"dataset": "mnist"}, "dataset.name: unknown dataset 'mnist'"),
    ({"model": {"kind": "mlp", "hidden": [100, 0]}},
     r"model.hidden\[1\]: must be an integer in \[1, 100000\], got 0"),
    ({"model": {"kind": "cnn"}}, "model.kind: unknown model 'cnn'"),
    ({"model": {"kind": "linear"}}, "model.kind: model 'linear' cannot learn a classification"),
    ({"model": {"kind": "mlp", "input_dim": 3}}, "model.input_dim: must be 2 for dataset"),
    ({"batch_size": 5000}, "batch_size: must be <= 96 \\(the training set size\\), got 5000"),
    ({"dataset": {"name": "file", "path": "/nonexistent/data.csv"}},
     "dataset.path: must be a relative path inside the datasets directory"),
    ({"optimizer": {"name": "adam", "lr": -1}}, "optimizer.lr: must be a finite number > 0"),
    ({"optimizer": {"name": "adam", "betas": [0.9, 1.2]}}, r"optimizer.betas\[1\]"),
    ({"schedule": {"name": "cosine", "T_max": 0}}, "schedule.T_max: must be an integer >= 1"),
    ({"steps": 10}, "epochs: give exactly one of epochs and steps"),
    ({"epochs": 0}, "epochs: must be an integer in \\[1, 100000\\], got 0"),
    ({"learning_rate": 0.1}, "learning_rate: unknown field"),
    ({"optimizer": None}, "optimizer: is required"),
])
def test_bad_configs_name_the_field(change, message):
    with pytest.raises(ValueError, match=message):
        next(optim_core.train(small_config(**change)))


def test_malformed_user_file_is_refused(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b,label\n1,2,0\n3,oops,1\n")
    with pytest.raises(ValueError, match="dataset.path: line 3 holds a value that is not"):
        next(optim_core.train(small_config(dataset={"name": "file", "path": path.name})))


@pytest.mark.parametrize("config", [small_config(),
                                    {"model": {"kind": "point"}, "optimizer": "nesterov",
                                     "steps": 5}])
def test_normalised_config_has_every_default_and_resolves_to_itself(config):
    from optim_core.training import resolve
    normal = resolve(config).config
    assert resolve(normal).config == normal
    assert normal["optimizer"]["convention"] == "torch"
    name = normal["optimizer"]["name"]
    assert set(optim_core.catalog()["optimizers"][name]["hyperparameters"]) <= set(
        normal["optimizer"])
