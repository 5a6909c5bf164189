"""MNISTMLPClassifier: the Keras tutorial network as a scikit-learn classifier."""

import numpy as np
import pytest
from _helpers import proba_from_another_process
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from skmnist import MNISTMLPClassifier

# Small settings for tests that check behaviour rather than accuracy.
QUICK = {"hidden_layer_sizes": (64,), "epochs": 2, "random_state": 0}


def test_defaults_are_the_tutorials():
    params = MNISTMLPClassifier().get_params()
    assert params["hidden_layer_sizes"] == (512, 512)
    assert params["activation"] == "relu"
    assert params["dropout"] == 0.2
    assert params["optimizer"] == "adam"
    assert params["learning_rate"] == 0.001
    assert params["batch_size"] == 128
    assert params["epochs"] == 5


def test_tutorial_accuracy_on_mnist(mnist, tutorial_pipelines):
    """The default pipeline matches the tutorial's ~98%: median of 3 seeds."""
    _, (X_test, y_test) = mnist
    scores = [pipe.score(X_test, y_test) for pipe in tutorial_pipelines.values()]
    assert np.median(scores) >= 0.975, scores
    assert min(scores) >= 0.97, scores


def test_tutorial_network_shape(tutorial_pipelines):
    clf = next(iter(tutorial_pipelines.values()))["classifier"]
    assert [c.shape for c in clf.coefs_] == [(784, 512), (512, 512), (512, 10)]
    assert [b.shape for b in clf.intercepts_] == [(512,), (512,), (10,)]
    assert clf.n_features_in_ == 784
    np.testing.assert_array_equal(clf.classes_, np.arange(10))
    text = clf.summary()
    for layer in ("hidden_1", "dropout_1", "hidden_2", "dropout_2", "output"):
        assert layer in text
    # 784*512+512, 512*512+512, 512*10+10 weights: the tutorial's counts.
    for count in ("401,920", "262,656", "5,130"):
        assert count in text


def test_history_has_one_entry_per_epoch_and_loss_falls(mnist_small):
    (X, y), _ = mnist_small
    clf = MNISTMLPClassifier(**{**QUICK, "epochs": 4}).fit(X, y)
    assert set(clf.history_) == {"loss", "accuracy"}
    assert len(clf.history_["loss"]) == len(clf.history_["accuracy"]) == 4
    assert clf.n_iter_ == 4
    assert clf.history_["loss"][-1] < clf.history_["loss"][0]
    assert clf.history_["accuracy"][-1] > clf.history_["accuracy"][0]


def test_probabilities_are_a_distribution_over_classes(mnist_small):
    (X, y), (X_test, _) = mnist_small
    clf = MNISTMLPClassifier(**QUICK).fit(X, y)
    proba = clf.predict_proba(X_test)
    assert proba.shape == (len(X_test), 10)
    assert proba.dtype == X_test.dtype == np.float32  # computed in X's precision
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    proba64 = clf.predict_proba(X_test.astype(np.float64))
    assert proba64.dtype == np.float64
    np.testing.assert_allclose(proba64.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(proba, proba64, atol=1e-6)
    np.testing.assert_array_equal(clf.predict(X_test), proba.argmax(axis=1))
    np.testing.assert_allclose(clf.predict_log_proba(X_test), np.log(proba))


def test_fixed_random_state_gives_identical_models(mnist_small):
    (X, y), (X_test, _) = mnist_small
    first = MNISTMLPClassifier(**QUICK).fit(X, y)
    second = MNISTMLPClassifier(**QUICK).fit(X, y)
    other = MNISTMLPClassifier(**{**QUICK, "random_state": 1}).fit(X, y)

    np.testing.assert_array_equal(
        first.predict_proba(X_test), second.predict_proba(X_test)
    )
    assert first.history_ == second.history_
    assert not np.array_equal(first.predict_proba(X_test), other.predict_proba(X_test))


def test_fixed_random_state_is_reproducible_across_processes(
    mnist_small, mnist_path, tmp_path
):
    (X, y), (X_test, _) = mnist_small
    there = proba_from_another_process(mnist_path, QUICK, tmp_path)
    here = MNISTMLPClassifier(**QUICK).fit(X, y).predict_proba(X_test.astype(float))
    np.testing.assert_array_equal(there, here)


def test_fit_leaves_global_random_state_alone(mnist_small):
    from tensorflow.python.framework import config as tf_config

    (X, y), _ = mnist_small
    before = np.random.get_state()[1].copy()  # noqa: NPY002 - the global state is the point
    MNISTMLPClassifier(**{**QUICK, "epochs": 1}).fit(X[:500], y[:500])
    np.testing.assert_array_equal(np.random.get_state()[1], before)  # noqa: NPY002
    # TensorFlow's public API can switch op determinism on but not read it.
    assert not tf_config.is_op_determinism_enabled()


def test_string_labels(mnist_small):
    (X, y), (X_test, y_test) = mnist_small
    names = np.array(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    )
    clf = MNISTMLPClassifier(**QUICK).fit(X, names[y])
    assert clf.classes_.tolist() == sorted(names)
    pred = clf.predict(X_test)
    assert set(pred) <= set(names)
    assert np.mean(pred == names[y_test]) > 0.85


def test_two_classes(mnist_small):
    (X, y), (X_test, y_test) = mnist_small
    mask, mask_test = np.isin(y, (3, 8)), np.isin(y_test, (3, 8))
    clf = MNISTMLPClassifier(**QUICK).fit(X[mask], y[mask])
    assert clf.classes_.tolist() == [3, 8]
    assert clf.predict_proba(X_test[mask_test]).shape == (mask_test.sum(), 2)
    assert clf.score(X_test[mask_test], y_test[mask_test]) > 0.9


def test_other_activations_and_optimizers_train(mnist_small):
    (X, y), (X_test, y_test) = mnist_small
    combinations = [
        ("tanh", "sgd", 0.1),
        ("logistic", "rmsprop", 0.01),
        ("identity", "adamw", 0.01),
    ]
    for activation, optimizer, learning_rate in combinations:
        clf = MNISTMLPClassifier(
            **QUICK,
            activation=activation,
            optimizer=optimizer,
            learning_rate=learning_rate,
        ).fit(X, y)
        # The NumPy forward pass must implement each activation as Keras does.
        keras_proba = clf._keras_model().predict(X_test, verbose=0)
        np.testing.assert_allclose(clf.predict_proba(X_test), keras_proba, atol=1e-5)
        assert clf.score(X_test, y_test) > 0.8, (activation, optimizer)


def test_no_hidden_layers_is_softmax_regression(mnist_small):
    (X, y), (X_test, y_test) = mnist_small
    clf = MNISTMLPClassifier(hidden_layer_sizes=(), epochs=3, random_state=0).fit(X, y)
    assert [c.shape for c in clf.coefs_] == [(784, 10)]
    assert clf.score(X_test, y_test) > 0.8


# -- errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    "params, name",
    [
        ({"epochs": -1}, "epochs"),
        ({"epochs": 0}, "epochs"),
        ({"dropout": 1.5}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"batch_size": 0}, "batch_size"),
        ({"activation": "softplus"}, "activation"),
        ({"optimizer": "adagrad"}, "optimizer"),
        ({"hidden_layer_sizes": "big"}, "hidden_layer_sizes"),
        ({"verbose": -1}, "verbose"),
    ],
)
def test_bad_parameters_name_the_parameter(params, name):
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
        MNISTMLPClassifier(**params).fit(np.zeros((4, 2)), [0, 1, 0, 1])


@pytest.mark.parametrize("sizes", [(0,), (512, -1), (1.5,)])
def test_non_positive_hidden_layer_sizes(sizes):
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        MNISTMLPClassifier(hidden_layer_sizes=sizes).fit(np.zeros((4, 2)), [0, 1, 0, 1])


def test_nan_is_rejected():
    X = np.zeros((4, 3))
    X[2, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        MNISTMLPClassifier().fit(X, [0, 1, 0, 1])


def test_images_must_be_flattened_first(mnist):
    (X_train, y_train), _ = mnist
    with pytest.raises(ValueError, match="Found array with dim 3"):
        MNISTMLPClassifier().fit(X_train[:10], y_train[:10])


def test_wrong_number_of_features_at_predict(mnist_small):
    (X, y), _ = mnist_small
    clf = MNISTMLPClassifier(**{**QUICK, "epochs": 1}).fit(X[:200], y[:200])
    with pytest.raises(
        ValueError, match="X has 100 features, but MNISTMLPClassifier is expecting 784"
    ):
        clf.predict(np.zeros((2, 100)))


def test_string_features_are_rejected():
    X = np.array([["a", "b"], ["c", "d"]], dtype=object)
    with pytest.raises(ValueError, match="could not convert string to float"):
        MNISTMLPClassifier().fit(X, [0, 1])


def test_one_class_only_is_rejected():
    with pytest.raises(ValueError, match=r"at least 2 classes.*only one class: 7"):
        MNISTMLPClassifier().fit(np.zeros((4, 3)), [7, 7, 7, 7])


def test_continuous_targets_are_rejected():
    with pytest.raises(ValueError, match="Unknown label type"):
        MNISTMLPClassifier().fit(np.zeros((4, 3)), [0.5, 1.5, 2.5, 3.1])


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        MNISTMLPClassifier().fit(np.zeros((4, 3)), [0, 1, 0])


@pytest.mark.parametrize(
    "method", ["predict", "predict_proba", "predict_log_proba", "summary"]
)
def test_use_before_fit_raises_not_fitted(method):
    args = () if method == "summary" else (np.zeros((1, 784)),)
    with pytest.raises(
        NotFittedError, match="MNISTMLPClassifier instance is not fitted"
    ):
        getattr(MNISTMLPClassifier(), method)(*args)
