"""Networks defined outside skmnist, with documented names only, keep the contract.

``tests/data/user_networks.py`` stands for a user's file: a layer kind of its
own (Swish), a network that uses it (registered as ``"user_swish"``, so the
contract tests and scikit-learn's checks run on it through the registry, see
``tests/_networks.py``), and a classifier class of its own. This module checks
what only code outside the package can show: loading needs the user's module
imported first and says so, the safe format and ONNX carry the user's kind,
and searches compare architectures.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV

import skmnist
from skmnist.layers import Dense, Dropout

DATA = Path(__file__).parent / "data"
sys.path.insert(0, str(DATA))
import user_networks  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(np.float32), y


@pytest.fixture(scope="module")
def fitted(digits):
    X, y = digits
    clf = skmnist.make_mnist_pipeline("user_swish")[-1]
    clf.set_params(epochs=10, learning_rate=0.01, random_state=0)
    return clf.fit(X[:1000], y[:1000])


def test_the_users_kind_is_registered_and_trains(fitted, digits):
    X, y = digits
    assert "user_networks.swish" in skmnist.layers.registered_kinds()
    assert {"kind": "user_networks.swish", "beta": 1.5} in fitted.architecture_
    assert fitted.score(X[1000:], y[1000:]) > 0.8
    np.testing.assert_allclose(
        np.asarray(fitted.to_keras()(X[1000:], training=False)),
        fitted.predict_proba(X[1000:]),
        atol=1e-5,
    )


_LOAD_AND_PREDICT = """
import sys
import numpy as np
sys.path.insert(0, sys.argv[4])
if sys.argv[5] == "import":
    import user_networks
import skmnist
model = skmnist.load(sys.argv[1])
np.save(sys.argv[3], model.predict_proba(np.load(sys.argv[2])))
assert not any(m.split(".")[0] in ("tensorflow", "keras") for m in sys.modules)
"""


def _load_elsewhere(path, X, tmp_path, importing):
    np.save(tmp_path / "X.npy", X)
    return subprocess.run(
        [
            sys.executable,
            "-c",
            _LOAD_AND_PREDICT,
            path,
            tmp_path / "X.npy",
            tmp_path / "p.npy",
            DATA,
            "import" if importing else "no",
        ],
        capture_output=True,
        text=True,
    )


def test_a_saved_user_network_loads_in_a_fresh_process_once_its_module_is_imported(
    fitted, digits, tmp_path
):
    X, _ = digits
    path = skmnist.save(fitted, tmp_path / "swish.skmnist")
    done = _load_elsewhere(path, X[:50], tmp_path, importing=True)
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(
        np.load(tmp_path / "p.npy"), fitted.predict_proba(X[:50])
    )
    refused = _load_elsewhere(path, X[:50], tmp_path, importing=False)
    assert refused.returncode == 1
    assert "unknown layer kind 'user_networks.swish'" in refused.stderr
    assert "import the module that defines and registers it" in refused.stderr


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_onnx_export_uses_the_users_nodes(fitted, digits, dtype):
    X, _ = digits
    onx = skmnist.to_onnx(fitted, X=X[:1].astype(dtype), options={"zipmap": False})
    session = onnxruntime.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    label, proba = session.run(None, {"X": X[:300].astype(dtype)})
    np.testing.assert_array_equal(label, fitted.predict(X[:300].astype(dtype)))
    np.testing.assert_allclose(proba, fitted.predict_proba(X[:300]), atol=1e-5)


def test_a_users_classifier_class_saves_loads_and_exports(digits, tmp_path):
    X, y = digits
    clf = user_networks.WideMLPClassifier(width=32, epochs=3, random_state=0)
    clf.fit(X[:500], y[:500])
    assert clf.architecture_[0] == {"kind": "dense", "units": 32, "activation": "relu"}
    loaded = skmnist.load(skmnist.save(clf, tmp_path / "wide.skmnist"))
    assert type(loaded) is user_networks.WideMLPClassifier
    assert loaded.get_params() == clf.get_params()
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    loaded.set_params(warm_start=True).fit(X[:500], y[:500])
    assert loaded.n_iter_ == 6
    onx = skmnist.to_onnx(clf, options={"zipmap": False})
    assert [o.name for o in onx.graph.output] == ["label", "probabilities"]


def test_an_unregistered_subclass_is_refused_by_save(digits, tmp_path):
    class Unregistered(skmnist.NetworkClassifier):
        pass

    X, y = digits
    clf = Unregistered(layers=[Dense(8)], epochs=1).fit(X[:100], y[:100])
    with pytest.raises(TypeError, match=r"skmnist\.register_estimator"):
        skmnist.save(clf, tmp_path / "u.skmnist")


def test_a_grid_search_compares_architectures(digits):
    X, y = digits
    small = [Dense(8, activation="relu")]
    wider = [Dense(64, activation="relu"), Dropout(0.1)]
    search = GridSearchCV(
        skmnist.NetworkClassifier(epochs=5, learning_rate=0.01, random_state=0),
        {"layers": [small, wider]},
        cv=2,
    ).fit(X[:600], y[:600])
    assert [params["layers"] for params in search.cv_results_["params"]] == [
        small,
        wider,
    ]
    assert search.best_params_["layers"] == wider
    assert search.best_estimator_.architecture_[0]["units"] == 64


def test_a_kind_name_taken_by_another_class_is_refused():
    with pytest.raises(ValueError, match="already registered"):

        @skmnist.layers.register_layer
        class Swish(skmnist.layers.Layer):
            kind = "dense"
