"""Models saved by skmnist 0.2 (before the shared core) still load and predict.

``tests/data`` holds an MLP (8 hidden units, fitted on 300 rows of
``load_digits``) saved by skmnist 0.2 with ``skmnist.save`` and with
``pickle``, and its ``predict_proba`` on rows 300-400 as 0.2 computed it.
Those files have no ``architecture_``: it is derived from ``coefs_``.
"""

import pickle
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

import skmnist

DATA = Path(__file__).parent / "data"


def _rows():
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(np.float32), y


def _load(how):
    if how == "pickle":
        with open(DATA / "legacy_mlp.pickle", "rb") as f:
            return pickle.load(f)
    return skmnist.load(DATA / "legacy_mlp_format1.skmnist")


@pytest.mark.parametrize("how", ["skmnist", "pickle"])
def test_a_legacy_model_predicts_what_it_predicted(how):
    X, _ = _rows()
    clf = _load(how)
    assert type(clf) is skmnist.MNISTMLPClassifier
    assert clf.architecture_ == [
        {"kind": "dense", "units": 8, "activation": "relu"},
        {"kind": "dropout", "rate": 0.2},
        {"kind": "dense", "units": 10, "activation": "softmax"},
    ]
    proba = clf.predict_proba(X[300:400].astype(np.float64))
    then = np.load(DATA / "legacy_mlp_proba.npy")
    # The same float64 arithmetic as 0.2's, but NumPy's BLAS picks its
    # kernel by CPU (OpenBLAS's DYNAMIC_ARCH): on another CPU than the one
    # that saved `then`, sums round differently in the last bit (3.7e-16
    # relative seen on an AMD EPYC). Anything else would be far larger.
    np.testing.assert_allclose(proba, then, rtol=1e-13, atol=0)
    np.testing.assert_array_equal(proba.argmax(axis=1), then.argmax(axis=1))


@pytest.mark.parametrize("how", ["skmnist", "pickle"])
def test_a_legacy_model_continues_training(how):
    X, y = _rows()
    clf = _load(how)
    n_iter = clf.n_iter_
    clf.set_params(warm_start=True).fit(X[:300], y[:300])
    assert clf.n_iter_ == n_iter + clf.epochs
    assert all(len(v) == clf.n_iter_ for v in clf.history_.values())
    clf.partial_fit(X[:300], y[:300])
    assert clf.n_iter_ == n_iter + clf.epochs + 1


def test_a_model_saved_now_loads_in_the_same_format_version(tmp_path):
    # The format did not change: new files are format 1, with architecture_.
    import json
    import zipfile

    X, y = _rows()
    clf = skmnist.MNISTMLPClassifier(hidden_layer_sizes=(4,), epochs=1).fit(X, y)
    path = skmnist.save(clf, tmp_path / "new.skmnist")
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("skmnist.json"))
    assert manifest["format_version"] == 1
    assert "architecture_" in manifest["model"]["attributes"]
