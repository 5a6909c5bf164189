"""Training on the Keras backend the user configured: TensorFlow, JAX, PyTorch.

Every test here runs on whichever backend ``KERAS_BACKEND`` (or
``keras.json``) names, and CI runs this module once per backend in its own
process (``.ci/run``), together with the contract tests
(``tests/test_network_contract.py``), which hold on every backend too.
What is checked here is what depends on the backend: that training uses
the configured one and no other, that files are backend-free (they predict
in a process with no backend at all, and continue training on another
backend, the optimizer's state carried over), and that each backend
actually learns MNIST.
"""

import functools
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from _helpers import run_on_backend
from _networks import small_network
from sklearn.datasets import load_digits

import skmnist
from skmnist import MNISTCNNClassifier, MNISTMLPClassifier, NetworkClassifier
from skmnist.layers import (
    Activation,
    BatchNorm,
    Conv2D,
    GlobalAvgPool2D,
    MaxPool2D,
    Residual,
)

# CI runs every test of this module on each backend, the slow ones too
# (`pytest -m "backend or not slow"`, .ci/run).
pytestmark = pytest.mark.backend

BACKEND = keras.backend.backend()
BACKEND_MODULES = {"tensorflow", "jax", "jaxlib", "torch", "keras"}
# The backend a file trained here continues on in another process: TensorFlow
# (skmnist's default), or JAX when this process is TensorFlow.
OTHER = "jax" if BACKEND == "tensorflow" else "tensorflow"


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    return X[:600], y[:600], X[600:900]


NETWORKS = ("mlp", "cnn", "lenet5", "resnet")


@pytest.fixture(params=NETWORKS)
def make(request):
    return functools.partial(small_network, request.param)


def test_training_uses_the_configured_backend_and_no_other(digits):
    X, y, _ = digits
    MNISTMLPClassifier(hidden_layer_sizes=(8,), epochs=1, random_state=0).fit(X, y)
    from skmnist.training import _keras

    assert _keras.BACKEND == BACKEND
    if BACKEND != "tensorflow":
        # TensorFlow imported before PyTorch's compiler stack crashes the
        # process; it has no business in a JAX or PyTorch process either.
        assert "tensorflow" not in sys.modules


def test_fixed_seed_is_bitwise_reproducible_with_weights_and_early_stopping(
    make, digits
):
    X, y, X_test = digits
    weights = np.random.RandomState(1).randint(1, 3, len(y)).astype(float) / 2
    fits = [
        make(early_stopping=True, epochs=4, n_iter_no_change=10).fit(
            X, y, sample_weight=weights
        )
        for _ in range(2)
    ]
    np.testing.assert_array_equal(
        fits[0].predict_proba(X_test), fits[1].predict_proba(X_test)
    )
    assert fits[0].history_ == fits[1].history_
    assert fits[0].n_iter_ == 4 and fits[0].loss_curve_[-1] < fits[0].loss_curve_[0]


def test_partial_fit_calls_equal_saved_and_continued_ones(make, digits, tmp_path):
    X, y, X_test = digits
    clf = make().partial_fit(X, y, classes=np.arange(10))
    copy = skmnist.load(skmnist.save(clf, tmp_path / "m.skmnist"))
    for model in (clf, copy):
        model.partial_fit(X, y)
        model.partial_fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X_test), copy.predict_proba(X_test))
    assert copy.loss_curve_ == clf.loss_curve_
    assert int(copy._keras_model().optimizer.iterations) == 3 * 5  # 600 rows / 128


_PREDICT_WITHOUT_ANY_BACKEND = """
import sys
import numpy as np
import skmnist
model = skmnist.load(sys.argv[1])
np.save(sys.argv[3], model.predict_proba(np.load(sys.argv[2])))
loaded = {name.split(".")[0] for name in sys.modules}
assert not loaded & {"tensorflow", "jax", "jaxlib", "torch", "keras"}, loaded
"""


def test_a_file_predicts_in_a_process_with_no_backend(make, digits, tmp_path):
    X, y, X_test = digits
    clf = make().fit(X, y)
    path = skmnist.save(clf, tmp_path / "m.skmnist")
    np.save(tmp_path / "X.npy", X_test)
    subprocess.run(
        [
            sys.executable,
            "-c",
            _PREDICT_WITHOUT_ANY_BACKEND,
            path,
            tmp_path / "X.npy",
            tmp_path / "p.npy",
        ],
        check=True,
        env={**os.environ, "KERAS_BACKEND": BACKEND},
    )
    proba = np.load(tmp_path / "p.npy")
    np.testing.assert_array_equal(proba, clf.predict_proba(X_test))


# Keras's own fit on PyTorch turns Keras variables into arrays (see pyproject).
@pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)
def test_to_keras_runs_on_the_configured_backend(make, digits):
    X, y, X_test = digits
    clf = make().fit(X, y)
    model = clf.to_keras()
    proba = model.predict(X_test, verbose=0)
    assert type(proba).__module__.split(".")[0] == "numpy"
    np.testing.assert_allclose(proba, clf.predict_proba(X_test), atol=1e-5)
    tensor = model(keras.ops.convert_to_tensor(X_test), training=False)
    assert keras.backend.standardize_dtype(tensor.dtype) == "float32"
    # Keras's own fit on this backend fine-tunes the copy, not the classifier.
    before = clf.predict_proba(X_test)
    model.fit(X, np.searchsorted(clf.classes_, y), epochs=1, verbose=0)
    np.testing.assert_array_equal(clf.predict_proba(X_test), before)


# -- files move between backends ---------------------------------------------------


def _deterministic(name):
    """A network with no random layer, trained in a fixed row order.

    Then continuing on another backend computes the same arithmetic as
    continuing here, to float32 rounding: a test can tell whether the
    optimizer's state (Adam's moments and step count) came along.
    """
    if name == "mlp":
        return MNISTMLPClassifier(
            hidden_layer_sizes=(32,), dropout=0.0, shuffle=False, epochs=2,
            warm_start=True, random_state=0,
        )  # fmt: skip
    if name == "resnet":  # batch normalisation: its statistics come along too
        return NetworkClassifier(
            layers=[
                Conv2D(4, 3, padding="same"), BatchNorm(momentum=0.9),
                Activation("relu"), MaxPool2D(2),
                Residual([Conv2D(4, 3, padding="same"), BatchNorm(momentum=0.9)]),
                Activation("relu"), GlobalAvgPool2D(),
            ],
            shuffle=False, epochs=2, warm_start=True, random_state=0,
        )  # fmt: skip
    return MNISTCNNClassifier(
        filters=(4,), dense_units=(8,), dropout=0.0, max_shift=0, shuffle=False,
        epochs=2, warm_start=True, random_state=0,
    )  # fmt: skip


_CONTINUE_ON_ANOTHER_BACKEND = """
import sys
import keras
import numpy as np
import skmnist
assert keras.backend.backend() == sys.argv[5], keras.backend.backend()
X, y, X_test = (np.load(sys.argv[2])[k] for k in ("X", "y", "X_test"))
model = skmnist.load(sys.argv[1])
before = model.predict_proba(X_test)
model.fit(X, y)
iterations = int(model._keras_model().optimizer.iterations)
weights = np.concatenate([np.ravel(w) for w in [*model.coefs_, *model.intercepts_]])
np.savez(sys.argv[3], before=before, after=model.predict_proba(X_test),
         iterations=iterations, loss=np.array(model.loss_curve_), weights=weights)
if sys.argv[4] != "-":
    skmnist.save(model, sys.argv[4])
"""


def _run_on(backend, *args):
    run_on_backend(backend, _CONTINUE_ON_ANOTHER_BACKEND, *args)


@pytest.mark.parametrize("name", ["mlp", "cnn", "resnet"])
def test_a_file_trained_here_continues_training_on_another_backend(
    name, digits, tmp_path
):
    X, y, X_test = digits
    np.savez(tmp_path / "data.npz", X=X, y=y, X_test=X_test)
    # One epoch on: float32's rounding, which differs between backends (and
    # CPUs), grows with every step through batch normalisation.
    clf = _deterministic(name).fit(X, y).set_params(epochs=1)
    path = skmnist.save(clf, tmp_path / "here.skmnist")
    fresh_optimizer = skmnist.load(path)
    fresh_optimizer._training_state = {}  # as if the state were lost
    _run_on(OTHER, path, tmp_path / "data.npz", tmp_path / "there.npz", "-", OTHER)
    there = np.load(tmp_path / "there.npz")

    np.testing.assert_allclose(there["before"], clf.predict_proba(X_test), atol=1e-6)
    clf.fit(X, y)  # the same continuation, here
    assert int(there["iterations"]) == int(clf._keras_model().optimizer.iterations)
    np.testing.assert_allclose(there["loss"], clf.loss_curve_, rtol=1e-3)
    assert np.abs(there["after"] - clf.predict_proba(X_test)).max() < 1e-3
    # The weights far closer to continuing here than to continuing without the
    # state, on average (the weights, not the probabilities, which are nearly
    # 0 and 1 on these digits and move little either way; on average, as
    # batch normalisation makes a few weights of the residual network drift
    # by up to a fifth of what losing the state moves them).
    gap = np.abs(there["weights"] - _weights(clf)).mean()
    lost = np.abs(there["weights"] - _weights(fresh_optimizer.fit(X, y))).mean()
    assert gap < lost / 10, (gap, lost)


def _weights(clf):
    return np.concatenate([np.ravel(w) for w in [*clf.coefs_, *clf.intercepts_]])


def test_a_file_trained_on_another_backend_continues_training_here(digits, tmp_path):
    X, y, X_test = digits
    np.savez(tmp_path / "data.npz", X=X, y=y, X_test=X_test)
    trained = tmp_path / "there.skmnist"
    # Train there: the script fits a new model's file, saved once fitted.
    fresh = skmnist.save(
        _deterministic("mlp").fit(X[:10], y[:10]), tmp_path / "new.skmnist"
    )
    _run_on(OTHER, fresh, tmp_path / "data.npz", tmp_path / "a.npz", trained, OTHER)
    clf = skmnist.load(trained)
    np.testing.assert_allclose(
        clf.predict_proba(X_test), np.load(tmp_path / "a.npz")["after"], atol=1e-6
    )
    steps = int(np.load(tmp_path / "a.npz")["iterations"])
    clf.fit(X, y)
    assert int(clf._keras_model().optimizer.iterations) == steps + 2 * 5
    assert clf.n_iter_ == 6 and clf.loss_curve_[-1] < clf.loss_curve_[2]


# -- real MNIST ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make_network", "threshold"),
    [
        (lambda: MNISTMLPClassifier(epochs=2, random_state=0), 0.91),
        (lambda: MNISTCNNClassifier(epochs=2, random_state=0), 0.93),
    ],
    ids=["mlp", "cnn"],
)
def test_learns_mnist_on_this_backend(mnist_small, make_network, threshold):
    (X, y), (X_test, y_test) = mnist_small
    clf = make_network().fit(X, y)
    assert clf.score(X_test, y_test) > threshold
