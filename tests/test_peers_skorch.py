"""skorch's NeuralNetClassifier tests, restated for skmnist's networks.

The sources are skorch's ``skorch/tests/test_classifier.py`` and the parts of
``skorch/tests/test_net.py`` about a classifier's life cycle (fit, partial_fit,
warm start, copies, parameters), at skorch 1.4.0. Each case names the test it
comes from and runs on both networks, on skorch's ``classifier_data``
(``make_classification(1000, 20, n_informative=10, random_state=0)``).
skorch's tests of PyTorch modules, criteria, callbacks, datasets and devices
have no counterpart (skmnist's networks are parameters, trained by Keras).
Where skmnist follows scikit-learn rather than skorch, the case asserts
skmnist's behaviour and says so; ``docs/peer_expectations.md`` lists those
differences.
"""

import copy
import pickle

import numpy as np
import pandas as pd
import pytest
from _peers import (
    NETWORKS,
    RANDOM_LAYERS,
    X_SKORCH,
    Y_SKORCH,
    network_of,
    same_weights,
)
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import DataConversionWarning, NotFittedError
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import check_is_fitted

ACCURACY_EXPECTED = 0.65  # skorch test_net.py's threshold for "the net learns"
X_100, Y_100 = X_SKORCH[:100], Y_SKORCH[:100]


@pytest.fixture(params=sorted(NETWORKS))
def net(request):
    return NETWORKS[request.param]


@pytest.fixture(scope="module", params=sorted(NETWORKS))
def fitted(request):
    """Each network, with dropout, fitted once for 10 epochs, read only."""
    return NETWORKS[request.param](epochs=10, dropout=0.2).fit(X_SKORCH, Y_SKORCH)


# -- a fitted classifier ------------------------------------------------------------


def test_the_net_learns(fitted):
    # skorch test_classifier.py::TestNeuralNetBinaryClassifier::test_net_learns
    # skorch test_net.py::TestNeuralNet::test_net_learns
    assert fitted.loss_curve_[0] > 1.3 * fitted.loss_curve_[-1]
    assert accuracy_score(Y_SKORCH, fitted.predict(X_SKORCH)) > ACCURACY_EXPECTED


def test_predict_and_predict_proba(fitted):
    # skorch test_classifier.py::TestNeuralNet::test_predict_and_predict_proba
    # skorch test_classifier.py::TestNeuralNet::test_score
    proba = fitted.predict_proba(X_SKORCH)
    assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    assert_array_equal(fitted.classes_[proba.argmax(axis=1)], fitted.predict(X_SKORCH))
    score = fitted.score(X_SKORCH, Y_SKORCH)
    assert 0 <= score <= 1
    assert score == accuracy_score(Y_SKORCH, fitted.predict(X_SKORCH))


def test_dropout_is_off_when_predicting(fitted):
    # skorch test_net.py::TestNeuralNet::test_dropout (its training-mode
    # forward has no counterpart: skmnist predicts in inference mode only)
    assert any(layer["kind"] == "dropout" for layer in fitted.architecture_)
    assert_array_equal(fitted.predict_proba(X_SKORCH), fitted.predict_proba(X_SKORCH))


def test_history_keys_and_length(fitted):
    # skorch test_net.py::TestNeuralNet::test_history_default_keys
    # skorch test_net.py::TestNeuralNet::test_history_correct_shape
    # skorch test_classifier.py::TestNeuralNetBinaryClassifier::test_history_default_keys  # noqa: E501
    # Documented difference: Keras's names (loss, accuracy, val_loss,
    # val_accuracy; skorch: train_loss, valid_loss, valid_acc, dur, ...), and
    # a validation set only with early_stopping (skorch holds out 20% always).
    assert set(fitted.history_) == {"loss", "accuracy"}
    assert all(len(v) == fitted.epochs for v in fitted.history_.values())
    stopping = network_of(fitted)(epochs=3, early_stopping=True)
    stopping.fit(X_SKORCH, Y_SKORCH)
    assert set(stopping.history_) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 3 for v in stopping.history_.values())


def test_clone_is_an_unfitted_copy_of_the_parameters(fitted):
    # skorch test_classifier.py::TestNeuralNet::test_clone
    # skorch test_net.py::TestNeuralNet::test_clone_results_in_uninitialized_net
    # skorch test_net.py::TestNeuralNet::test_clone_copies_parameters
    cloned = clone(fitted)
    assert cloned.get_params() == fitted.get_params()
    assert not hasattr(cloned, "history_") and not hasattr(cloned, "coefs_")
    with pytest.raises(NotFittedError):
        cloned.predict(X_SKORCH)


def test_get_params_holds_parameters_only(fitted):
    # skorch test_net.py::TestNeuralNet::test_get_params_works
    # skorch test_net.py::TestNeuralNet::test_get_params_no_learned_params
    params = fitted.get_params(deep=True)
    assert {"verbose", "epochs", "learning_rate", "batch_size"} <= set(params)
    assert not [name for name in params if name.endswith("_")]


def test_not_fitted_message(net):
    # skorch test_net.py::TestNeuralNet::test_not_fitted_raises
    # skorch test_classifier.py::TestNeuralNetBinaryClassifier::test_not_fitted_raises
    with pytest.raises(NotFittedError) as info:
        check_is_fitted(net())
    assert str(info.value) == (
        f"This {net.cls.__name__} instance is not fitted yet. Call 'fit' with "
        "appropriate arguments before using this estimator."
    )


def test_grid_search_with_roc_auc(net):
    # skorch test_classifier.py::TestNeuralNetBinaryClassifier::test_grid_search_with_roc_auc  # noqa: E501
    search = GridSearchCV(
        net(), {"epochs": [1, 2]}, refit=False, cv=2, scoring="roc_auc"
    )
    search.fit(X_100, Y_100)
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == 2 and all(0 <= s <= 1 for s in scores)


# -- classes ------------------------------------------------------------------------


def test_classes_come_from_the_labels(fitted):
    # skorch test_classifier.py::TestNeuralNet::test_binary_classes_set_by_default
    # skorch test_classifier.py::TestNeuralNet::test_non_binary_classes_set_by_default
    # skorch test_classifier.py::TestNeuralNet::test_classes_with_gaps
    # skorch test_classifier.py::TestNeuralNet::test_classes_data_torch_tensor
    # (a tensor here becomes a list and a pandas Series)
    assert fitted.classes_.tolist() == [0, 1]
    net = network_of(fitted)
    ten = (np.arange(100) % 10).tolist()
    assert net(epochs=1).fit(X_100, ten).classes_.tolist() == list(range(10))
    gaps = np.arange(100) % 10
    gaps[(gaps == 0) | (gaps == 5)] = 4
    clf = net(epochs=1).fit(X_100, pd.Series(gaps))
    assert clf.classes_.tolist() == [1, 2, 3, 4, 6, 7, 8, 9]
    assert clf.predict_proba(X_100).shape == (100, 8)


def test_classes_are_given_to_the_first_partial_fit(net):
    # skorch test_classifier.py::TestNeuralNet::test_pass_classes_explicitly_overrides
    # skorch test_net.py::TestNeuralNet::test_partial_fit_first_call
    # Documented difference: as scikit-learn's partial_fit, the classes come
    # with the first call (skorch takes a `classes` parameter, or infers them
    # from the first y).
    y = np.array(["foo", "bar"])[Y_100]
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        net().partial_fit(X_100, y)
    clf = net().partial_fit(X_100, y, classes=["foo", "bar", "baz"])
    assert clf.classes_.tolist() == ["bar", "baz", "foo"]
    assert clf.predict_proba(X_100).shape == (100, 3)


@pytest.mark.parametrize("classes", [[], np.array([])])
def test_empty_classes_are_refused(net, classes):
    # skorch test_classifier.py::TestNeuralNet::test_pass_empty_classes_raises
    clf = net()
    with pytest.raises(ValueError, match="not in classes"):
        clf.partial_fit(X_100, Y_100, classes=classes)
    assert not hasattr(clf, "classes_")


def test_a_column_vector_y_is_accepted_with_a_warning(net):
    # skorch test_classifier.py::TestNeuralNetBinaryClassifier::test_target_2d_raises
    # Documented difference: as scikit-learn, a column vector y is raveled with
    # a DataConversionWarning (skorch raises).
    with pytest.warns(DataConversionWarning, match="column-vector y"):
        clf = net(epochs=1).fit(X_100, Y_100[:, None])
    assert clf.classes_.tolist() == [0, 1]


# -- training -------------------------------------------------------------------------


def test_a_high_learning_rate_keeps_a_finite_loss(net):
    # skorch test_classifier.py::TestNeuralNet::test_high_learning_rate
    # (lr=2 with Adam; the integer 2 is issue 17's point 1, below)
    clf = net(epochs=2, learning_rate=2.0, optimizer="adam").fit(X_SKORCH, Y_SKORCH)
    assert np.isfinite(clf.loss_curve_).any()


def test_an_integer_learning_rate_trains(net):
    # skorch test_classifier.py::TestNeuralNet::test_high_learning_rate (lr=2)
    clf = net(epochs=2, learning_rate=2, optimizer="adam").fit(X_SKORCH, Y_SKORCH)
    assert np.isfinite(clf.loss_curve_).any()


def test_batches_of_one_row(net):
    # skorch test_classifier.py::TestNeuralNetBinaryClassifier::test_batch_size_one
    clf = net(epochs=1, batch_size=1).fit(X_SKORCH[:300], Y_SKORCH[:300])
    assert clf.n_iter_ == 1 and np.isfinite(clf.loss_curve_[0])


def test_set_params_changes_the_next_network(net):
    # skorch test_net.py::TestNeuralNet::test_set_params_works
    clf = net(epochs=1).fit(X_100, Y_100)
    dense = [layer for layer in clf.architecture_ if layer["kind"] == "dense"]
    assert (dense[0]["units"], dense[0]["activation"]) != (20, "tanh")
    changed = net.translate({"hidden": (20,), "activation": "tanh"})
    clf.set_params(**changed, learning_rate=0.2)
    clf.fit(X_100, Y_100)
    dense = [layer for layer in clf.architecture_ if layer["kind"] == "dense"]
    assert (dense[0]["units"], dense[0]["activation"]) == (20, "tanh")
    assert clf.coefs_[-1].shape == (20, 2)
    assert clf.learning_rate == 0.2


def test_fit_again_starts_a_new_network(net):
    # skorch test_net.py::TestNeuralNet::test_call_fit_twice_retrains
    clf = net(random_state=None, epochs=2).fit(X_100, Y_100)
    before = [w.copy() for w in clf.coefs_]
    clf.fit(X_100, Y_100)
    assert clf.n_iter_ == 2 and len(clf.history_["loss"]) == 2
    for w0, w1 in zip(before, clf.coefs_, strict=True):
        assert (w0 != w1).any()


def test_warm_start_continues_and_zero_epochs_are_refused(net):
    # skorch test_net.py::TestNeuralNet::test_call_fit_twice_warmstart (there a
    # second fit with max_epochs=0 leaves the weights; documented difference:
    # epochs is at least 1, as MLPClassifier's max_iter)
    clf = net(warm_start=True, epochs=2).fit(X_100, Y_100)
    before = copy.deepcopy(clf)
    with pytest.raises(InvalidParameterError, match="'epochs' parameter"):
        clf.set_params(epochs=0).fit(X_100, Y_100)
    assert same_weights(clf, before) and clf.n_iter_ == 2
    clf.set_params(epochs=1).fit(X_100, Y_100)
    assert clf.n_iter_ == 3 and clf.loss_curve_[:2] == before.loss_curve_


def test_partial_fit_after_fit_continues(fitted):
    # skorch test_net.py::TestNeuralNet::test_call_partial_fit_after_fit (there
    # with max_epochs=0 it trains nothing; here one epoch, always)
    clf = copy.deepcopy(fitted)
    clf.partial_fit(X_SKORCH, Y_SKORCH)
    assert clf.n_iter_ == fitted.n_iter_ + 1
    assert clf.loss_curve_[:-1] == fitted.loss_curve_
    assert not same_weights(clf, fitted)


def test_set_learning_rate_between_calls(net):
    # skorch test_net.py::TestNeuralNet::test_set_lr_at_runtime_sets_lr. With
    # plain SGD on one batch, a step is -learning_rate * gradient: the same
    # state stepped at twice the rate moves exactly twice as far.
    base = net(optimizer="sgd", learning_rate=0.01, batch_size=100)
    base.partial_fit(X_100, Y_100, classes=[0, 1])
    once, twice = copy.deepcopy(base), copy.deepcopy(base)
    once.set_params(learning_rate=0.01).partial_fit(X_100, Y_100)
    twice.set_params(learning_rate=0.02).partial_fit(X_100, Y_100)
    for w0, w1, w2 in zip(base.coefs_, once.coefs_, twice.coefs_, strict=True):
        assert np.abs(w1 - w0).max() > 1e-5
        assert_allclose(w2 - w0, 2 * (w1 - w0), rtol=1e-3, atol=1e-7)


def test_mini_batch_parameters(net):
    # skorch test_net.py::TestNeuralNet::test_batch_size_neg_1_uses_whole_dataset
    # skorch test_net.py::TestNeuralNet::test_fit_lbfgs_optimizer
    # Documented differences: batch_size is a positive number of rows (a
    # batch larger than the data is all of it); Keras's mini-batch
    # optimizers only, no L-BFGS.
    with pytest.raises(InvalidParameterError, match="'batch_size' parameter"):
        net(batch_size=-1).fit(X_100, Y_100)
    with pytest.raises(InvalidParameterError, match="'optimizer' parameter"):
        net(optimizer="lbfgs").fit(X_100, Y_100)
    whole = net(batch_size=10**6, epochs=1).fit(X_100, Y_100)
    exact = net(batch_size=100, epochs=1).fit(X_100, Y_100)
    assert same_weights(whole, exact)


# -- copies ---------------------------------------------------------------------------


def test_training_goes_on_after_a_copy(net):
    # skorch test_net.py::TestNeuralNet::test_train_net_after_copy (its two
    # copy methods, pickle and copy.deepcopy, from one trained network)
    n1 = net(**RANDOM_LAYERS[net.name]).partial_fit(X_SKORCH, Y_SKORCH, classes=[0, 1])
    for n2 in (pickle.loads(pickle.dumps(n1)), copy.deepcopy(n1)):
        assert same_weights(n1, n2)
        n2.partial_fit(X_SKORCH, Y_SKORCH).partial_fit(X_SKORCH, Y_SKORCH)
        for w1, w2 in zip(n1.coefs_, n2.coefs_, strict=True):
            assert not np.allclose(w1, w2)
        assert n2.history_["loss"][-1] != n2.history_["loss"][-2]
        assert n1.n_iter_ == 1 and len(n1.history_["loss"]) == 1


def test_a_shallow_copy_shares_no_training_state(net):
    # skorch test_net.py::TestNeuralNet::test_train_net_after_copy (with
    # copy.copy: training the copy leaves the original as it was)
    n1 = net(**RANDOM_LAYERS[net.name]).partial_fit(X_SKORCH, Y_SKORCH, classes=[0, 1])
    before = pickle.loads(pickle.dumps(n1))
    copy.copy(n1).partial_fit(X_SKORCH, Y_SKORCH)
    assert n1.n_iter_ == 1 and n1.history_ == before.history_
    assert same_weights(n1, before)
    n1.partial_fit(X_SKORCH, Y_SKORCH)
    before.partial_fit(X_SKORCH, Y_SKORCH)
    assert same_weights(n1, before)  # the optimizer and shuffling state too
