"""Datasets: the same (name, seed) give the same arrays; standardised features; the user's
own files validated with errors that name the field."""

import numpy as np
import pytest

from optim_core import datasets

NAMES = ["spiral", "moons", "circles", "blobs", "xor", "regression", "digits", "iris", "wine",
         "breast_cancer"]


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_arrays_and_hash(name):
    a, b = datasets.load(name, seed=1), datasets.load(name, seed=1)
    for part in ("x_train", "y_train", "x_val", "y_val"):
        np.testing.assert_array_equal(getattr(a, part), getattr(b, part))
    assert a.content_hash == b.content_hash and len(a.content_hash) == 64
    assert a.content_hash != datasets.load(name, seed=2).content_hash
    np.testing.assert_allclose(a.x_train.mean(axis=0), 0, atol=1e-9)
    assert a.description
    if a.task == "classification":
        assert set(np.unique(a.y_train)) <= set(range(a.classes))
        assert a.y_train.dtype == np.int64


def test_highdim_is_mnist_shaped():
    data = datasets.load("highdim", seed=0, samples=500)
    assert data.input_dim == 784 and data.classes == 10
    assert len(data.x_train) + len(data.x_val) == 500


def test_digits_are_the_bundled_8x8_digits():
    data = datasets.load("digits")
    assert data.input_dim == 64 and data.classes == 10
    assert len(data.x_train) + len(data.x_val) == 1797


def test_csv_file_with_label_column(tmp_path):
    path = tmp_path / "points.csv"
    rows = ["a,b,label"] + [f"{i},{i % 3},{i % 2}" for i in range(20)]
    path.write_text("\n".join(rows) + "\n")
    data = datasets.load("file", path=path.name, label="label")
    assert data.input_dim == 2 and data.classes == 2
    assert len(data.x_train) == 16 and len(data.x_val) == 4


def test_npz_regression_file(tmp_path):
    path = tmp_path / "reg.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.standard_normal((50, 3)), y=rng.standard_normal(50))
    data = datasets.load("file", path=path.name, task="regression")
    assert data.task == "regression" and data.output_dim == 1


@pytest.mark.parametrize("content,options,message", [
    (None, {}, "dataset.path: no such file in the datasets directory"),
    ("a,b\n1,2\n3,x\n4,5\n", {}, "dataset.path: line 3 holds a value that is not a number"),
    ("a,b\n1,2\n3\n", {}, "dataset.path: line 3 has 1 fields"),
    ("a,b\n1,2\n3,4\n", {"label": "c"}, "dataset.label: no column 'c'"),
    ("a,b\n1,0.5\n3,1.5\n5,2\n", {}, "dataset.task: classification labels must be whole"),
    ("", {}, "dataset.path: the .csv file is empty"),
])
def test_malformed_csv_files(tmp_path, content, options, message):
    path = tmp_path / "data.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError, match=message):
        datasets.load("file", path=path.name, **options)


def test_npz_needing_pickle_or_missing_arrays_is_refused(tmp_path):
    objects = tmp_path / "objects.npz"
    np.savez(objects, x=np.array([{"a": 1}], dtype=object), y=np.zeros(1))
    with pytest.raises(ValueError, match="dataset.path: is not a readable .npz file"):
        datasets.load("file", path=objects.name)
    missing = tmp_path / "missing.npz"
    np.savez(missing, features=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="dataset.path: an .npz dataset must hold arrays 'x'"):
        datasets.load("file", path=missing.name)
    wrong = tmp_path / "data.txt"
    wrong.write_text("1,2")
    with pytest.raises(ValueError, match="dataset.path: must end in .npz or .csv"):
        datasets.load("file", path=wrong.name)


def test_unknown_dataset_and_bad_options():
    with pytest.raises(ValueError, match="dataset.name: unknown dataset 'mnist'; choose one of"):
        datasets.load("mnist")
    with pytest.raises(ValueError, match="dataset.classes: must be an integer in \\[2, 100\\]"):
        datasets.load("spiral", classes=1)
    with pytest.raises(ValueError, match="dataset.depth: unknown hyperparameter"):
        datasets.load("moons", depth=3)


def test_user_files_cannot_leave_the_datasets_directory(tmp_path):
    outside = tmp_path.parent / "secret.csv"
    outside.write_text("password,y\n1,0\n2,1\n")
    (tmp_path / "link.csv").symlink_to(outside)
    for path in (str(outside), "../secret.csv", "sub/../../secret.csv", "link.csv", "."):
        with pytest.raises(ValueError, match="dataset.path: must be a relative path inside the "
                                             "datasets directory"):
            datasets.load("file", path=path)
    with pytest.raises(ValueError, match="dataset.path: cannot be read"):
        datasets.load("file", path="x" * 5000 + ".csv")
