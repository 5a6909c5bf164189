"""What only the ConvNet does: its layers, its input, and its accuracy on MNIST.

The contract it shares with the MLP is in ``test_network_contract.py``.
"""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from skmnist import MNISTCNNClassifier, MNISTPreprocessor, make_mnist_pipeline

# The default pipeline on all of MNIST, one seed (the benchmark takes the
# median over seeds 0-2: see docs/performance.md).
CNN_SEED = 0


@pytest.fixture(scope="module")
def cnn_pipeline(mnist):
    (X_train, y_train), _ = mnist
    return make_mnist_pipeline("cnn", random_state=CNN_SEED).fit(X_train, y_train)


def test_default_convnet_beats_keras_example_on_full_mnist(cnn_pipeline, mnist):
    # Keras's "simple MNIST convnet" example reaches 0.9922 after its 15
    # epochs; the defaults were chosen to do better in less time.
    _, (X_test, y_test) = mnist
    assert cnn_pipeline.score(X_test, y_test) >= 0.993
    clf = cnn_pipeline[-1]
    assert clf.n_iter_ == clf.epochs == 10
    assert clf.history_["loss"][-1] < clf.history_["loss"][0]


def test_numpy_prediction_equals_keras_on_the_mnist_test_set(cnn_pipeline, mnist):
    _, (X_test, _) = mnist
    X = cnn_pipeline[0].transform(X_test)
    clf = cnn_pipeline[-1]
    proba = clf.predict_proba(X)
    expected = np.asarray(clf.to_keras().predict(X, batch_size=1000, verbose=0))
    assert proba.dtype == np.float32
    np.testing.assert_allclose(proba, expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(
        clf.predict_proba(X.astype(np.float64)), expected, rtol=0, atol=1e-5
    )
    top2 = np.sort(expected, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-5
    np.testing.assert_array_equal(
        clf.predict(X)[clear], clf.classes_[np.argmax(expected, axis=1)][clear]
    )


def test_the_default_network_is_the_documented_one(cnn_pipeline):
    clf = cnn_pipeline[-1]
    kinds = [layer["kind"] for layer in clf.architecture_]
    assert kinds == [
        "image",
        "random_shift",
        "conv2d",
        "max_pool2d",
        "conv2d",
        "max_pool2d",
        "flatten",
        "dropout",
        "dense",
        "dropout",
        "dense",
    ]
    assert clf.architecture_[0] == {"kind": "image", "side": 28, "padding": 0}
    assert [c.shape for c in clf.coefs_] == [
        (3, 3, 1, 24),
        (3, 3, 24, 48),
        (1200, 128),
        (128, 10),
    ]
    assert [b.shape for b in clf.intercepts_] == [(24,), (48,), (128,), (10,)]


@pytest.mark.parametrize(
    ("n_features", "side", "padding"),
    [(784, 28, 0), (64, 8, 1), (50, 8, 1), (2, 2, 4), (1, 1, 5), (900, 30, 0)],
)
def test_any_width_is_read_as_a_square_image(n_features, side, padding):
    rng = np.random.RandomState(0)
    X, y = rng.rand(40, n_features), np.arange(40) % 2
    clf = MNISTCNNClassifier(filters=(2, 2), dense_units=(), epochs=1).fit(X, y)
    assert clf.architecture_[0] == {"kind": "image", "side": side, "padding": padding}
    proba = clf.predict_proba(X)
    assert proba.shape == (40, 2) and np.isfinite(proba).all()


def test_network_parameters_shape_the_layers():
    X, y = load_digits(return_X_y=True)
    clf = MNISTCNNClassifier(
        filters=16,
        kernel_size=2,
        pool_size=3,
        dense_units=(20, 10),
        dropout=0.0,
        max_shift=0,
        activation="tanh",
        epochs=1,
        random_state=0,
    ).fit(X / 16, y)
    kinds = [layer["kind"] for layer in clf.architecture_]
    assert kinds == [
        "image",
        "conv2d",
        "max_pool2d",
        "flatten",
        "dense",
        "dense",
        "dense",
    ]
    assert clf.architecture_[1]["kernel_size"] == [2, 2]
    assert clf.architecture_[2]["pool_size"] == [3, 3]
    assert [layer.get("activation") for layer in clf.architecture_[4:]] == [
        "tanh",
        "tanh",
        "softmax",
    ]
    with pytest.raises(ValueError, match="filters must be a non-empty"):
        MNISTCNNClassifier(filters=()).fit(X, y)
    with pytest.raises(ValueError, match="dense_units"):
        MNISTCNNClassifier(dense_units=(3, 0)).fit(X, y)


def test_cosine_schedule_ends_near_zero_and_constant_keeps_the_rate():
    X, y = load_digits(return_X_y=True)
    X = MNISTPreprocessor().fit_transform(X.reshape(-1, 8, 8) * 15)
    cosine = MNISTCNNClassifier(filters=(4,), dense_units=(), epochs=8).fit(X, y)
    # Set every 32 steps, at the middle of each block of steps: the last
    # block of the last of 8 epochs of 15 steps is 94% of the way.
    rate = float(cosine._keras_model().optimizer.learning_rate.numpy())
    assert 0 < rate < 0.02 * cosine.learning_rate
    assert cosine._learning_rate(0.0) == cosine.learning_rate
    assert cosine._learning_rate(0.5) == pytest.approx(cosine.learning_rate / 2)
    constant = MNISTCNNClassifier(
        filters=(4,), dense_units=(), epochs=2, learning_rate_schedule="constant"
    ).fit(X, y)
    rate = float(constant._keras_model().optimizer.learning_rate.numpy())
    assert rate == pytest.approx(constant.learning_rate)


def test_random_shifts_act_in_training_only():
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    params = {"filters": (4,), "dense_units": (), "dropout": 0.0, "epochs": 2}
    clf = MNISTCNNClassifier(max_shift=1, random_state=0, **params).fit(X, y)
    model = clf._keras_model()
    inference = np.asarray(model(X[:100], training=False))
    np.testing.assert_allclose(inference, clf.predict_proba(X[:100]), atol=1e-5)
    # In training mode (no dropout here) only the shifts can move the output.
    assert np.abs(np.asarray(model(X[:100], training=True)) - inference).max() > 1e-3
    plain = MNISTCNNClassifier(max_shift=0, random_state=0, **params).fit(X, y)
    plain_model = plain._keras_model()
    np.testing.assert_array_equal(
        np.asarray(plain_model(X[:100], training=True)),
        np.asarray(plain_model(X[:100], training=False)),
    )
