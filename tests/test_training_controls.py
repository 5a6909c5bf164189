"""Training controls: early stopping, weights, incremental training, verbosity."""

import pickle
import subprocess
import sys

import numpy as np
import pytest
from _helpers import proba_from_another_process
from scipy.stats import loguniform
from sklearn import model_selection
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.metrics import recall_score
from sklearn.model_selection import HalvingGridSearchCV, RandomizedSearchCV

from skmnist import MNISTMLPClassifier, make_mnist_pipeline

QUICK = {"hidden_layer_sizes": (64,), "epochs": 2, "random_state": 0}


def _flat(X):
    return X.reshape(len(X), -1).astype(np.float32) / 255.0


# -- early stopping -------------------------------------------------------------


def test_early_stopping_on_full_mnist_restores_the_best_epoch(mnist, monkeypatch):
    (X_train, y_train), (X_test, y_test) = mnist
    held_out = {}
    real_split = model_selection.train_test_split

    def capture_split(*arrays, **kwargs):
        parts = real_split(*arrays, **kwargs)
        held_out["X"], held_out["y"] = parts[1], parts[3]
        return parts

    monkeypatch.setattr(model_selection, "train_test_split", capture_split)
    clf = MNISTMLPClassifier(
        early_stopping=True, epochs=20, n_iter_no_change=2, tol=1e-3, random_state=0
    ).fit(_flat(X_train), y_train)

    assert clf.n_iter_ < 20
    assert len(clf.validation_scores_) == len(clf.loss_curve_) == clf.n_iter_
    assert clf.history_["val_accuracy"] == clf.validation_scores_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.best_loss_ == min(clf.loss_curve_)  # defined in every mode
    # 10% held out, stratified: every class keeps its share.
    assert len(held_out["y"]) == 6000
    np.testing.assert_allclose(
        np.bincount(held_out["y"]) / 6000, np.bincount(y_train) / 60000, atol=1e-3
    )
    # The restored weights are those of the best epoch, not the last.
    restored = np.mean(clf.predict(held_out["X"]) == clf.classes_[held_out["y"]])
    assert restored == pytest.approx(clf.best_validation_score_, abs=2 / 6000)
    assert clf.score(_flat(X_test), y_test) > 0.975


def test_training_loss_stops_training_without_early_stopping(mnist_small):
    (X, y), _ = mnist_small
    clf = MNISTMLPClassifier(
        **{**QUICK, "epochs": 50, "n_iter_no_change": 1, "tol": 0.05}
    ).fit(X, y)
    assert clf.n_iter_ < 50
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None
    assert clf.best_loss_ == min(clf.loss_curve_)
    # Stopped because the last two epochs improved the loss by less than tol.
    assert clf.loss_curve_[-3] - clf.loss_curve_[-1] < 2 * 0.05


# -- weights ------------------------------------------------------------------


def test_integer_weights_are_repeated_rows(mnist_small):
    (X, y), (X_test, _) = mnist_small
    X, y = X[:1500], y[:1500]
    weights = np.random.RandomState(0).randint(0, 4, size=len(X))
    weighted = MNISTMLPClassifier(**QUICK).fit(X, y, sample_weight=weights)
    repeated = MNISTMLPClassifier(**QUICK).fit(
        np.repeat(X, weights, axis=0), np.repeat(y, weights)
    )
    np.testing.assert_array_equal(
        weighted.predict_proba(X_test), repeated.predict_proba(X_test)
    )


def test_fit_does_not_depend_on_row_order(mnist_small):
    (X, y), (X_test, _) = mnist_small
    order = np.random.RandomState(1).permutation(len(X))
    first = MNISTMLPClassifier(**QUICK).fit(X, y)
    shuffled = MNISTMLPClassifier(**QUICK).fit(X[order], y[order])
    np.testing.assert_array_equal(
        first.predict_proba(X_test), shuffled.predict_proba(X_test)
    )


def test_fractional_weights_change_the_model(mnist_small):
    (X, y), (X_test, _) = mnist_small
    weights = np.where(y == 3, 5.5, 0.5)
    plain = MNISTMLPClassifier(**QUICK).fit(X, y)
    weighted = MNISTMLPClassifier(**QUICK).fit(X, y, sample_weight=weights)
    # Heavier threes: more test images are called 3.
    assert np.sum(weighted.predict(X_test) == 3) > np.sum(plain.predict(X_test) == 3)


def test_class_weight_balanced_rescues_an_undersampled_class(mnist):
    (X_train, y_train), (X_test, y_test) = mnist
    rng = np.random.RandomState(0)
    subset = rng.permutation(len(X_train))[:20000]
    fives = subset[y_train[subset] == 5]
    keep = np.concatenate([subset[y_train[subset] != 5], fives[: len(fives) // 20]])
    X, y = _flat(X_train[keep]), y_train[keep]
    assert np.mean(y == 5) < 0.006  # 5% of its natural share

    params = {**QUICK, "epochs": 3}
    plain = MNISTMLPClassifier(**params).fit(X, y)
    balanced = MNISTMLPClassifier(**params, class_weight="balanced").fit(X, y)

    recall = [
        recall_score(y_test, m.predict(_flat(X_test)), labels=[5], average=None)[0]
        for m in (plain, balanced)
    ]
    assert recall[1] > recall[0] + 0.05, recall


def test_class_weight_dict_multiplies_sample_weight(mnist_small):
    (X, y), _ = mnist_small
    clf = MNISTMLPClassifier(
        **QUICK,
        class_weight={0: 0, 1: 0, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0, 7: 0, 8: 0, 9: 0},
    )
    with pytest.raises(ValueError, match="at least one non-zero"):
        clf.fit(X, y)


@pytest.mark.parametrize(
    "weights, message",
    [
        (np.zeros(6000), "at least one non-zero"),
        (-np.ones(6000), "Negative values in data passed to `sample_weight`"),
        (np.ones(5), r"sample_weight.shape == \(5,\), expected \(6000,\)"),
    ],
)
def test_bad_sample_weights(mnist_small, weights, message):
    (X, y), _ = mnist_small
    with pytest.raises(ValueError, match=message):
        MNISTMLPClassifier(**QUICK).fit(X, y, sample_weight=weights)


# -- incremental training -----------------------------------------------------------


def test_ten_partial_fits_match_ten_epochs(mnist):
    (X_train, y_train), (X_test, y_test) = mnist
    X, y = _flat(X_train[:20000]), y_train[:20000]
    params = {"hidden_layer_sizes": (128,), "random_state": 0}
    fitted = MNISTMLPClassifier(**params, epochs=10).fit(X, y)
    incremental = MNISTMLPClassifier(**params)
    for _ in range(10):
        incremental.partial_fit(X, y, classes=np.arange(10))

    assert incremental.n_iter_ == 10 and len(incremental.loss_curve_) == 10
    gap = abs(
        fitted.score(_flat(X_test), y_test) - incremental.score(_flat(X_test), y_test)
    )
    assert gap <= 0.005


def test_partial_fit_needs_classes_first(mnist_small):
    (X, y), _ = mnist_small
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        MNISTMLPClassifier(**QUICK).partial_fit(X, y)


def test_partial_fit_rejects_data_that_contradicts_the_first_call(mnist_small):
    (X, y), _ = mnist_small
    clf = MNISTMLPClassifier(**QUICK).partial_fit(
        X[y < 5], y[y < 5], classes=np.arange(10)
    )
    assert clf.classes_.tolist() == list(range(10))  # classes unseen so far are kept
    with pytest.raises(ValueError, match="labels \\[10\\]"):
        clf.partial_fit(X[:10], np.full(10, 10))
    with pytest.raises(ValueError, match="is not the same as classes_"):
        clf.partial_fit(X, y, classes=np.arange(5))
    with pytest.raises(ValueError, match="X has 100 features"):
        clf.partial_fit(X[:, :100], y)
    with pytest.raises(ValueError, match="early_stopping"):
        MNISTMLPClassifier(early_stopping=True).partial_fit(X, y, classes=np.arange(10))


def test_warm_start_continues_training(mnist_small):
    (X, y), _ = mnist_small
    clf = MNISTMLPClassifier(**QUICK, warm_start=True).fit(X, y)
    first_coefs = [c.copy() for c in clf.coefs_]
    clf.fit(X, y)
    assert clf.n_iter_ == 4
    assert len(clf.history_["loss"]) == 4
    assert clf.loss_curve_[3] < clf.loss_curve_[0]
    assert not np.array_equal(clf.coefs_[0], first_coefs[0])
    with pytest.raises(ValueError, match="same classes"):
        clf.fit(X[y < 5], y[y < 5])
    with pytest.raises(ValueError, match="X has 10 features"):
        clf.fit(X[:, :10], y)

    cold = MNISTMLPClassifier(**QUICK).fit(X, y)
    cold.fit(X, y)
    assert cold.n_iter_ == 2  # without warm_start, fit starts over


def test_training_continues_identically_after_pickling(mnist_small):
    (X, y), (X_test, _) = mnist_small
    clf = MNISTMLPClassifier(**QUICK).partial_fit(X, y, classes=np.arange(10))
    clf.partial_fit(X, y)
    copy = pickle.loads(pickle.dumps(clf))
    clf.partial_fit(X, y)
    copy.partial_fit(X, y)
    np.testing.assert_array_equal(copy.predict_proba(X_test), clf.predict_proba(X_test))


# -- output ---------------------------------------------------------------------------


def test_verbosity_levels(mnist_small, capfd):
    (X, y), _ = mnist_small
    MNISTMLPClassifier(**{**QUICK, "epochs": 3, "verbose": 0}).fit(X, y)
    out, err = capfd.readouterr()
    assert out == "" and err == ""

    MNISTMLPClassifier(**{**QUICK, "epochs": 3, "verbose": 2}).fit(X, y)
    out, _ = capfd.readouterr()
    assert [line for line in out.splitlines() if line.startswith("Epoch")] == [
        "Epoch 1/3",
        "Epoch 2/3",
        "Epoch 3/3",
    ]
    assert sum("loss:" in line for line in out.splitlines()) == 3

    MNISTMLPClassifier(**{**QUICK, "epochs": 1, "verbose": 1}).fit(X, y)
    out, _ = capfd.readouterr()
    assert "47/47" in out and "━" in out  # a progress bar over the 47 batches


def test_no_tensorflow_noise_on_fit():
    # Several fits in one process, as in a search: TensorFlow would warn about
    # retracing graph functions after the fifth.
    script = (
        "import numpy as np; from skmnist import MNISTMLPClassifier;"
        "X = np.random.RandomState(0).rand(64, 5); y = np.arange(64) % 2;"
        "[MNISTMLPClassifier(epochs=1, random_state=s).fit(X, y).predict(X)"
        " for s in range(7)]"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout == ""
    assert done.stderr == ""


# -- search ---------------------------------------------------------------------------


def test_randomized_search_over_the_pipeline(mnist):
    (X_train, y_train), _ = mnist
    X, y = X_train[:3000], y_train[:3000]
    grid = {
        "classifier__learning_rate": loguniform(1e-4, 1e-2),
        "classifier__hidden_layer_sizes": [(32,), (64,), (64, 32)],
        "classifier__dropout": [0.0, 0.2],
        "classifier__batch_size": [64, 128],
    }

    def search():
        pipe = make_mnist_pipeline(epochs=2, random_state=0)
        return RandomizedSearchCV(pipe, grid, n_iter=3, cv=2, random_state=0).fit(X, y)

    first, second = search(), search()
    assert len(first.cv_results_["params"]) == 3
    assert set(first.best_params_) == set(grid)
    assert 1e-4 <= first.best_params_["classifier__learning_rate"] <= 1e-2
    np.testing.assert_array_equal(
        first.cv_results_["mean_test_score"], second.cv_results_["mean_test_score"]
    )
    assert first.best_score_ > 0.8


def test_halving_search_uses_epochs_as_the_resource(mnist):
    (X_train, y_train), _ = mnist
    X, y = X_train[:3000], y_train[:3000]
    pipe = make_mnist_pipeline(hidden_layer_sizes=(32,), random_state=0)
    search = HalvingGridSearchCV(
        pipe,
        {"classifier__learning_rate": [1e-5, 1e-4, 1e-3, 1e-2]},
        resource="classifier__epochs",
        min_resources=1,
        max_resources=4,
        factor=2,
        cv=2,
        random_state=0,
    ).fit(X, y)
    assert search.n_resources_ == [1, 2, 4]
    assert search.n_candidates_ == [4, 2, 1]
    assert search.best_estimator_.named_steps["classifier"].epochs == 4
    assert search.best_estimator_.named_steps["classifier"].n_iter_ == 4
    assert search.best_params_["classifier__learning_rate"] in (1e-3, 1e-2)


def test_thread_count_does_not_change_the_model(mnist_small, mnist_path, tmp_path):
    # A search with n_jobs=2 or on Dask trains in workers given one thread
    # each; the model must be the one a two-thread process trains, up to the
    # rounding of TensorFlow's matrix products: on some CPUs (an AMD EPYC
    # with AVX2 and no AVX-512) a product with a 784-long inner dimension
    # rounds differently with one and two threads (float32's last bits; the
    # weights then differ by about 5e-7 after two epochs, docs/performance.md).
    # The rows, the seeds and the steps are the same: a batch of 127 rows
    # instead of 128 moves the probabilities by up to 0.15.
    (X, y), (X_test, _) = mnist_small
    there = proba_from_another_process(
        mnist_path, QUICK, tmp_path, env={"OMP_NUM_THREADS": "1"}
    )
    here = (
        MNISTMLPClassifier(**QUICK).fit(X, y).predict_proba(X_test.astype(np.float64))
    )
    np.testing.assert_allclose(there, here, rtol=1e-5, atol=1e-7)
    assert (there.argmax(axis=1) != here.argmax(axis=1)).sum() <= 1


def test_a_rejected_fit_leaves_the_fitted_model_as_it_was(mnist_small):
    (X, y), (X_test, _) = mnist_small
    clf = MNISTMLPClassifier(**QUICK).fit(X, y)
    before = clf.predict_proba(X_test)
    names = np.array(list("abcdefghij"))[y]
    with pytest.raises(ValueError, match="non-zero"):
        clf.fit(X, names, sample_weight=np.zeros(len(X)))
    assert clf.classes_.tolist() == list(range(10))
    np.testing.assert_array_equal(clf.predict_proba(X_test), before)
