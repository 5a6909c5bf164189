"""NetworkClassifier itself (skmnist.networks._network): the presets are
configurations of it, its ``layers`` parameter, its learning-rate schedule.

The contract every network keeps is in ``test_network_contract.py``; the
layer kinds in ``test_layers.py``.
"""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits

import skmnist
from skmnist import MNISTCNNClassifier, MNISTMLPClassifier, NetworkClassifier
from skmnist.layers import (
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    RandomShift,
)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(np.float32)[:600], y[:600]


def _same_fit(a, b, X, y):
    a.fit(X, y)
    b.fit(X, y)
    assert a.architecture_ == b.architecture_
    for wa, wb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert a.history_ == b.history_


def test_the_mlp_is_a_network_classifier_preset(digits):
    X, y = digits
    preset = MNISTMLPClassifier(hidden_layer_sizes=(16, 8), epochs=3, random_state=0)
    network = NetworkClassifier(
        layers=[
            Dense(16, activation="relu"),
            Dropout(0.2),
            Dense(8, activation="relu"),
            Dropout(0.2),
        ],
        epochs=3,
        random_state=0,
    )
    assert isinstance(preset, NetworkClassifier)
    _same_fit(preset, network, X, y)


def test_the_convnet_is_a_network_classifier_preset(digits):
    X, y = digits
    preset = MNISTCNNClassifier(
        filters=(4, 8), dense_units=(8,), epochs=3, random_state=0
    )
    network = NetworkClassifier(
        layers=[
            RandomShift(2),
            Conv2D(4, 3, activation="relu"),
            MaxPool2D(2),
            Conv2D(8, 3, activation="relu"),
            MaxPool2D(2),
            Flatten(),
            Dropout(0.5),
            Dense(8, activation="relu"),
            Dropout(0.5),
        ],
        learning_rate_schedule="cosine",
        learning_rate=0.002,
        epochs=3,
        random_state=0,
    )
    _same_fit(preset, network, X, y)


def test_the_default_network_is_the_tutorials(digits):
    X, y = digits
    network = NetworkClassifier(epochs=1, random_state=0).fit(X, y)
    preset = MNISTMLPClassifier(epochs=1, random_state=0).fit(X, y)
    assert network.architecture_ == preset.architecture_
    np.testing.assert_array_equal(network.predict_proba(X), preset.predict_proba(X))


def test_no_layers_is_softmax_regression(digits):
    X, y = digits
    clf = NetworkClassifier(layers=[], epochs=2, random_state=0).fit(X, y)
    assert clf.architecture_ == [
        {"kind": "dense", "units": 10, "activation": "softmax"}
    ]
    assert [coef.shape for coef in clf.coefs_] == [(64, 10)]


def test_layers_that_are_not_layers_are_refused_before_anything_changes(digits):
    X, y = digits
    clf = NetworkClassifier(layers=[Dense(4)], epochs=1, random_state=0).fit(X, y)
    before = clf.coefs_[0].copy()
    with pytest.raises(ValueError, match=r"layers\[1\] is 'relu', not a layer"):
        clf.set_params(layers=[Dense(4), "relu"]).fit(X, y)
    with pytest.raises(ValueError, match="'layers' parameter"):
        clf.set_params(layers="dense").fit(X, y)
    np.testing.assert_array_equal(clf.coefs_[0], before)


def test_layers_are_values_clone_keeps_them_equal_and_fit_never_changes_them(digits):
    X, y = digits
    layers = [Conv2D(4, 3, padding="same", activation="relu"), Flatten()]
    clf = NetworkClassifier(layers=layers, epochs=1, random_state=0)
    copy = clone(clf)
    assert copy.layers == layers and copy.layers[0] is not layers[0]
    configs = [layer.get_config() for layer in layers]
    clf.fit(X, y)
    assert [layer.get_config() for layer in layers] == configs


def test_the_cosine_schedule_ends_low_and_partial_fit_keeps_the_rate(digits):
    X, y = digits
    clf = NetworkClassifier(
        layers=[Dense(8)], learning_rate_schedule="cosine", epochs=4, random_state=0
    ).fit(X, y)
    rate = float(clf._keras_model().optimizer.learning_rate.numpy())
    # 600 rows are 5 batches an epoch, all in one call into TensorFlow: the
    # rate of the last epoch's call is taken at its middle, 17.5 of 20 steps.
    expected = 0.001 * 0.5 * (1 + np.cos(np.pi * 17.5 / 20))
    assert rate == pytest.approx(expected, rel=1e-6)
    assert rate < 0.05 * clf.learning_rate
    clf.partial_fit(X, y)
    rate = clf._keras_model().optimizer.learning_rate.numpy()
    assert rate == np.float32(0.001)


def test_named_networks_build_network_classifiers_with_their_defaults():
    lenet = skmnist.make_mnist_pipeline("lenet5", epochs=2)[-1]
    assert type(lenet) is NetworkClassifier
    assert lenet.epochs == 2 and lenet.learning_rate_schedule == "cosine"
    assert lenet.layers == skmnist.networks.lenet5()
    with pytest.raises(ValueError, match="network must be one of"):
        skmnist.make_mnist_pipeline("alexnet")
