"""Pushed dataset files: read without pickle, their facts found once, and those facts validating
a run exactly as the file itself does; a worker's cached copy loads the same arrays as the file
given by path."""

from __future__ import annotations

import hashlib
import io
import os
import pickle

import numpy as np
import pytest

from optim_core import ConfigError, datasets
from optim_core.datasets.pushed import inspect, parse_ref, pinned_ref
from optim_core.training import resolve


def npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


RNG = np.random.default_rng(0)
CLASSES = npz(x=RNG.standard_normal((50, 3)), y=RNG.integers(0, 4, 50))
TARGETS = npz(x=RNG.standard_normal((41, 2)), y=RNG.standard_normal(41))
LABEL_FIRST = ("y,a,b\n" + "".join(f"{i % 2},{i},{i * i % 7}\n" for i in range(30))).encode()
FLOAT_LABELS = ("a,b,t\n" + "".join(f"{i},{i % 3},{i / 4}\n" for i in range(25))).encode()

# (file, the name it has in the datasets directory, label, dataset options)
CASES = [
    (CLASSES, "c.npz", None, {}),
    (CLASSES, "c.npz", None, {"val_fraction": 0.5}),
    (TARGETS, "t.npz", None, {"task": "regression"}),
    (LABEL_FIRST, "l.csv", "y", {}),
    (FLOAT_LABELS, "f.csv", None, {"task": "regression", "val_fraction": 0.1}),
]


def _run(dataset: dict, batch_size: int = 8) -> dict:
    return {"dataset": dataset, "model": {"kind": "mlp", "hidden": [4]},
            "optimizer": {"name": "sgd", "lr": 0.1}, "epochs": 3, "batch_size": batch_size}


def _facts_loader(facts, ref: str):
    """The loader the API gives ``resolve`` for a pushed file: its facts, never its arrays."""
    def load(name, seed=0, **options):
        assert name == "file" and options["dataset"] == ref
        return datasets.shape(facts, seed, **options)
    return load


@pytest.mark.parametrize("data,filename,label,options", CASES)
def test_facts_validate_a_run_as_the_file_itself_does(datasets_dir, data, filename, label,
                                                      options):
    (datasets_dir / filename).write_bytes(data)
    labelled = {"label": label} if label else {}
    by_path = resolve(_run({"name": "file", "path": filename, **labelled, **options}))
    ref = pinned_ref("d", hashlib.sha256(data).hexdigest())
    facts = inspect(data, label)
    by_facts = resolve(_run({"name": "file", "dataset": ref, **labelled, **options}),
                       load_dataset=_facts_loader(facts, ref))
    assert by_facts.total_steps == by_path.total_steps
    assert by_facts.steps_per_epoch == by_path.steps_per_epoch
    assert by_facts.config["model"] == by_path.config["model"]
    assert by_facts.dataset.task == by_path.dataset.task
    assert by_facts.config["dataset"] == {"name": "file", "dataset": ref, **labelled,
                                          **options, "seed": 0}
    assert facts.rows == len(by_path.dataset.x_train) + len(by_path.dataset.x_val)


@pytest.mark.parametrize("data,filename,dataset,batch_size", [
    (FLOAT_LABELS, "f.csv", {}, 8),  # classification of fractional labels
    (CLASSES, "c.npz", {"val_fraction": 0.999}, 8),  # no training examples left
    (CLASSES, "c.npz", {}, 41),  # a batch larger than the training set
    (CLASSES, "c.npz", {"task": "ranking"}, 8),
    (npz(x=np.zeros((9, 2)), y=np.ones(9)), "one.npz", {}, 2),  # one class
])
def test_facts_refuse_a_run_as_the_file_itself_does(datasets_dir, data, filename, dataset,
                                                    batch_size):
    (datasets_dir / filename).write_bytes(data)
    with pytest.raises(ConfigError) as by_path:
        resolve(_run({"name": "file", "path": filename, **dataset}, batch_size))
    ref = pinned_ref("d", hashlib.sha256(data).hexdigest())
    with pytest.raises(ConfigError) as by_facts:
        resolve(_run({"name": "file", "dataset": ref, **dataset}, batch_size),
                load_dataset=_facts_loader(inspect(data), ref))
    assert by_facts.value.rule == by_path.value.rule
    assert by_facts.value.field.split(".")[-1] in (by_path.value.field.split(".")[-1],
                                                   "dataset")


class _Payload:
    """A pickle that, once unpickled, would create a file: proof that nothing unpickles it."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("make,field,message", [
    (lambda m: npz(x=np.array([_Payload(m)], dtype=object), y=np.zeros(1)), "file",
     "is not a readable .npz file: Object arrays cannot be loaded when allow_pickle=False"),
    (lambda m: pickle.dumps({"x": _Payload(m)}), "file",
     "is neither an .npz archive nor CSV text (UTF-8)"),
    (lambda m: npz(features=np.zeros((3, 2))), "file",
     "an .npz dataset must hold arrays 'x' and 'y', found ['features']"),
    (lambda m: npz(x=np.zeros((1, 2)), y=np.zeros(1)), "file",
     "needs at least two rows and one feature, got shape (1, 2)"),
    (lambda m: npz(x=np.array([[1.0], [np.inf]]), y=np.zeros(2)), "file",
     "features hold NaN or infinite values"),
    (lambda m: b"a,b\n1,2\n3,oops\n", "file", "line 3 holds a value that is not a number"),
    (lambda m: b"PK\x03\x04" + bytes(range(256)) * 4, "file", "is not a readable .npz file"),
    (lambda m: b"a,b,c\n1,2,3\n4,5,6\n", "label", "no column 'y' in the header ['a', 'b', 'c']"),
])
def test_a_file_that_is_no_dataset_is_refused_naming_the_problem(tmp_path, make, field,
                                                                 message):
    marker = str(tmp_path / "unpickled")
    label = "y" if field == "label" else None
    with pytest.raises(ConfigError) as refused:
        inspect(make(marker), label)
    assert refused.value.field == field
    assert message in refused.value.rule
    assert not os.path.exists(marker)


def test_an_npz_has_no_label_column_and_a_csv_may_start_with_a_byte_order_mark():
    with pytest.raises(ConfigError, match="label: an .npz dataset has no label column"):
        inspect(CLASSES, "y")
    facts = inspect(b"\xef\xbb\xbfa,y\n1,0\n2,1\n3,1\n")
    assert facts == datasets.FileFacts("csv", 3, 1, "y", 2)
    assert inspect(FLOAT_LABELS).classes is None  # fractional labels: regression only


def test_references_name_sha256_or_both():
    sha = "ab" * 32
    assert parse_ref("points.csv") == ("points.csv", None)
    assert parse_ref(sha) == (None, sha)
    assert parse_ref(f"points.csv@{sha}") == ("points.csv", sha)
    for bad in (f"@{sha}", "points.csv@abc", f"p@{sha.upper()}"):
        with pytest.raises(ConfigError, match="dataset: a pinned reference is name@sha256"):
            parse_ref(bad)


def test_a_cached_pushed_file_loads_the_arrays_of_the_same_file_by_path(datasets_dir, tmp_path):
    (datasets_dir / "l.csv").write_bytes(LABEL_FIRST)
    cache = tmp_path / "cache"
    cache.mkdir()
    sha = hashlib.sha256(LABEL_FIRST).hexdigest()
    (cache / sha).write_bytes(LABEL_FIRST)
    pushed = datasets.load("file", seed=3, dataset=pinned_ref("l", sha), label="y",
                           cache_dir=cache)
    by_path = datasets.load("file", seed=3, path="l.csv", label="y")
    assert pushed.content_hash == by_path.content_hash
    with pytest.raises(ConfigError, match=f"dataset.dataset: {'0' * 64} is not in the dataset "
                                          f"cache"):
        datasets.load("file", dataset=pinned_ref("l", "0" * 64), cache_dir=cache)
    with pytest.raises(ConfigError, match="dataset.dataset: 'l' is not pinned to its content"):
        datasets.load("file", dataset="l", cache_dir=cache)
    with pytest.raises(ConfigError, match="dataset.path: give exactly one of path"):
        datasets.load("file", path="l.csv", dataset=pinned_ref("l", sha), cache_dir=cache)
