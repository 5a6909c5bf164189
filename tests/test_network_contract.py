"""The contract every skmnist network keeps, written once for all of them.

Each test runs on every network of skmnist's registry (the two presets,
LeNet-5 and a residual network with batch normalisation, as
``NetworkClassifier`` configurations), small versions of each
(``tests/_networks.py``), on scikit-learn's 8 x 8 digits. Network-specific
tests live in ``test_classifier.py``/``test_cnn.py``/``test_network.py``; the
scikit-learn estimator checks in ``test_common.py``.
"""

import functools
import io
import math
import pickle
import re
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
from _networks import SMALL, other_network_params, small_network
from sklearn import model_selection
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.utils._param_validation import InvalidParameterError

import skmnist


@pytest.fixture(params=sorted(SMALL))
def make(request):
    """A factory of a small network of each kind, with overridable parameters."""
    return functools.partial(small_network, request.param)


def test_every_registered_network_has_a_small_version():
    assert set(skmnist.registered_networks()) <= set(SMALL)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    return X[:600], y[:600], X[600:900], y[600:900]


def fingerprint(clf):
    """Everything a call could change: attributes, training state, generator."""
    state = {
        name: value
        for name, value in vars(clf).items()
        if name not in ("_keras_trainer", "_training_state")
    }
    if hasattr(clf, "coefs_"):
        state["_training_state"] = clf._get_training_state()
    return pickle.dumps(state)


# -- training, continued training and reproducibility ------------------------------


def test_fixed_random_state_gives_bitwise_identical_models(make, digits):
    X, y, X_test, _ = digits
    global_before = np.random.get_state()[1].copy()  # noqa: NPY002
    first, second = make().fit(X, y), make().fit(X, y)
    for a, b in zip(first.coefs_, second.coefs_, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        first.predict_proba(X_test), second.predict_proba(X_test)
    )
    np.testing.assert_array_equal(np.random.get_state()[1], global_before)  # noqa: NPY002
    other = make(random_state=1).fit(X, y)
    assert not np.array_equal(other.coefs_[0], first.coefs_[0])


def test_same_rows_in_another_order_give_the_same_model(make, digits):
    X, y, X_test, _ = digits
    X = X.astype(np.float64)  # digits / 16: short mantissas, a hash's hard case
    perm = np.random.RandomState(3).permutation(len(X))
    a, b = make().fit(X, y), make().fit(X[perm], y[perm])
    np.testing.assert_array_equal(a.predict_proba(X_test), b.predict_proba(X_test))


def test_partial_fit_continues_one_epoch_at_a_time(make, digits):
    X, y, _, _ = digits
    with pytest.raises(ValueError, match="classes must be passed"):
        make().partial_fit(X, y)
    clf = make()
    for i in range(1, 4):
        clf.partial_fit(X, y, classes=np.arange(10))
        assert clf.n_iter_ == i
        assert len(clf.loss_curve_) == len(clf.history_["loss"]) == i
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert clf.best_loss_ == min(clf.loss_curve_)
    # Later calls may name the classes again, but no others.
    clf.partial_fit(X, y, classes=np.arange(10))
    with pytest.raises(ValueError, match="not the same"):
        clf.partial_fit(X, y, classes=np.arange(11))
    assert clf.n_iter_ == 4


def _constant_schedule(clf):
    return (
        {"learning_rate_schedule": "constant"}
        if "learning_rate_schedule" in clf.get_params()
        else {}
    )


def test_warm_start_continues_the_same_network(make, digits):
    X, y, _, _ = digits
    clf = make(warm_start=True).fit(X, y)
    first_weights = [c.copy() for c in clf.coefs_]
    iterations = int(clf._keras_model().optimizer.iterations)
    clf.fit(X, y)
    assert clf.n_iter_ == 6
    assert int(clf._keras_model().optimizer.iterations) == 2 * iterations
    assert not np.array_equal(clf.coefs_[0], first_weights[0])
    cold = clf.set_params(warm_start=False).fit(X, y)
    assert cold.n_iter_ == 3


def test_warm_start_refuses_another_network_and_changes_nothing(make, digits):
    X, y, _, _ = digits
    clf = make(warm_start=True).fit(X, y)
    params, before = clf.get_params(), fingerprint(clf)
    other = other_network_params(make.args[0])
    with pytest.raises(ValueError, match="another one"):
        clf.set_params(**other).fit(X, y)
    with pytest.raises(ValueError, match="another one"):
        clf.partial_fit(X, y)
    assert fingerprint(clf.set_params(**params)) == before


def test_continued_training_after_save_and_load_is_identical(make, digits, tmp_path):
    X, y, X_test, _ = digits
    clf = make(warm_start=True).fit(X, y)
    path = skmnist.save(clf, tmp_path / "model.skmnist")
    copies = [skmnist.load(path), pickle.loads(pickle.dumps(clf)), clone(clf)]
    clf.fit(X, y)
    for copy in copies[:2]:
        copy.fit(X, y)
        np.testing.assert_array_equal(
            copy.predict_proba(X_test), clf.predict_proba(X_test)
        )
        assert copy.history_ == clf.history_
    assert copies[2].fit(X, y).n_iter_ == 3  # a clone is unfitted: it starts anew


def test_early_stopping_restores_the_best_epoch(make, digits, monkeypatch):
    X, y, _, _ = digits
    held_out = {}
    real_split = model_selection.train_test_split

    def capture_split(*arrays, **kwargs):
        parts = real_split(*arrays, **kwargs)
        held_out["X"], held_out["y"] = parts[1], parts[3]
        return parts

    monkeypatch.setattr(model_selection, "train_test_split", capture_split)
    clf = make(early_stopping=True, epochs=25, n_iter_no_change=2, learning_rate=0.01)
    clf.fit(X, y)
    assert len(clf.validation_scores_) == clf.n_iter_ == len(clf.history_["val_loss"])
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    # The restored weights are the best epoch's: they score it on the hold-out.
    restored = np.mean(
        clf.predict(held_out["X"].astype(np.float32)) == clf.classes_[held_out["y"]]
    )
    assert restored == pytest.approx(clf.best_validation_score_, abs=1e-9)


# -- sequences of calls: the attributes stay consistent ----------------------------


def _check_consistent(clf):
    n = clf.n_iter_
    assert all(len(values) == n for values in clf.history_.values()), clf.history_
    assert clf.loss_curve_ == clf.history_["loss"]
    assert clf.best_loss_ == min(clf.loss_curve_)
    if "val_accuracy" in clf.history_:
        np.testing.assert_array_equal(
            clf.validation_scores_, clf.history_["val_accuracy"]
        )
    else:
        assert clf.validation_scores_ is None


def test_warm_start_without_early_stopping_after_an_early_stopping_fit(make, digits):
    # It used to subtract tol from best_loss_ None (issue 11, defect 1).
    X, y, _, _ = digits
    clf = make(early_stopping=True).fit(X, y)
    clf.set_params(early_stopping=False, warm_start=True).fit(X, y)
    _check_consistent(clf)
    assert clf.n_iter_ == 6 and clf.best_validation_score_ is None
    assert all(math.isnan(v) for v in clf.history_["val_accuracy"][3:])


def test_history_columns_line_up_when_early_stopping_starts_later(make, digits):
    # history_["val_loss"] used to have 3 entries for 6 epochs (defect 2).
    X, y, _, _ = digits
    clf = make().fit(X, y)
    clf.set_params(warm_start=True, early_stopping=True).fit(X, y)
    _check_consistent(clf)
    assert len(clf.history_["val_loss"]) == clf.n_iter_ == 6
    assert all(math.isnan(v) for v in clf.history_["val_loss"][:3])
    assert not any(math.isnan(v) for v in clf.history_["val_loss"][3:])
    clf.set_params(early_stopping=False).partial_fit(X, y)
    _check_consistent(clf)
    assert math.isnan(clf.validation_scores_[-1]) and clf.best_validation_score_ is None


def test_optimizer_and_learning_rate_changed_between_calls_take_effect(make, digits):
    X, y, _, _ = digits
    clf = make(warm_start=True).fit(X, y)
    clf.set_params(optimizer="sgd", learning_rate=0.05, **_constant_schedule(clf))
    clf.fit(X, y)
    optimizer = clf._keras_model().optimizer
    assert type(optimizer).__name__ == "SGD"
    assert float(optimizer.learning_rate.numpy()) == pytest.approx(0.05)
    _check_consistent(clf)


# -- rejected calls change nothing -------------------------------------------------


def _rejections(X, y):
    """(description, call) pairs: each call must raise on a fitted model."""
    nan_X = X.copy()
    nan_X[0, 0] = np.nan
    one_class = np.zeros_like(y)
    return {
        "NaN in X": lambda clf: clf.fit(nan_X, y),
        "1-D X": lambda clf: clf.fit(X[:, 0], y),
        "other width, one class": lambda clf: clf.fit(X[:, :10], one_class),
        "other width (warm start)": lambda clf: clf.set_params(warm_start=True).fit(
            X[:, :10], y
        ),
        "other width (partial_fit)": lambda clf: clf.partial_fit(X[:, :10], y),
        "one class": lambda clf: clf.fit(X, one_class),
        "y of another length": lambda clf: clf.fit(X, y[:-1]),
        "new class (partial_fit)": lambda clf: clf.partial_fit(X, y + 100),
        "other classes (warm start)": lambda clf: clf.set_params(warm_start=True).fit(
            X, y % 3
        ),
        "negative weight": lambda clf: clf.fit(X, y, sample_weight=-np.ones(len(y))),
        "NaN weight": lambda clf: clf.fit(X, y, sample_weight=np.full(len(y), np.nan)),
        "zero weights": lambda clf: clf.fit(X, y, sample_weight=np.zeros(len(y))),
        "bad parameter": lambda clf: clf.set_params(batch_size=0).fit(X, y),
        "negative class weight": lambda clf: clf.set_params(class_weight={0: -0.5}).fit(
            X, y
        ),
        "NaN class weight": lambda clf: clf.set_params(class_weight={0: np.nan}).fit(
            X, y
        ),
        "early stopping in partial_fit": lambda clf: clf.set_params(
            early_stopping=True
        ).partial_fit(X, y),
    }


@pytest.mark.parametrize(
    "rejection", sorted(_rejections(np.zeros((2, 2)), np.zeros(2)))
)
def test_a_rejected_call_leaves_a_fitted_model_exactly_as_it_was(
    make, digits, rejection
):
    X, y, X_test, _ = digits
    clf = make().fit(X, y)
    params = clf.get_params()
    before, proba = fingerprint(clf), clf.predict_proba(X_test)
    with pytest.raises((ValueError, TypeError)):
        _rejections(X, y)[rejection](clf)
    clf.set_params(**params)  # the rejected call may have set parameters itself
    assert fingerprint(clf) == before
    np.testing.assert_array_equal(clf.predict_proba(X_test), proba)
    assert clf.n_features_in_ == X.shape[1]


def test_an_interrupted_fit_leaves_the_model_as_it_was(make, digits, monkeypatch):
    X, y, X_test, _ = digits
    clf = make(warm_start=True).fit(X, y)
    before, proba = fingerprint(clf), clf.predict_proba(X_test)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(type(clf), "_record", interrupted)  # after training ran
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    monkeypatch.undo()
    assert fingerprint(clf) == before
    np.testing.assert_array_equal(clf.predict_proba(X_test), proba)


def test_bad_class_weights_are_refused_with_a_clear_message(make, digits):
    X, y, _, _ = digits
    with pytest.raises(ValueError, match="finite non-negative"):
        make(class_weight={0: -0.5}).fit(X, y)
    with pytest.raises(ValueError, match="finite non-negative"):
        make(class_weight={0: float("nan")}).fit(X, y)
    with pytest.raises(InvalidParameterError):
        make(class_weight="even").fit(X, y)


# -- weights -----------------------------------------------------------------------


def test_integer_weights_are_repeated_rows(make, digits):
    X, y, X_test, _ = digits
    weights = np.random.RandomState(0).randint(0, 3, len(y))
    weighted = make().fit(X, y, sample_weight=weights)
    repeated = make().fit(np.repeat(X, weights, axis=0), np.repeat(y, weights))
    np.testing.assert_array_equal(
        weighted.predict_proba(X_test), repeated.predict_proba(X_test)
    )


def test_class_weight_is_sample_weight_by_class(make, digits):
    X, y, X_test, _ = digits
    class_weight = {label: 1 + (label % 3) for label in range(10)}
    by_class = make(class_weight=class_weight).fit(X, y)
    by_sample = make().fit(X, y, sample_weight=[class_weight[label] for label in y])
    np.testing.assert_array_equal(
        by_class.predict_proba(X_test), by_sample.predict_proba(X_test)
    )


def test_huge_integer_weights_scale_the_loss_instead_of_repeating_rows(make, digits):
    # 10**6 copies of each row would take minutes and gigabytes (issue 11).
    X, y, _, _ = digits
    clf = make(epochs=1, batch_size=100).fit(
        X[:100], y[:100], sample_weight=np.full(100, 10**6)
    )
    assert int(clf._keras_model().optimizer.iterations) == 1  # 100 rows, once


def test_batch_size_larger_than_the_data_is_one_batch(make, digits):
    X, y, _, _ = digits
    clf = make(epochs=2, batch_size=2**31).fit(X, y)
    assert int(clf._keras_model().optimizer.iterations) == 2
    _check_consistent(clf)


# -- prediction, persistence, Keras ------------------------------------------------


def test_probabilities_in_the_precision_of_the_input(make, digits):
    X, y, X_test, _ = digits
    clf = make().fit(X, y)
    proba32 = clf.predict_proba(X_test)
    proba64 = clf.predict_proba(X_test.astype(np.float64))
    assert proba32.dtype == np.float32 and proba64.dtype == np.float64
    np.testing.assert_allclose(proba32, proba64, atol=1e-6)
    np.testing.assert_allclose(proba64.sum(axis=1), 1, rtol=1e-12)
    # float64 rows do not depend on their place in the batch.
    np.testing.assert_allclose(
        clf.predict_proba(X_test[::-1].astype(np.float64))[::-1], proba64, rtol=1e-12
    )


def test_numpy_prediction_equals_keras(make, digits):
    X, y, X_test, _ = digits
    clf = make().fit(X, y)
    keras_model = clf.to_keras()
    np.testing.assert_allclose(
        np.asarray(keras_model.predict(X_test, verbose=0)),
        clf.predict_proba(X_test),
        atol=1e-5,
    )
    np.testing.assert_allclose(
        np.asarray(clf._keras_model()(X_test, training=False)),
        clf.predict_proba(X_test),
        atol=1e-5,
    )


def test_to_keras_is_a_copy_that_can_be_fine_tuned(make, digits):
    X, y, X_test, _ = digits
    clf = make().fit(X, y)
    proba = clf.predict_proba(X_test)
    model = clf.to_keras()
    model.fit(X, np.searchsorted(clf.classes_, y), epochs=1, verbose=0)
    np.testing.assert_array_equal(clf.predict_proba(X_test), proba)  # unchanged
    assert model.count_params() == sum(
        c.size + b.size for c, b in zip(clf.coefs_, clf.intercepts_, strict=True)
    )


def test_summary_names_the_layers(make, digits):
    X, y, _, _ = digits
    clf = make().fit(X, y)
    text = clf.summary()
    assert "output (Dense)" in text
    kinds = {layer["kind"] for layer in clf.architecture_}
    assert ("conv_1 (Conv2D)" in text) == ("conv2d" in kinds)
    params = sum(
        c.size + b.size for c, b in zip(clf.coefs_, clf.intercepts_, strict=True)
    )
    trainable = re.search(r" Trainable params: ([\d,]+)", text).group(1)
    fixed = re.search(r" Non-trainable params: ([\d,]+)", text).group(1)
    assert int(trainable.replace(",", "")) + int(fixed.replace(",", "")) == params


@pytest.mark.parametrize("how", ["pickle", "joblib", "skops", "skmnist"])
def test_round_trips_predict_the_same(make, digits, tmp_path, how):
    X, y, X_test, _ = digits
    clf = make().fit(X, y)
    if how == "pickle":
        copy = pickle.loads(pickle.dumps(clf))
    elif how == "joblib":
        buffer = io.BytesIO()
        joblib.dump(clf, buffer)
        buffer.seek(0)
        copy = joblib.load(buffer)
    elif how == "skops":
        import skops.io as sio

        data = sio.dumps(clf)
        copy = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    else:
        copy = skmnist.load(skmnist.save(clf, tmp_path / "m.skmnist"))
    assert type(copy) is type(clf)
    assert copy.architecture_ == clf.architecture_
    np.testing.assert_array_equal(copy.predict_proba(X_test), clf.predict_proba(X_test))


# A user's network loads once the module that registers its kinds is imported
# (tests/data/user_networks.py, found on the path given as the 4th argument).
_PREDICT_IN_FRESH_PROCESS = """
import sys
from pathlib import Path
import numpy as np
import skmnist
sys.path.insert(0, sys.argv[4])
import user_networks
model = skmnist.load(sys.argv[1])
np.save(sys.argv[3], model.predict_proba(np.load(sys.argv[2])))
assert not any(m.split(".")[0] in ("tensorflow", "keras") for m in sys.modules)
"""


def test_loaded_model_predicts_without_tensorflow(make, digits, tmp_path):
    X, y, X_test, _ = digits
    clf = make().fit(X, y)
    path = skmnist.save(clf, tmp_path / "m.skmnist")
    np.save(tmp_path / "X.npy", X_test)
    subprocess.run(
        [
            sys.executable,
            "-c",
            _PREDICT_IN_FRESH_PROCESS,
            path,
            tmp_path / "X.npy",
            tmp_path / "p.npy",
            Path(__file__).parent / "data",
        ],
        check=True,
    )
    np.testing.assert_allclose(
        np.load(tmp_path / "p.npy"), clf.predict_proba(X_test), atol=1e-6
    )


def test_loading_refuses_weights_that_do_not_fit_the_architecture(
    make, digits, tmp_path
):
    X, y, _, _ = digits
    clf = make().fit(X, y)
    clf.coefs_[0] = clf.coefs_[0][..., :-1]
    with pytest.raises(ValueError, match="shape"):
        skmnist.load(skmnist.save(clf, tmp_path / "bad.skmnist"))
    clf = make().fit(X, y)
    clf.intercepts_[-1] = np.full_like(clf.intercepts_[-1], np.nan)
    with pytest.raises(ValueError, match="NaN"):
        skmnist.load(skmnist.save(clf, tmp_path / "nan.skmnist"))
