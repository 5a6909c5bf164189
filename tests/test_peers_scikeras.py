"""scikeras's KerasClassifier tests, restated for skmnist's networks.

The sources are scikeras's ``tests/test_api.py``, ``test_serialization.py``,
``test_errors.py``, ``test_parameters.py`` and ``test_input_outputs.py`` at
commit e92a7dc4 (after 0.13.0, its last release). Each case names the test
it comes from and runs on both networks. scikeras wraps a Keras model the user
builds, so its tests of build functions, compile arguments, custom losses,
metrics and callbacks have no counterpart here (skmnist builds its networks
from parameters; ``to_keras()`` hands one over). Where skmnist follows
scikit-learn rather than scikeras, the case asserts skmnist's behaviour and
says so; ``docs/peer_expectations.md`` lists those differences.
"""

import copy
import os
import pickle

import numpy as np
import pytest
from _peers import (
    NETWORKS,
    RANDOM_LAYERS,
    X_DIGITS_BINARY,
    X_DIGITS_MULTI,
    X_IRIS,
    Y_DIGITS_BINARY,
    Y_DIGITS_MULTI,
    Y_IRIS,
    same_weights,
)
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import load_digits, make_classification
from sklearn.ensemble import AdaBoostClassifier, BaggingClassifier
from sklearn.exceptions import DataConversionWarning, NotFittedError
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

# scikeras's basic_checks data: the first 100 rows (iris: two classes).
X_IRIS_100, Y_IRIS_100 = X_IRIS[:100], Y_IRIS[:100]


@pytest.fixture(params=sorted(NETWORKS))
def net(request):
    return NETWORKS[request.param]


@pytest.fixture(scope="module", params=sorted(NETWORKS))
def fitted(request):
    """Each network fitted once on the first 100 iris rows, read only."""
    return NETWORKS[request.param](epochs=10).fit(X_IRIS_100, Y_IRIS_100)


def basic_checks(estimator, X, y):
    """scikeras's testing_utils.basic_checks: fit, predict, score, pickle."""
    estimator.fit(X, y)
    predictions = estimator.predict(X)
    score = estimator.score(X, y)
    restored = pickle.loads(pickle.dumps(estimator))
    assert_array_equal(restored.predict(X), predictions)
    assert restored.score(X, y) == score
    return score


# -- the estimator in scikit-learn's tools ---------------------------------------


def test_fit_predict_score_and_pickle(fitted):
    # scikeras test_api.py::TestBasicAPI::test_classify_build_fn
    # scikeras test_serialization.py::check_pickle
    restored = pickle.loads(pickle.dumps(fitted))
    assert_array_equal(restored.predict(X_IRIS_100), fitted.predict(X_IRIS_100))
    assert restored.score(X_IRIS_100, Y_IRIS_100) == fitted.score(
        X_IRIS_100, Y_IRIS_100
    )
    assert fitted.score(X_IRIS_100, Y_IRIS_100) > 0.9


def test_digit_images_as_rows(net):
    # scikeras test_api.py::TestAdvancedAPIFuncs::test_standalone (the
    # "CNNClassifier" on load_digits's 8 x 8 images: skmnist takes them as
    # rows of 64 pixels, the ConvNet reading each row as the 8 x 8 image)
    X, y = load_digits(return_X_y=True)
    assert basic_checks(net(epochs=10), X[:100] / 16, y[:100]) > 0.3  # 10 classes


def test_in_a_pipeline(net):
    # scikeras test_api.py::TestAdvancedAPIFuncs::test_pipeline
    # skorch test_net.py::TestNeuralNet::test_in_sklearn_pipeline
    pipe = Pipeline([("s", StandardScaler()), ("e", net(epochs=5))])
    basic_checks(pipe, X_IRIS_100, Y_IRIS_100)
    pipe.predict_proba(X_IRIS_100)
    ((name, widths),) = net.translate({"hidden": (20,)}).items()
    pipe.set_params(e__learning_rate=0.02, **{f"e__{name}": widths})
    assert pipe.get_params()[f"e__{name}"] == widths


def test_grid_search_over_layers_and_optimizers(net):
    # scikeras test_api.py::TestAdvancedAPIFuncs::test_searchcv_init_params
    # scikeras test_api.py::TestAdvancedAPIFuncs::test_searchcv_routed_params
    # skorch test_net.py::TestNeuralNet::test_grid_search_works
    grid = [
        {net.hidden: [net.translate({"hidden": ()})[net.hidden]], "optimizer": ["sgd"]},
        {
            net.hidden: [net.translate({"hidden": (5,)})[net.hidden]],
            "optimizer": ["adam"],
        },
    ]
    search = GridSearchCV(net(epochs=2), grid, cv=2)
    basic_checks(search, X_IRIS_100, Y_IRIS_100)
    assert search.best_estimator_.optimizer in ("sgd", "adam")
    assert len(search.cv_results_["params"]) == 2


@pytest.mark.parametrize("ensemble", [BaggingClassifier, AdaBoostClassifier])
def test_in_an_ensemble(net, ensemble):
    # scikeras test_api.py::TestAdvancedAPIFuncs::test_ensemble (AdaBoost
    # passes its boosting weights as sample_weight; on the 2-class digits, where
    # each member learns whatever seed the ensemble gives it)
    estimator = ensemble(estimator=net(epochs=10), n_estimators=2, random_state=0)
    assert basic_checks(estimator, X_DIGITS_BINARY[:100], Y_DIGITS_BINARY[:100]) > 0.9


def test_calibrated(net):
    # scikeras test_api.py::TestAdvancedAPIFuncs::test_calibratedclassifiercv
    # skorch test_classifier.py::TestNeuralNet::test_with_calibrated_classifier_cv
    calibrated = CalibratedClassifierCV(estimator=net(epochs=3), cv=2)
    basic_checks(calibrated, X_IRIS_100, Y_IRIS_100)
    assert_allclose(calibrated.predict_proba(X_IRIS_100).sum(axis=1), 1.0)


# -- continued training --------------------------------------------------------------


def test_warm_start_continues_and_cold_start_restarts(fitted):
    # scikeras test_api.py::test_warm_start (there the same Keras model object;
    # here the same network, continued: n_iter_ and the history go on)
    clf = copy.deepcopy(fitted).set_params(warm_start=True)
    clf.fit(X_IRIS_100, Y_IRIS_100)
    assert clf.n_iter_ == 2 * fitted.n_iter_
    assert clf.loss_curve_[: fitted.n_iter_] == fitted.loss_curve_
    clf.set_params(warm_start=False)
    clf.fit(X_IRIS_100, Y_IRIS_100)
    assert clf.n_iter_ == fitted.n_iter_
    assert same_weights(clf, fitted)  # the same seed: the same fresh network


def test_partial_fit_adds_one_epoch_to_the_history(net):
    # scikeras test_api.py::TestPartialFit::test_partial_fit
    # scikeras test_api.py::TestPartialFit::test_partial_fit_history_len
    # scikeras test_api.py::TestPartialFit::test_partial_fit_single_epoch
    # scikeras test_api.py::TestPartialFit::test_partial_fit_history_metric_names
    # scikeras test_api.py::TestHistory::test_history
    # scikeras test_parameters.py::TestMetricsParam::test_metrics
    clf = net(epochs=9)
    for k in range(1, 4):
        clf.partial_fit(X_IRIS_100, Y_IRIS_100, classes=[0, 1])
        assert len(clf.history_["loss"]) == k
        assert set(clf.history_) == {"loss", "accuracy"}
        assert all(isinstance(v, list) for v in clf.history_.values())
        assert all(len(v) == k for v in clf.history_.values())
    for k in range(4, 6):  # the history's names survive pickling
        clf = pickle.loads(pickle.dumps(clf)).partial_fit(X_IRIS_100, Y_IRIS_100)
        assert set(clf.history_) == {"loss", "accuracy"}
        assert len(clf.history_["loss"]) == k
    clf.fit(X_IRIS_100, Y_IRIS_100)  # a fit trains `epochs` epochs, anew
    assert len(clf.history_["loss"]) == 9


@pytest.mark.parametrize("warm_start", [False, True])
def test_n_iter_after_partial_fits_and_a_fit(net, warm_start):
    # scikeras test_api.py::TestPartialFit::test_current_epoch_property
    # (current_epoch is n_iter_). Documented difference: with warm_start, a
    # fit continues the count (scikeras resets it to epochs).
    X, y = X_IRIS_100[::10], Y_IRIS_100[::10]  # ten rows, both classes
    clf = net(epochs=2, warm_start=warm_start)
    for k in (1, 2):
        clf.partial_fit(X, y, classes=[0, 1])
        assert clf.n_iter_ == k
    clf.fit(X, y)
    assert clf.n_iter_ == (4 if warm_start else 2)
    clf.partial_fit(X, y)
    assert clf.n_iter_ == (5 if warm_start else 3)


def test_partial_fit_pickle_partial_fit_builds_up_training(net):
    # scikeras test_api.py::TestPartialFit::test_pf_pickle_pf
    X, y = X_DIGITS_MULTI[:100], Y_DIGITS_MULTI[:100]
    clf = net(**RANDOM_LAYERS[net.name]).partial_fit(X, y, classes=[0, 1, 2])
    clf2 = clf
    for k in range(2, 4):
        clf2 = pickle.loads(pickle.dumps(clf2))
        clf2.partial_fit(X, y)
        assert len(clf.history_["loss"]) == 1
        assert len(clf2.history_["loss"]) == k
        assert clf2.history_["loss"][0] == clf.history_["loss"][0]
        assert clf2.history_["loss"][-1] < clf2.history_["loss"][0]
    for w1, w2 in zip(clf.coefs_, clf2.coefs_, strict=True):
        assert not np.allclose(w1, w2)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_pickling_between_partial_fits_changes_nothing(net, optimizer):
    # scikeras test_serialization.py::test_partial_fit_pickle (there the
    # weights agree to 1%; here bit for bit, dropout and shifts included)
    X, y = X_DIGITS_MULTI[:100], Y_DIGITS_MULTI[:100]
    params = {"optimizer": optimizer, **RANDOM_LAYERS[net.name]}
    m1 = net(**params)
    m2 = pickle.loads(pickle.dumps(net(**params)))  # a round trip before training
    m1.partial_fit(X, y, classes=[0, 1, 2])
    m2.partial_fit(X, y, classes=[0, 1, 2])
    assert same_weights(m1, m2)
    m1.partial_fit(X, y)
    m2 = pickle.loads(pickle.dumps(m2)).partial_fit(X, y)
    assert m1.n_iter_ == m2.n_iter_ == 2
    assert same_weights(m1, m2)
    assert_array_equal(m1.predict_proba(X), m2.predict_proba(X))


def test_pickling_leaves_the_live_estimator_alone(net):
    # scikeras test_api.py::TestPartialFit::test_pf_pickle_pf (pickling is a
    # copy: the original goes on as if nothing happened)
    X, y = X_DIGITS_MULTI[:100], Y_DIGITS_MULTI[:100]
    clf = net(**RANDOM_LAYERS[net.name]).partial_fit(X, y, classes=[0, 1, 2])
    before = dict(vars(clf))
    pickle.dumps(clf)
    assert vars(clf).keys() == before.keys()
    assert all(vars(clf)[name] is value for name, value in before.items())


def test_partial_fit_with_classes_seen_later(net):
    # scikeras test_api.py::TestPartialFit::test_partial_fit_classes_param
    X1, y1 = np.array([[1, 2, 3], [4, 5, 6]]).T, np.array([1, 2, 2])
    X2, y2 = X1, np.array([2, 3, 3])
    clf = net().partial_fit(X1, y1, classes=[1, 2, 3])
    for X, y in ((X1, y1), (X2, y2)):
        assert 0 <= clf.score(X, y) <= 1
    clf.partial_fit(X2, y2)
    assert clf.classes_.tolist() == [1, 2, 3]
    assert set(clf.predict(X1)) <= {1, 2, 3}


def test_a_partial_fit_with_fewer_classes_keeps_them_all(net):
    # scikeras test_input_outputs.py::test_KerasClassifier_transformers_can_be_reused
    X1, y1 = np.array([[1, 2, 3]]).T, np.array([1, 2, 3])
    clf = net().fit(X1, y1)
    clf.partial_fit(X1, np.array([1, 1, 1]))  # one of the three classes
    assert clf.classes_.tolist() == [1, 2, 3]
    assert clf.predict_proba(X1).shape == (3, 3)


# -- errors ---------------------------------------------------------------------------


def test_data_that_contradicts_the_fitted_network_is_refused(fitted):
    # scikeras test_errors.py::test_X_shape_change
    # scikeras test_errors.py::test_target_shape_changes_incremental_fit_clf
    # scikeras test_errors.py::test_target_classes_change_incremental_fit
    # A rejected call changes nothing, so the shared fitted model serves.
    X, y = X_IRIS_100, Y_IRIS_100
    with pytest.raises(ValueError, match="Found array with dim 3"):
        fitted.partial_fit(X.reshape(100, 2, 2), y)
    with pytest.raises(ValueError, match="X has 2 features"):
        fitted.partial_fit(X[:, :2], y)
    with pytest.raises(ValueError, match="y should be a 1d array"):
        fitted.partial_fit(X, np.column_stack([y, y]))
    with pytest.raises(ValueError, match=r"labels \[10\] that are not in classes"):
        fitted.partial_fit(X, np.r_[10, y[1:]])


def test_labels_and_features_are_compared_by_value(fitted):
    # scikeras test_errors.py::test_target_dtype_changes_incremental_fit
    # scikeras test_errors.py::test_X_dtype_changes_incremental_fit
    # scikeras test_errors.py::test_target_dims_changes_incremental_fit
    # scikeras test_input_outputs.py::test_input_dtype_conversion
    # Documented difference: as scikit-learn, skmnist takes labels that equal
    # the fitted classes whatever their dtype, any numeric X, and a column
    # vector y with a DataConversionWarning (scikeras raises for each).
    clf = copy.deepcopy(fitted)
    X, y = X_IRIS_100, Y_IRIS_100
    for labels in (y.astype(np.uint8), y.astype(np.float64)):
        clf.partial_fit(X, labels)
    for dtype in (np.uint8, np.int64, np.float32, object):
        clf.partial_fit(X.astype(dtype), y)
        expected = np.float32 if dtype is np.float32 else np.float64
        assert clf.predict_proba(X.astype(dtype)).dtype == expected
    with pytest.warns(DataConversionWarning, match="column-vector y"):
        clf.partial_fit(X, y.reshape(-1, 1))
    assert clf.n_iter_ == fitted.n_iter_ + 7
    assert clf.classes_.dtype == fitted.classes_.dtype
    assert clf.predict(X).dtype == Y_IRIS.dtype


def test_unknown_parameter(net):
    # scikeras test_errors.py::test_unknown_param
    with pytest.raises(ValueError, match="Invalid parameter 'test' for estimator"):
        net().set_params(test=1)


def test_not_fitted(net):
    # scikeras test_errors.py::test_not_fitted_error
    for method in ("predict", "predict_proba"):
        with pytest.raises(NotFittedError):
            getattr(net(), method)(X_IRIS_100)


def test_all_zero_sample_weights(net):
    # scikeras test_errors.py::test_sample_weights_all_zero
    X = np.random.RandomState(0).uniform(size=(50, 4))
    y = np.arange(50) % 2
    with pytest.raises(ValueError, match="at least one non-zero"):
        net().fit(X, y, sample_weight=np.zeros(50))


def test_no_optimizer(net):
    # scikeras test_errors.py::test_no_optimizer
    with pytest.raises(InvalidParameterError, match="'optimizer' parameter"):
        net(optimizer=None).fit(X_IRIS_100, Y_IRIS_100)


# -- parameters -----------------------------------------------------------------------


def test_random_state(net):
    # scikeras test_parameters.py::TestRandomState::test_random_states
    X, y = make_classification(random_state=0)

    def proba(random_state):
        clf = net(epochs=1, random_state=random_state)
        return clf, clf.fit(X, y).predict_proba(X)

    seeded, first = proba(0)
    assert_array_equal(seeded.fit(X, y).predict_proba(X), first)  # fit again
    instance, instance_first = proba(np.random.RandomState(0))
    assert_array_equal(instance_first, first)
    # Documented difference: as in scikit-learn, a RandomState instance is a
    # generator that fits draw from, so the next fit differs (scikeras
    # repeats the first).
    assert not np.array_equal(instance.fit(X, y).predict_proba(X), first)
    assert not np.array_equal(proba(None)[1], proba(None)[1])


def test_training_leaves_the_environment_and_tensorflow_settings_alone(net):
    # scikeras test_parameters.py::TestRandomState::test_random_states_env_vars
    names = ("TF_DETERMINISTIC_OPS", "PYTHONHASHSEED")
    before = {name: os.environ.get(name) for name in names}
    net(epochs=1).fit(X_IRIS_100, Y_IRIS_100)
    assert {name: os.environ.get(name) for name in names} == before
    from tensorflow.python.framework import config

    assert not config.is_op_determinism_enabled()


def test_sample_weights_tilt_the_model(net):
    # scikeras test_parameters.py::test_sample_weights_fit
    X = np.ones((1000, 1))
    y = np.array([1] * 500 + [-1] * 500)

    def proba(sample_weight):
        clf = net(epochs=5).fit(X, y, sample_weight=sample_weight)
        return clf.predict_proba(X)

    unweighted = proba(None)
    tilted = proba(np.r_[np.full(500, 0.8), np.full(500, 0.2)])
    assert np.mean(np.diff(tilted, axis=1)) > np.mean(np.diff(unweighted, axis=1))
    assert_allclose(proba(np.full(1000, 0.5)), unweighted, rtol=1e-3)


def test_score_with_sample_weights(fitted):
    # scikeras test_parameters.py::test_sample_weights_score
    X, y = X_IRIS_100, Y_IRIS_100
    wrong = fitted.predict(X) != y
    weights = np.where(wrong, 1.0, 0.001) if wrong.any() else np.ones(len(y))
    score = fitted.score(X, y, sample_weight=weights)
    assert score == accuracy_score(y, fitted.predict(X), sample_weight=weights)
    if wrong.any():
        assert score < fitted.score(X, y)


def test_get_params_shows_the_defaults_and_what_was_set(net):
    # scikeras test_parameters.py::test_build_fn_default_params
    # (NetworkClassifier's layers=None stands for the tutorial's layers.)
    default = {"hidden_layer_sizes": (512, 512), "dense_units": (128,), "layers": None}
    assert net.cls().get_params()[net.hidden] == default[net.hidden]
    widths = net.translate({"hidden": (200,)})[net.hidden]
    assert net(hidden=(200,)).get_params()[net.hidden] == widths


def test_class_weights_of_equal_classes_are_no_weights(net):
    # scikeras test_parameters.py::test_class_weight_balanced
    X, y = [[1], [1]], [0, 1]
    unweighted = net().fit(X, y)
    for class_weight in ("balanced", {0: 0.5, 1: 0.5}, {0: 1, 1: 1}):
        assert same_weights(net(class_weight=class_weight).fit(X, y), unweighted)


def test_batch_size_is_a_number_of_rows(net):
    # scikeras test_parameters.py::test_batch_size_all_fit (batch_size=-1:
    # the whole data set). Documented difference: a positive integer only; a
    # batch larger than the data is one batch of all of it.
    with pytest.raises(InvalidParameterError, match="'batch_size' parameter"):
        net(batch_size=-1).fit(X_IRIS_100, Y_IRIS_100)


# -- targets and outputs --------------------------------------------------------------


@pytest.mark.parametrize(
    "y",
    [np.array([1, 2, 3]), np.array([2, 1, 3]), np.array(["a", "b", "c"])],
    ids=["sorted", "unsorted", "strings"],
)
def test_labels_of_any_kind_and_order(net, y):
    # scikeras test_input_outputs.py::test_KerasClassifier_loss_invariance
    X = np.arange(len(y)).reshape(-1, 1)
    clf = net().fit(X, y)
    clf.partial_fit(X, y)
    assert clf.classes_.tolist() == sorted(y.tolist())
    assert clf.predict(X).dtype == y.dtype
    assert set(clf.predict(X)) <= set(y)


def test_one_hot_targets_are_refused(net):
    # scikeras test_input_outputs.py::test_KerasClassifier_loss_invariance
    # (one-hot y). Documented difference: labels, one a row, as scikit-learn.
    with pytest.raises(ValueError, match="y should be a 1d array"):
        net().fit(np.arange(3).reshape(-1, 1), np.eye(3))


@pytest.mark.parametrize(("n_classes", "dtype"), [(2, "<U1"), (3, "float32")])
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_predictions_have_mlpclassifiers_shape_and_dtype(net, n_classes, dtype):
    # scikeras test_input_outputs.py::test_output_shapes_and_dtypes_against_sklearn_cls
    rng = np.random.RandomState(0)
    labels = rng.randint(0, n_classes, size=400)
    X, y = labels.reshape(-1, 1).astype(float), labels.astype(dtype)
    ours = net(epochs=10).fit(X[:300], y[:300]).predict(X[300:])
    theirs = MLPClassifier(max_iter=10, random_state=0).fit(X[:300], y[:300])
    expected = theirs.predict(X[300:])
    assert (ours.shape, ours.dtype) == (expected.shape, expected.dtype)
    assert accuracy_score(y[300:], ours) >= 0.95
