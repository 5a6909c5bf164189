"""scikit-learn's MLPClassifier tests, restated for skmnist's networks.

The source is ``sklearn/neural_network/tests/test_mlp.py`` of scikit-learn
1.9.1 (the version installed; the file ships with it). Each case names the
test it comes from; parameters are translated (``learning_rate_init`` is
``learning_rate``, ``max_iter`` is ``epochs``, ``solver`` is ``optimizer``,
``lbfgs`` becomes Adam) and every case runs on both networks. Where skmnist
behaves differently on purpose the case asserts skmnist's behaviour and says
so; ``docs/peer_expectations.md`` lists those differences with their reasons,
and the cases scikit-learn has that do not apply (regressors, lbfgs's
function-evaluation budget, multi-label outputs).
"""

import copy
import math
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
from _peers import (
    NETWORKS,
    X_DIGITS_BINARY,
    X_DIGITS_MULTI,
    X_IRIS,
    Y_DIGITS_BINARY,
    Y_DIGITS_MULTI,
    Y_IRIS,
    same_weights,
)
from numpy.testing import assert_allclose, assert_array_equal
from scipy.sparse import csr_matrix
from sklearn.base import clone
from sklearn.datasets import load_digits, make_classification
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV
from sklearn.utils._param_validation import InvalidParameterError

ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]


@pytest.fixture(params=sorted(NETWORKS))
def net(request):
    return NETWORKS[request.param]


@pytest.fixture(scope="module", params=sorted(NETWORKS))
def fitted(request):
    """Each network fitted once on the 3-class digits as float32, read only."""
    clf = NETWORKS[request.param](epochs=30)
    return clf.fit(X_DIGITS_MULTI.astype(np.float32), Y_DIGITS_MULTI)


# -- the optimizer's step ----------------------------------------------------------


def _numerical_gradient(clf, X, y, eps=1e-6, per_array=64):
    """Central differences of the mean cross-entropy, weight by weight.

    The loss is computed from ``predict_proba`` in float64 on a copy whose
    ``coefs_``/``intercepts_`` are replaced, as scikit-learn's test_fit sets
    them; every perturbed array is kept alive so that no two share an id.
    Each array's gradient is taken at up to ``per_array`` entries (all of a
    small array, a seeded sample of a larger one, such as LeNet-5's 2,400
    convolution weights): ``(entries, gradient)`` of each, ravelled.
    """
    probe = copy.deepcopy(clf)
    weights = [*clf.coefs_, *clf.intercepts_]
    n_coefs = len(clf.coefs_)
    codes = np.searchsorted(clf.classes_, y)
    keep = []

    def loss(replaced):
        keep.append(replaced)
        probe.coefs_, probe.intercepts_ = replaced[:n_coefs], replaced[n_coefs:]
        proba = probe.predict_proba(X)
        return -np.log(proba[np.arange(len(X)), codes]).mean()

    rng = np.random.RandomState(0)
    gradients = []
    for i, w in enumerate(weights):
        entries = np.arange(w.size)
        if w.size > per_array:
            entries = np.sort(rng.choice(w.size, per_array, replace=False))
        gradient = np.empty(len(entries))
        for j, entry in enumerate(entries):
            index = np.unravel_index(entry, w.shape)
            plus, minus = w.copy(), w.copy()
            plus[index] += eps
            minus[index] -= eps
            gradient[j] = (
                loss([*weights[:i], plus, *weights[i + 1 :]])
                - loss([*weights[:i], minus, *weights[i + 1 :]])
            ) / (2 * eps)
        gradients.append((entries, gradient))
    return gradients


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_one_sgd_step_follows_the_gradient_of_the_cross_entropy(net, activation):
    # sklearn test_mlp.py::test_fit (one SGD step against a worked-out example)
    # sklearn test_mlp.py::test_gradient (analytic against numerical gradients,
    # every activation). One batch of all rows, plain SGD: the step is exactly
    # -learning_rate times the gradient of the mean cross-entropy.
    X, y = X_DIGITS_MULTI[:12], Y_DIGITS_MULTI[:12]
    lr = 0.1
    clf = net(
        optimizer="sgd",
        learning_rate=lr,
        batch_size=len(X),
        activation=activation,
        hidden=(5,),
        shuffle=False,
    )
    clf.partial_fit(X, y, classes=[0, 1, 2])  # away from the initial weights
    before = [w.copy() for w in [*clf.coefs_, *clf.intercepts_]]
    gradients = _numerical_gradient(clf, X, y)
    clf.partial_fit(X, y)
    after = [*clf.coefs_, *clf.intercepts_]
    assert max(np.abs(lr * g).max() for _, g in gradients) > 1e-3  # a real step
    for w0, w1, (entries, g) in zip(before, after, gradients, strict=True):
        assert_allclose((w1 - w0).ravel()[entries], -lr * g, atol=1e-6)


# -- learning ----------------------------------------------------------------------


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_learns_the_digits_with_every_activation(net, activation):
    # sklearn test_mlp.py::test_lbfgs_classification (lbfgs -> Adam,
    # max_iter=150 -> 30 epochs of mini-batches; the 3-class digits here, the
    # 2-class ones in test_predict_proba_binary)
    X, y = X_DIGITS_MULTI, Y_DIGITS_MULTI
    clf = net(epochs=30, learning_rate=0.02, activation=activation)
    clf.fit(X[:150], y[:150])
    assert clf.score(X[:150], y[:150]) > 0.95
    y_pred = clf.predict(X[150:])
    assert (y_pred.shape[0], y_pred.dtype.kind) == (len(X) - 150, y.dtype.kind)


def test_partial_fits_give_what_fit_gives(net):
    # sklearn test_mlp.py::test_partial_fit_classification. The ConvNet's
    # cosine schedule spans a fit's epochs while partial_fit keeps the rate
    # (docs/training.md), so the ConvNets compare with a constant rate. Each
    # call shuffles with its own seed (a fit's epochs draw from one), so the
    # two models are alike, not equal: they may disagree on a hard row (1 of
    # the 200 for the ConvNets, whose probabilities for it differ by 0.44).
    schedule = {} if net.name == "mlp" else {"learning_rate_schedule": "constant"}
    params = {"optimizer": "sgd", "learning_rate": 0.2, "tol": 0, **schedule}
    X, y = X_DIGITS_MULTI, Y_DIGITS_MULTI
    fitted = net(epochs=20, **params).fit(X, y)
    incremental = net(**params)
    for _ in range(20):
        incremental.partial_fit(X, y, classes=np.unique(y))
    assert (fitted.predict(X) != incremental.predict(X)).sum() <= 2
    assert fitted.score(X, y) > 0.95
    assert incremental.score(X, y) > 0.95


# -- partial_fit and its classes ---------------------------------------------------


def test_partial_fit_refuses_other_classes(net):
    # sklearn test_mlp.py::test_partial_fit_classes_error
    X, y = [[3, 2]], [0]
    clf = net().partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="is not the same as classes_"):
        clf.partial_fit(X, y, classes=[1, 2])


def test_partial_fit_learns_a_class_first_seen_later(net):
    # sklearn test_mlp.py::test_partial_fit_unseen_classes
    clf = net().partial_fit(
        [[1], [2], [3]], ["a", "b", "c"], classes=["a", "b", "c", "d"]
    )
    clf.partial_fit([[4]], ["d"])
    assert clf.classes_.tolist() == ["a", "b", "c", "d"]
    assert clf.score([[1], [2], [3], [4]], ["a", "b", "c", "d"]) > 0


def test_partial_fit_refuses_labels_outside_classes(net):
    # sklearn test_mlp.py::test_partial_fit_errors
    with pytest.raises(ValueError, match=r"labels \[0, 1\] that are not in classes"):
        net().partial_fit([[3, 2], [1, 6]], [1, 0], classes=[2])


def test_partial_fit_after_an_early_stopping_fit_is_refused(net):
    # sklearn test_mlp.py::test_mlp_partial_fit_after_fit
    clf = net(early_stopping=True, epochs=1).fit(X_IRIS, Y_IRIS)
    with pytest.raises(
        ValueError, match="partial_fit does not support early_stopping=True"
    ):
        clf.partial_fit(X_IRIS, Y_IRIS)


def test_training_continues_after_a_joblib_round_trip(net, tmp_path):
    # sklearn test_mlp.py::test_mlp_loading_from_joblib_partial_fit (the
    # regressor learned a new target; here fifty digits learn flipped labels)
    X, y = X_DIGITS_BINARY[:50], Y_DIGITS_BINARY[:50]
    clf = net(epochs=20).fit(X, y)
    assert_array_equal(clf.predict(X), y)
    joblib.dump(clf, tmp_path / "mlp.pkl")
    loaded = joblib.load(tmp_path / "mlp.pkl")
    for _ in range(40):
        loaded.partial_fit(X, 1 - y)
    assert_array_equal(loaded.predict(X), 1 - y)


# -- probabilities -----------------------------------------------------------------


def test_predict_proba_binary(net):
    # sklearn test_mlp.py::test_predict_proba_binary
    X, y = X_DIGITS_BINARY[:50], Y_DIGITS_BINARY[:50]
    clf = net(hidden=(5,), activation="logistic", epochs=30).fit(X, y)
    proba, log_proba = clf.predict_proba(X), clf.predict_log_proba(X)
    assert proba.shape == (50, 2)
    assert_array_equal(proba.argmax(axis=1), log_proba.argmax(axis=1))
    assert_allclose(log_proba, np.log(proba))
    assert roc_auc_score(y, proba[:, 1]) == 1.0


def test_predict_proba_multiclass(fitted):
    # sklearn test_mlp.py::test_predict_proba_multiclass
    X = X_DIGITS_MULTI[:10]
    proba, log_proba = fitted.predict_proba(X), fitted.predict_log_proba(X)
    assert proba.shape == (10, 3)
    assert_array_equal(proba.argmax(axis=1), log_proba.argmax(axis=1))
    assert_allclose(log_proba, np.log(proba))


# -- training controls -------------------------------------------------------------


def test_shuffle_changes_training_and_a_seed_repeats_it(net):
    # sklearn test_mlp.py::test_shuffle (the classifier's version)
    X, y = X_DIGITS_BINARY[:50], Y_DIGITS_BINARY[:50]

    def fit(shuffle):
        return net(epochs=1, batch_size=1, shuffle=shuffle).fit(X, y)

    shuffled = fit(True)
    assert same_weights(shuffled, fit(True))
    assert not same_weights(shuffled, fit(False))


def test_tolerance_stops_training_before_the_last_epoch(net):
    # sklearn test_mlp.py::test_tolerance
    clf = net(tol=0.5, epochs=300, optimizer="sgd").fit([[3, 2], [1, 6]], [1, 0])
    assert clf.n_iter_ < clf.epochs


def _no_improvement_counts(losses, tol):
    """scikit-learn's count of epochs without an improvement of ``tol``."""
    best, count, counts = np.inf, 0, []
    for loss in losses:
        count = 0 if loss <= best - tol else count + 1
        best = min(best, loss)
        counts.append(count)
    return counts


@pytest.mark.parametrize("n_iter_no_change", [2, 10])
def test_training_stops_after_n_iter_no_change_epochs_without_improvement(
    net, n_iter_no_change
):
    # sklearn test_mlp.py::test_n_iter_no_change (it reads the private count;
    # here the count is rebuilt from loss_curve_, with the same rule)
    X, y = X_DIGITS_BINARY[:100], Y_DIGITS_BINARY[:100]
    clf = net(
        tol=0.01,
        epochs=300,
        optimizer="sgd",
        learning_rate=0.001,
        n_iter_no_change=n_iter_no_change,
    ).fit(X, y)
    assert clf.n_iter_ < clf.epochs
    counts = _no_improvement_counts(clf.loss_curve_, 0.01)
    assert counts[-1] == n_iter_no_change + 1
    assert max(counts[:-1]) <= n_iter_no_change  # it stopped at the first chance


def test_n_iter_no_change_inf_never_stops(net):
    # sklearn test_mlp.py::test_n_iter_no_change_inf
    # sklearn test_mlp.py::test_mlp_warm_start_no_convergence (n_iter_no_change=inf)
    X, y = X_DIGITS_BINARY[:100], Y_DIGITS_BINARY[:100]
    clf = net(tol=1e9, epochs=100, optimizer="sgd", n_iter_no_change=np.inf)
    clf.fit(X, y)
    assert clf.n_iter_ == 100
    assert _no_improvement_counts(clf.loss_curve_, 1e9)[-1] == clf.n_iter_ - 1


def test_early_stopping_attributes(net):
    # sklearn test_mlp.py::test_early_stopping
    X, y = X_DIGITS_BINARY[:100], Y_DIGITS_BINARY[:100]
    tol = 0.2
    clf = net(tol=tol, epochs=300, optimizer="sgd", early_stopping=True).fit(X, y)
    assert clf.n_iter_ < clf.epochs
    scores = clf.validation_scores_
    assert isinstance(scores, list) and len(scores) == clf.n_iter_
    assert max(scores) == clf.best_validation_score_
    assert clf.best_validation_score_ + tol > scores[-2]
    assert clf.best_validation_score_ + tol > scores[-1]
    # Documented difference: best_loss_ is the lowest training loss in every
    # mode (MLPClassifier leaves it None with early stopping).
    assert clf.best_loss_ == min(clf.loss_curve_)

    clf = net(tol=tol, epochs=300, optimizer="sgd", early_stopping=False).fit(X, y)
    assert clf.validation_scores_ is None
    assert clf.best_validation_score_ is None
    assert clf.best_loss_ is not None


def test_early_stopping_splits_stratified(net):
    # sklearn test_mlp.py::test_early_stopping_stratified
    with pytest.raises(ValueError, match="only 1 member"):
        net(early_stopping=True).fit([[1, 2], [2, 3], [3, 4], [4, 5]], [0, 0, 0, 1])


def test_a_validation_set_too_small_is_explained(net):
    # sklearn test_mlp.py::test_minimum_input_sample_size ("The validation set
    # is too small"): the message names the parameter to change.
    X, y = load_digits(return_X_y=True)
    with pytest.raises(ValueError, match="validation_fraction"):
        net(early_stopping=True).fit(X[:80], y[:80])  # 8 held out, 10 classes
    with pytest.raises(ValueError, match="validation_fraction"):
        net(early_stopping=True).fit(X[:2], [0, 1])


def test_early_stopping_with_string_labels(net):
    # sklearn test_mlp.py::test_mlp_early_stopping_string_labels
    X, y = make_classification(
        n_samples=200, n_features=10, n_classes=3, n_informative=5, random_state=42
    )
    y = np.array(["class_a", "class_b", "class_c"], dtype=object)[y]
    clf = net(early_stopping=True, epochs=50).fit(X, y)
    assert clf.validation_scores_ is not None
    assert len(clf.validation_scores_) == clf.n_iter_
    assert np.isfinite(clf.validation_scores_).all()


def test_feature_names_survive_the_early_stopping_split(net):
    # sklearn test_mlp.py::test_preserve_feature_names (with two classes: one
    # class is refused, see test_one_class_is_refused)
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.randn(20, 2), columns=["colname_a", "colname_b"])
    y = pd.Series(np.arange(20) % 2, name="colname_y")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        clf = net(early_stopping=True, validation_fraction=0.2, epochs=3).fit(X, y)
        clf.predict(X)
    assert clf.feature_names_in_.tolist() == ["colname_a", "colname_b"]


def test_sample_weight_of_ones_with_early_stopping_is_no_weight(net):
    # sklearn test_mlp.py::test_mlp_sample_weight_with_early_stopping
    X, y = X_DIGITS_BINARY[:100], Y_DIGITS_BINARY[:100]
    params = {"early_stopping": True, "tol": 1e-2, "batch_size": 10, "epochs": 10}
    weighted = net(**params).fit(X, y, sample_weight=np.ones(len(y)))
    unweighted = net(**params).fit(X, y)
    assert_array_equal(weighted.predict_proba(X), unweighted.predict_proba(X))


def test_a_diverging_early_stopping_fit_does_not_raise(net):
    # sklearn test_mlp.py::test_mlp_diverging_loss (there a regressor; a
    # classifier's validation score is an accuracy, a float, as
    # MLPClassifier's). The first epoch's weights are kept.
    clf = net(
        optimizer="sgd",
        learning_rate=1.0,
        activation="identity",
        epochs=20,
        early_stopping=True,
    ).fit(X_IRIS, Y_IRIS)
    assert np.isnan(clf.history_["val_loss"][-1])
    assert all(isinstance(score, float) for score in clf.validation_scores_)
    assert all(np.isfinite(w).all() for w in [*clf.coefs_, *clf.intercepts_])


# -- warm start --------------------------------------------------------------------


def test_warm_start_keeps_the_classes(net):
    # sklearn test_mlp.py::test_warm_start
    X, y = X_IRIS, Y_IRIS
    clf = net(warm_start=True, epochs=2).fit(X, y)
    clf.fit(X, y)
    clf.fit(X, np.array([0] * 40 + [1] * 40 + [2] * 70))  # same classes
    for y_other in _OTHER_CLASSES:
        # A rejected call changes nothing, so one estimator serves every case.
        with pytest.raises(ValueError, match="classes"):
            clf.fit(X, y_other)


_OTHER_CLASSES = [
    np.array([0] * 75 + [1] * 75),
    np.array([0] * 50 + [1] * 50 + [3] * 50),
    np.array([0] * 37 + [1] * 37 + [2] * 38 + [3] * 38),
    np.array([0] * 30 + [1] * 30 + [2] * 30 + [3] * 30 + [4] * 30),
]


def test_warm_start_with_other_classes_names_warm_start(net):
    # sklearn test_mlp.py::test_warm_start (its message: "warm_start can only
    # be used where `y` has the same classes as in the previous call to fit")
    clf = net(warm_start=True, epochs=1).fit(X_IRIS, Y_IRIS)
    for y_other in _OTHER_CLASSES:
        with pytest.raises(ValueError) as info:
            clf.fit(X_IRIS, y_other)
        message = str(info.value)
        assert "warm_start" in message
        assert "[0, 1, 2]" in message and str(np.unique(y_other).tolist()) in message


def test_warm_start_with_early_stopping_adds_validation_scores(net):
    # sklearn test_mlp.py::test_mlp_warm_start_with_early_stopping
    clf = net(epochs=10, warm_start=True, early_stopping=True).fit(X_IRIS, Y_IRIS)
    n_scores = len(clf.validation_scores_)
    clf.set_params(epochs=20)
    clf.fit(X_IRIS, Y_IRIS)
    assert len(clf.validation_scores_) > n_scores


def test_n_iter_counts_every_epoch_since_the_last_fresh_fit(net):
    # sklearn test_mlp.py::test_warm_start_full_iteration
    # sklearn test_mlp.py::test_mlp_warm_start_no_convergence
    # Documented difference: MLPClassifier's n_iter_ counts the epochs of the
    # last call (3, then 3; 10, then 20); skmnist's counts every epoch since
    # the last fit that started anew, so that it is len(loss_curve_).
    clf = net(warm_start=True, epochs=3, n_iter_no_change=1000).fit(X_IRIS, Y_IRIS)
    assert clf.n_iter_ == 3
    clf.fit(X_IRIS, Y_IRIS)
    assert clf.n_iter_ == 6
    clf.set_params(epochs=20)
    clf.fit(X_IRIS, Y_IRIS)
    assert clf.n_iter_ == 26 == len(clf.loss_curve_) == len(clf.history_["loss"])
    clf.set_params(warm_start=False, epochs=3)
    clf.fit(X_IRIS, Y_IRIS)
    assert clf.n_iter_ == 3


def test_running_out_of_epochs_is_no_convergence_warning(net):
    # sklearn test_mlp.py::test_mlp_warm_start_no_convergence (and the
    # ConvergenceWarning most of test_mlp.py silences). Documented
    # difference: epochs is a number of passes, as in Keras, not a cap on a
    # solver expected to converge; the tutorial's 5 epochs would warn on
    # every default fit.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net(epochs=1).fit(X_IRIS, Y_IRIS)


# -- input and output types --------------------------------------------------------


def test_float32_and_float64_data_give_the_same_model(net):
    # sklearn test_mlp.py::test_mlp_classifier_dtypes_casting (MLPClassifier
    # agrees to rtol=1e-2; skmnist trains in float32 either way, so the two
    # models are the same network)
    X, y = load_digits(n_class=2, return_X_y=True)
    as_64 = net(epochs=10).fit(X[:300], y[:300])
    as_32 = net(epochs=10).fit(X[:300].astype(np.float32), y[:300])
    assert same_weights(as_64, as_32)
    assert_array_equal(as_64.predict(X[300:]), as_32.predict(X[300:]))


def test_weights_are_float64_and_predictions_follow_the_input(fitted):
    # sklearn test_mlp.py::test_mlp_param_dtypes. Documented difference:
    # MLPClassifier keeps coefs_ in the input's dtype; skmnist trains in
    # float32 and keeps float64 coefs_ (MLPClassifier's layout), computing
    # predictions in the input's precision.
    assert all(w.dtype == np.float64 for w in [*fitted.coefs_, *fitted.intercepts_])
    for dtype in (np.float32, np.float64):
        assert fitted.predict_proba(X_DIGITS_MULTI.astype(dtype)).dtype == dtype


def test_sparse_input_is_refused(fitted):
    # sklearn test_mlp.py::test_sparse_matrices. Documented difference:
    # dense input only.
    X = csr_matrix(X_DIGITS_MULTI)
    with pytest.raises(TypeError, match="dense data is required"):
        clone(fitted).fit(X, Y_DIGITS_MULTI)
    with pytest.raises(TypeError, match="dense data is required"):
        fitted.predict(X)


def test_multilabel_targets_are_refused(net):
    # sklearn test_mlp.py::test_multilabel_classification
    # sklearn test_mlp.py::test_predict_proba_multilabel
    # Documented difference: one softmax over the classes, one label a row.
    X, Y = X_DIGITS_MULTI[:50], np.c_[Y_DIGITS_MULTI[:50] == 0, Y_DIGITS_MULTI[:50]]
    with pytest.raises(ValueError, match="y should be a 1d array"):
        net().fit(X, Y)
    with pytest.raises(ValueError, match="y should be a 1d array"):
        net().partial_fit(X, Y, classes=[0, 1, 2])


def test_one_class_is_refused(net):
    # sklearn test_mlp.py::test_preserve_feature_names (fits y of one class).
    # Documented difference: a softmax over one class predicts nothing.
    with pytest.raises(ValueError, match="at least 2 classes"):
        net().fit(X_IRIS[:10], np.ones(10))


# -- parameters --------------------------------------------------------------------

# scikit-learn's MLPClassifier parameter -> skmnist's (None: no counterpart).
PARAMETER_NAMES = {
    "learning_rate_init": "learning_rate",
    "max_iter": "epochs",
    "solver": "optimizer",
    "alpha": None,
    "momentum": None,
    "nesterovs_momentum": None,
    "power_t": None,
    "beta_1": None,
    "beta_2": None,
    "epsilon": None,
    "max_fun": None,
}


def test_parameter_names(net):
    # sklearn test_mlp.py::test_alpha (alpha: no L2 penalty; dropout is the
    # regulariser), ::test_learning_rate_warmstart and
    # ::test_adaptive_learning_rate (learning_rate is a step size, not the
    # name of a schedule). Documented differences.
    params = net().get_params()
    for sklearn_name, skmnist_name in PARAMETER_NAMES.items():
        with pytest.raises(TypeError, match="unexpected keyword argument"):
            net.cls(**{sklearn_name: 1})
        assert skmnist_name is None or skmnist_name in params
    for schedule in ("constant", "invscaling", "adaptive"):
        with pytest.raises(InvalidParameterError, match="'learning_rate' parameter"):
            net(learning_rate=schedule).fit(X_IRIS, Y_IRIS)
    # sklearn test_mlp.py::test_lbfgs_classification: Keras's mini-batch
    # optimizers only.
    with pytest.raises(InvalidParameterError, match="'optimizer' parameter"):
        net(optimizer="lbfgs").fit(X_IRIS, Y_IRIS)


def test_verbose_prints_keras_epoch_lines(net, capfd):
    # sklearn test_mlp.py::test_verbose_sgd (there "Iteration 1, loss = ...";
    # documented difference: Keras's "Epoch 1/2" lines)
    X, y = [[3, 2], [1, 6]], [1, 0]
    clf = net(optimizer="sgd", epochs=2, verbose=2, hidden=(2,)).fit(X, y)
    clf.partial_fit(X, y)
    out = capfd.readouterr().out
    epochs = [line for line in out.splitlines() if line.startswith("Epoch")]
    assert epochs == ["Epoch 1/2", "Epoch 2/2", "Epoch 1/1"]
    assert sum("loss:" in line for line in out.splitlines()) == 3


def test_any_non_negative_verbosity_is_accepted(net, capfd):
    # sklearn test_mlp.py::test_verbose_sgd (verbose=10): above 2, one line an
    # epoch, as verbose=2
    X, y = [[3, 2], [1, 6]], [1, 0]
    net(optimizer="sgd", epochs=2, verbose=10, hidden=(2,)).fit(X, y)
    out = capfd.readouterr().out
    assert [line for line in out.splitlines() if line.startswith("Epoch")] == [
        "Epoch 1/2",
        "Epoch 2/2",
    ]


def test_an_integer_learning_rate_is_a_learning_rate(net):
    # sklearn test_mlp.py::test_mlp_diverging_loss (learning_rate_init=1), on
    # every path a learning rate takes: fit (with the ConvNet's cosine
    # schedule), partial_fit, set_params between calls (with a new optimizer
    # too), to_keras and a search grid.
    X, y = X_DIGITS_BINARY[:60], Y_DIGITS_BINARY[:60]
    as_int = net(optimizer="sgd", learning_rate=1, epochs=2).fit(X, y)
    as_float = net(optimizer="sgd", learning_rate=1.0, epochs=2).fit(X, y)
    assert same_weights(as_int, as_float)
    for rate in (2, np.int64(2)):
        as_int.set_params(learning_rate=rate).partial_fit(X, y)
    for _ in range(2):
        as_float.set_params(learning_rate=2.0).partial_fit(X, y)
    assert same_weights(as_int, as_float)
    as_int.set_params(optimizer="adam", learning_rate=np.int64(1)).partial_fit(X, y)
    as_float.set_params(optimizer="adam", learning_rate=1.0).partial_fit(X, y)
    assert same_weights(as_int, as_float)
    fresh = net(optimizer="sgd", learning_rate=1).partial_fit(X, y, classes=[0, 1])
    assert same_weights(
        fresh, net(optimizer="sgd", learning_rate=1.0).partial_fit(X, y, classes=[0, 1])
    )
    assert float(fresh.to_keras().optimizer.learning_rate) == 1.0
    search = GridSearchCV(
        net(optimizer="sgd", epochs=1), {"learning_rate": [1, np.int64(2)]}, cv=2
    ).fit(X, y)
    assert search.best_params_["learning_rate"] in (1, 2)


def test_a_learning_rate_must_be_a_finite_number(net):
    # Past scikit-learn's Interval(Real, 0, None): infinity, and integers too
    # large for a float, are refused by name before training.
    for rate in (np.inf, 10**400):
        with pytest.raises(InvalidParameterError, match="'learning_rate' parameter"):
            net(learning_rate=rate).fit(X_IRIS, Y_IRIS)


def test_non_finite_weights_are_an_error(net):
    # sklearn test_mlp.py::test_nonfinite_params (its fit of huge inputs) and
    # a fit that diverges: "Solver produced non-finite parameter weights",
    # and nothing fitted is left behind: a new estimator stays unfitted, a
    # fitted one keeps its model.
    message = "non-finite parameter weights.*Lower learning_rate"
    X, y = X_DIGITS_BINARY[:60], Y_DIGITS_BINARY[:60]
    clf = net(optimizer="sgd", learning_rate=1e30)
    with pytest.raises(ValueError, match=message):
        clf.fit(X, y)
    assert not hasattr(clf, "coefs_")
    fitted = net(epochs=2).fit(X, y)
    before = copy.deepcopy(fitted)
    fitted.set_params(optimizer="sgd", learning_rate=1e30)
    for call in (
        lambda: fitted.partial_fit(X, y),
        lambda: fitted.fit(X, y),
        lambda: fitted.set_params(warm_start=True).fit(X, y),
    ):
        with pytest.raises(ValueError, match=message):
            call()
        assert same_weights(fitted, before)
        assert fitted.history_ == before.history_ and fitted.n_iter_ == before.n_iter_
    # With early stopping too, when no epoch had finite weights to restore.
    with pytest.raises(ValueError, match=message):
        net(optimizer="sgd", learning_rate=1e30, early_stopping=True).fit(
            X_IRIS, Y_IRIS
        )


def test_data_beyond_float32_is_refused_before_training(net):
    # sklearn test_mlp.py::test_nonfinite_params (X of up to float64's
    # largest value). Defect C of the peer port: such X used to train into
    # NaN weights; the network trains in float32, so it is refused up front,
    # saying what to do, where MLPClassifier (training in float64) finds out
    # after fitting.
    rng = np.random.RandomState(0)
    huge = np.finfo(np.float64).max * rng.uniform(size=(10, 2))
    clf = net()
    for call in (
        lambda: clf.fit(huge, np.arange(10) % 2),
        lambda: clf.partial_fit(-huge, np.arange(10) % 2, classes=[0, 1]),
    ):
        with pytest.raises(ValueError, match=r"beyond the 3.4e\+38 of float32"):
            call()
        assert not hasattr(clf, "coefs_")
    clf.fit(huge / np.finfo(np.float64).max, np.arange(10) % 2)  # in range


@pytest.mark.parametrize("diverged", ["logs", "weights"])
def test_early_stopping_never_keeps_a_diverged_epoch(net, diverged, monkeypatch):
    # sklearn test_mlp.py::test_early_stopping, with a fit whose weights turn
    # NaN after its third epoch (injected through the Trainer, the one seam
    # to Keras). Defect B of the peer port: that epoch's validation score,
    # made the best of the fit here, made early stopping keep NaN weights.
    # Now an epoch whose loss is not finite stops training and no epoch with
    # weights that are not finite counts as the best: the fit keeps an
    # earlier one, as MLPClassifier keeps its best finite weights.
    from skmnist.training import Trainer

    train = Trainer.train

    def diverging(self, *args, on_epoch_end, **kwargs):
        epochs = []

        def after_epoch(logs):
            epochs.append(logs)
            if len(epochs) == 3:
                self.set_weights(
                    *([np.full_like(w, np.nan) for w in ws] for ws in self.weights())
                )
                logs = {**logs, "val_accuracy": 1.0}
                if diverged == "logs":
                    logs.update(loss=math.nan, val_loss=math.nan)
            return on_epoch_end(logs)

        return train(self, *args, on_epoch_end=after_epoch, **kwargs)

    monkeypatch.setattr(Trainer, "train", diverging)
    clf = net(early_stopping=True, epochs=8, learning_rate=0.001).fit(X_IRIS, Y_IRIS)
    # "logs": the third epoch reports NaN and stops the fit; "weights": it
    # reports finite numbers, and the fourth, trained from NaN weights, NaN.
    assert clf.n_iter_ == {"logs": 3, "weights": 4}[diverged]
    assert all(np.isfinite(w).all() for w in [*clf.coefs_, *clf.intercepts_])
    assert np.isfinite(clf.predict_proba(X_IRIS)).all()
    assert clf.best_validation_score_ in clf.validation_scores_[:2]
    assert clf.best_loss_ == min(clf.loss_curve_[:3])
    if diverged == "weights":
        assert math.isnan(clf.loss_curve_[-1])
