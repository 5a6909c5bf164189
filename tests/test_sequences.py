"""Sequences of calls, found by Hypothesis's stateful testing (issue 11).

A state machine drives one small network through random sequences of fit,
partial_fit, warm-start fits, parameter changes, clones, pickle and
skmnist.save/load round trips, and calls that must be rejected, and checks
after every step what must hold whatever came before: the history and the
attributes derived from it line up, ``n_iter_`` counts the epochs run (the
machine predicts it, the no-improvement rule included), probabilities are
probabilities, the weights fit ``architecture_``, a rejected call changes
nothing, and a round-tripped copy predicts and trains exactly as the original.

It runs for the MLP and the ConvNet, tiny versions of both, on 300 of
scikit-learn's 8 x 8 digits; examples are derandomized, so every run tries the
same sequences.
"""

import math
import pickle
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from test_network_contract import fingerprint

import skmnist
from skmnist import MNISTCNNClassifier, MNISTMLPClassifier

NETWORKS = {
    "mlp": lambda: MNISTMLPClassifier(
        hidden_layer_sizes=(8,), epochs=1, batch_size=64, random_state=0
    ),
    "cnn": lambda: MNISTCNNClassifier(
        filters=(4,), dense_units=(), epochs=1, batch_size=64, random_state=0
    ),
}
# A parameter change that describes another network, for each kind.
OTHER_NETWORK = {"mlp": {"hidden_layer_sizes": (5,)}, "cnn": {"filters": (2,)}}

_X, _Y = load_digits(return_X_y=True)
X = (_X[:300] / 16).astype(np.float32)
Y = _Y[:300]
X_TEST = (_X[300:400] / 16).astype(np.float32)
CLASSES = np.arange(10)
HALVES = {"all": slice(None), "first half": slice(0, 150), "second half": slice(150)}
SAMPLE_WEIGHTS = {
    "none": None,
    "repeats": np.random.RandomState(0).randint(0, 3, len(Y)),
    "scales": np.random.RandomState(1).uniform(0.1, 2, len(Y)),
}

# Parameter changes a user makes between calls; none of them changes the network.
PARAMETER_CHANGES = [
    ("warm_start", True),
    ("warm_start", False),
    ("early_stopping", True),
    ("early_stopping", False),
    ("epochs", 1),
    ("epochs", 2),
    ("epochs", 3),
    ("batch_size", 32),
    ("batch_size", 64),
    ("batch_size", 512),  # more than the rows: one batch
    ("learning_rate", 1e-3),
    ("learning_rate", 1e-2),
    ("learning_rate", 5e-2),
    ("shuffle", True),
    ("shuffle", False),
    ("class_weight", None),
    ("class_weight", "balanced"),
    # With few epochs, only these make the no-improvement rule stop a fit early.
    ("n_iter_no_change", 1),
    ("n_iter_no_change", 10),
    ("tol", 1e-4),
    ("tol", 0.1),
    ("optimizer", "adam"),
    ("optimizer", "sgd"),
]

_NAN_X = X.copy()
_NAN_X[3, 5] = np.nan


def _partial_fit(clf, X, y, **kwargs):
    # Early stopping would reject any partial_fit before the reason under test.
    return clf.set_params(early_stopping=False).partial_fit(X, y, **kwargs)


# (call, the error message it must give) of calls rejected in any state.
REJECTED = {
    "NaN in X": (lambda clf: clf.fit(_NAN_X, Y), "NaN"),
    "NaN in X (partial_fit)": (
        lambda clf: _partial_fit(clf, _NAN_X, Y, classes=CLASSES),
        "NaN",
    ),
    "1-D X": (lambda clf: clf.fit(X[:, 0], Y), "2D array"),
    "one class": (
        lambda clf: clf.fit(X, np.zeros_like(Y)),
        "only one class|same classes",
    ),
    "y of another length": (lambda clf: clf.fit(X, Y[:-1]), "inconsistent numbers"),
    "negative sample weights": (
        lambda clf: clf.fit(X, Y, sample_weight=-np.ones(len(Y))),
        "Negative values",
    ),
    "zero sample weights": (
        lambda clf: clf.fit(X, Y, sample_weight=np.zeros(len(Y))),
        "non-zero",
    ),
    "NaN sample weights": (
        lambda clf: clf.fit(X, Y, sample_weight=np.full(len(Y), np.nan)),
        "NaN",
    ),
    "batch_size=0": (lambda clf: clf.set_params(batch_size=0).fit(X, Y), "batch_size"),
    "epochs=0": (lambda clf: clf.set_params(epochs=0).fit(X, Y), "epochs"),
    "learning_rate<0": (
        lambda clf: clf.set_params(learning_rate=-0.1).fit(X, Y),
        "learning_rate",
    ),
    "class_weight='even'": (
        lambda clf: clf.set_params(class_weight="even").fit(X, Y),
        "class_weight",
    ),
    "negative class weight": (
        lambda clf: clf.set_params(class_weight={0: -0.5}).fit(X, Y),
        "finite non-negative",
    ),
    "partial_fit with early stopping": (
        lambda clf: clf.set_params(early_stopping=True).partial_fit(
            X, Y, classes=CLASSES
        ),
        "early_stopping",
    ),
    "partial_fit with new classes": (
        lambda clf: _partial_fit(clf, X, Y + 100, classes=CLASSES),
        "not in classes",
    ),
}

# Calls rejected only because the model is fitted (unfitted, most are valid).
REJECTED_WHEN_FITTED = {
    "other width (partial_fit)": (
        lambda clf: _partial_fit(clf, X[:, :10], Y),
        "features",
    ),
    "other width (warm start)": (
        lambda clf: clf.set_params(warm_start=True).fit(X[:, :10], Y),
        "features",
    ),
    "other classes (warm start)": (
        lambda clf: clf.set_params(warm_start=True).fit(X, Y % 3),
        "same classes",
    ),
    "other classes (partial_fit)": (
        lambda clf: _partial_fit(clf, X, Y, classes=np.arange(11)),
        "not the same",
    ),
}


def _network_change(network, incremental):
    if incremental:
        return lambda clf: _partial_fit(clf.set_params(**OTHER_NETWORK[network]), X, Y)
    return lambda clf: clf.set_params(warm_start=True, **OTHER_NETWORK[network]).fit(
        X, Y
    )


# -- comparing models -------------------------------------------------------------


def state_of(clf):
    """:func:`fingerprint`, plus the weights of the live Keras model.

    The Keras model is what the next call trains: a rejected call must leave
    it as it was too, not only ``coefs_`` (a call that fails mid-training may
    drop it, to be rebuilt from the weights and state as they were: what
    counts is what the next call gets).
    """
    live = None
    if hasattr(clf, "coefs_"):
        live = clf._trainer().weights()
    return fingerprint(clf), pickle.dumps(live)


def assert_equal_values(a, b, where):
    """Equal values, NaN equal to NaN, arrays equal in dtype and every bit."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray), where
        assert a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), where
        for key in a:
            assert_equal_values(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, list | tuple):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (u, v) in enumerate(zip(a, b, strict=True)):
            assert_equal_values(u, v, f"{where}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b), where
    else:
        assert a == b and type(a) is type(b), (where, a, b)


def assert_same_model(a, b, private=False):
    """Same class, parameters, fitted attributes and training state.

    With ``private``, every other attribute too (but the live Keras model,
    whose state ``_get_training_state`` compares).
    """
    assert type(a) is type(b)
    assert_equal_values(a.get_params(), b.get_params(), "params")

    def compared(clf):
        return sorted(
            name
            for name in vars(clf)
            if name not in ("_keras_trainer", "_training_state")
            and (private or (name.endswith("_") and not name.startswith("_")))
        )

    fitted = compared(a)
    assert fitted == compared(b)
    for name in fitted:
        value = getattr(a, name)
        if isinstance(value, np.random.RandomState):
            assert_equal_values(value.get_state(), getattr(b, name).get_state(), name)
        else:
            assert_equal_values(value, getattr(b, name), name)
    if hasattr(a, "coefs_"):
        assert_equal_values(a._get_training_state(), b._get_training_state(), "state")
        np.testing.assert_array_equal(a.predict_proba(X_TEST), b.predict_proba(X_TEST))


def expected_weight_shapes(architecture, n_features):
    """(kernel, bias) shapes of the weighted layers, following the data through."""
    shape, shapes = (n_features,), []
    for layer in architecture:
        kind = layer["kind"]
        if kind == "image":
            side, padding = layer["side"], layer["padding"]
            assert (side - 1) ** 2 < n_features <= side**2
            shape = (side + 2 * padding, side + 2 * padding, 1)
        elif kind == "conv2d":
            (height, width, channels), (kh, kw) = shape, layer["kernel_size"]
            shapes.append(((kh, kw, channels, layer["filters"]), (layer["filters"],)))
            shape = (height - kh + 1, width - kw + 1, layer["filters"])
        elif kind == "max_pool2d":
            (height, width, channels), (ph, pw) = shape, layer["pool_size"]
            shape = (height // ph, width // pw, channels)
        elif kind == "flatten":
            shape = (math.prod(shape),)
        elif kind == "dense":
            (n_in,) = shape
            shapes.append(((n_in, layer["units"]), (layer["units"],)))
            shape = (layer["units"],)
        else:
            assert kind in ("dropout", "random_shift"), kind
    return shapes, shape


# -- the machine ------------------------------------------------------------------


class CallSequences(RuleBasedStateMachine):
    """One network through a sequence of calls; ``network`` names which."""

    network = None

    def __init__(self):
        super().__init__()
        self.clf = NETWORKS[self.network]()
        self.expected_n_iter = 0
        # How the last training call ended: early stopping, and its epochs.
        self.last_call = None
        self.folder = Path(tempfile.mkdtemp(prefix="skmnist-sequences-"))
        self.n_saved = 0

    def teardown(self):
        shutil.rmtree(self.folder, ignore_errors=True)

    def fitted(self):
        return hasattr(self.clf, "coefs_")

    # -- training ---------------------------------------------------------------

    def train(self, clf, incremental, rows=HALVES["all"], sample_weight=None):
        """Run one training call on ``clf`` and check the epochs it added."""
        continuing = hasattr(clf, "coefs_") and (incremental or clf.warm_start)
        before = {k: list(v) for k, v in clf.history_.items()} if continuing else {}
        n_before = clf.n_iter_ if continuing else 0
        assert n_before == (self.expected_n_iter if continuing else 0)
        if incremental:
            first = not hasattr(clf, "coefs_")
            clf.partial_fit(
                X[rows],
                Y[rows],
                classes=CLASSES if first else None,
                sample_weight=sample_weight,
            )
        else:
            clf.fit(X[rows], Y[rows], sample_weight=sample_weight)
        new = {k: v[n_before:] for k, v in clf.history_.items()}
        # Continuing keeps the earlier epochs as they were.
        for key, values in before.items():
            assert_equal_values(clf.history_[key][:n_before], values, key)
        stopping = clf.early_stopping and not incremental
        n_new = len(new["loss"])
        assert n_new == self.epochs_to_run(clf, incremental, stopping, before, new)
        if not incremental and n_new < clf.epochs:
            event("a fit stopped early")
        event(f"{'partial_fit' if incremental else 'fit'} continuing: {continuing}")
        self.expected_n_iter = n_before + n_new
        self.last_call = {"stopping": stopping, "epochs": n_new}

    @staticmethod
    def epochs_to_run(clf, incremental, stopping, before, new):
        """The epochs a call runs: ``epochs``, unless the no-improvement rule
        (scikit-learn's, applied to the scores it recorded) stopped it."""
        if incremental:
            return 1
        if stopping:
            scores, best = new["val_accuracy"], -math.inf
        else:
            scores, best = new["loss"], min(before.get("loss", [math.inf]))
        count = 0
        for epoch, score in enumerate(scores, start=1):
            if stopping:
                improved = score >= best + clf.tol
                best = max(best, score)
            else:
                improved = score <= best - clf.tol
                best = min(best, score)
            count = 0 if improved else count + 1
            if count > clf.n_iter_no_change:
                return epoch
        return clf.epochs

    @rule(weights=st.sampled_from(sorted(SAMPLE_WEIGHTS)))
    def fit(self, weights):
        self.train(self.clf, False, sample_weight=SAMPLE_WEIGHTS[weights])

    @rule(epochs=st.integers(1, 3), impatient=st.booleans())
    def warm_start_fit(self, epochs, impatient):
        self.clf.set_params(warm_start=True, epochs=epochs)
        if impatient:
            # Two epochs that do not improve the loss by 0.1 stop a continued
            # fit, which the machine must then have predicted.
            self.clf.set_params(n_iter_no_change=1, tol=0.1)
        self.train(self.clf, False)

    @precondition(lambda self: not self.clf.early_stopping)
    @rule(rows=st.sampled_from(sorted(HALVES)), weighted=st.booleans())
    def partial_fit(self, rows, weighted):
        weights = SAMPLE_WEIGHTS["scales"][HALVES[rows]] if weighted else None
        self.train(self.clf, True, HALVES[rows], weights)

    @rule(change=st.sampled_from(PARAMETER_CHANGES))
    def set_param(self, change):
        name, value = change
        proba = self.clf.predict_proba(X_TEST) if self.fitted() else None
        self.clf.set_params(**{name: value})
        assert self.clf.get_params()[name] == value
        if proba is not None:  # parameters act on the next call only
            np.testing.assert_array_equal(self.clf.predict_proba(X_TEST), proba)

    # -- copies -----------------------------------------------------------------

    @rule()
    def clone(self):
        copy = clone(self.clf)
        assert_equal_values(copy.get_params(), self.clf.get_params(), "params")
        assert not hasattr(copy, "coefs_") and not hasattr(copy, "n_iter_")
        self.clf, self.expected_n_iter, self.last_call = copy, 0, None

    def round_trip(self, copy, continue_with, private):
        """Check that ``copy`` is the model, then go on with the copy.

        With ``continue_with``, the copy and the original both run that call
        next, and must still be the same model afterwards.
        """
        assert_same_model(self.clf, copy, private)
        if continue_with == "partial_fit" and self.clf.early_stopping:
            continue_with = "fit"
        if continue_with is not None:
            incremental = continue_with == "partial_fit"
            expected = self.expected_n_iter
            self.train(self.clf, incremental)
            self.expected_n_iter = expected
            self.train(copy, incremental)
            assert_same_model(self.clf, copy, private)
            event(f"a round-tripped copy trained on ({continue_with})")
        self.clf = copy

    @rule(continue_with=st.sampled_from([None, "partial_fit", "fit"]))
    def pickle_round_trip(self, continue_with):
        # A pickle keeps every attribute, private ones included.
        self.round_trip(pickle.loads(pickle.dumps(self.clf)), continue_with, True)

    @rule(continue_with=st.sampled_from([None, "partial_fit", "fit"]))
    def save_load_round_trip(self, continue_with):
        self.n_saved += 1
        path = skmnist.save(self.clf, self.folder / f"model-{self.n_saved}.skmnist")
        self.round_trip(skmnist.load(path), continue_with, False)

    # -- rejected calls ---------------------------------------------------------

    def check_rejected(self, call, match, error=(ValueError, TypeError)):
        params = self.clf.get_params()
        before = state_of(self.clf)
        proba = self.clf.predict_proba(X_TEST) if self.fitted() else None
        with pytest.raises(error, match=match):
            call(self.clf)
        self.clf.set_params(**params)  # the call may have set parameters itself
        assert state_of(self.clf) == before
        if proba is None:
            with pytest.raises(NotFittedError):
                self.clf.predict_proba(X_TEST)
        else:
            np.testing.assert_array_equal(self.clf.predict_proba(X_TEST), proba)

    @rule(rejection=st.sampled_from(sorted(REJECTED)))
    def rejected_call(self, rejection):
        self.check_rejected(*REJECTED[rejection])

    @precondition(lambda self: self.fitted())
    @rule(rejection=st.sampled_from(sorted(REJECTED_WHEN_FITTED)))
    def rejected_call_when_fitted(self, rejection):
        self.check_rejected(*REJECTED_WHEN_FITTED[rejection])

    @precondition(lambda self: self.fitted())
    @rule(incremental=st.booleans())
    def rejected_network_change(self, incremental):
        self.check_rejected(_network_change(self.network, incremental), "another one")

    @rule(incremental=st.booleans())
    def interrupted_call(self, incremental):
        """A call interrupted after its epochs ran changes nothing either."""

        def interrupt(*args, **kwargs):
            raise KeyboardInterrupt

        cls = type(self.clf)
        cls._record = interrupt
        try:
            self.check_rejected(
                (lambda clf: _partial_fit(clf, X, Y, classes=CLASSES))
                if incremental
                else (lambda clf: clf.fit(X, Y)),
                None,
                KeyboardInterrupt,
            )
        finally:
            del cls._record  # the base class's again

    @precondition(lambda self: not self.fitted())
    @rule()
    def rejected_first_partial_fit_without_classes(self):
        self.check_rejected(lambda clf: _partial_fit(clf, X, Y), "classes must be")

    # -- what holds after every step ---------------------------------------------

    @invariant()
    def history_lines_up(self):
        if not self.fitted():
            assert not hasattr(self.clf, "n_iter_")
            return
        clf = self.clf
        assert clf.n_iter_ == self.expected_n_iter
        assert set(clf.history_) >= {"loss", "accuracy"}
        for key, values in clf.history_.items():
            assert isinstance(values, list) and len(values) == clf.n_iter_, key
        assert clf.loss_curve_ == clf.history_["loss"]
        assert clf.best_loss_ == min(clf.loss_curve_)
        if "val_accuracy" in clf.history_:
            assert_equal_values(
                clf.validation_scores_, clf.history_["val_accuracy"], "val"
            )
        else:
            assert clf.validation_scores_ is None
        if self.last_call["stopping"]:
            # The best validation score of that fit's own epochs.
            last = clf.validation_scores_[-self.last_call["epochs"] :]
            assert clf.best_validation_score_ == max(last)
        else:
            assert clf.best_validation_score_ is None

    @invariant()
    def predictions_are_probabilities(self):
        if not self.fitted():
            with pytest.raises(NotFittedError):
                self.clf.predict_proba(X_TEST)
            return
        proba = self.clf.predict_proba(X_TEST)
        assert proba.shape == (len(X_TEST), len(CLASSES))
        assert np.isfinite(proba).all() and (proba >= 0).all()
        np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-5)
        np.testing.assert_array_equal(
            self.clf.predict(X_TEST), self.clf.classes_[proba.argmax(axis=1)]
        )

    @invariant()
    def weights_fit_the_architecture(self):
        if not self.fitted():
            return
        clf = self.clf
        np.testing.assert_array_equal(clf.classes_, CLASSES)
        assert clf.n_features_in_ == X.shape[1]
        shapes, output = expected_weight_shapes(clf.architecture_, clf.n_features_in_)
        assert output == (len(clf.classes_),)
        assert clf.architecture_[-1]["activation"] == "softmax"
        assert [c.shape for c in clf.coefs_] == [k for k, _ in shapes]
        assert [b.shape for b in clf.intercepts_] == [b for _, b in shapes]
        assert all(w.dtype == np.float64 for w in (*clf.coefs_, *clf.intercepts_))


SEQUENCE_SETTINGS = settings(
    max_examples=25,
    stateful_step_count=15,
    deadline=None,
    derandomize=True,
    database=None,
)


class MLPSequences(CallSequences):
    network = "mlp"


class CNNSequences(CallSequences):
    network = "cnn"


TestMLPSequences = MLPSequences.TestCase
TestMLPSequences.settings = SEQUENCE_SETTINGS
TestCNNSequences = CNNSequences.TestCase
# The ConvNet's calls go through the same estimator core as the MLP's (the
# network is data to it), and its sequences took 1.8 times as long as the
# MLP's: 12 sequences on it instead of 25 (derandomized: the same ones in
# every run).
TestCNNSequences.settings = settings(SEQUENCE_SETTINGS, max_examples=12)


# -- What the machine found, as the shortest sequences that showed it -----------


@pytest.mark.parametrize("network", sorted(NETWORKS))
def test_partial_fit_of_a_loaded_model_without_improvement(network, tmp_path):
    # Files keep no private counters: the first partial_fit of a loaded model
    # whose loss did not improve by tol raised AttributeError.
    clf = NETWORKS[network]().fit(X, Y)
    copy = skmnist.load(skmnist.save(clf, tmp_path / "m.skmnist"))
    clf.set_params(tol=1.0).partial_fit(X, Y)
    copy.set_params(tol=1.0).partial_fit(X, Y)
    assert copy.n_iter_ == clf.n_iter_ == 2
    assert_same_model(clf, copy)


@pytest.mark.parametrize("how", ["pickle", "skmnist"])
@pytest.mark.parametrize("network", sorted(NETWORKS))
def test_continuing_a_copy_after_an_optimizer_change(network, how, tmp_path):
    # The copy holds Adam's training state but rebuilt its network with the
    # new optimizer: "ValueError: the training state has 10 optimizer
    # variables, the optimizer 2" on the next warm-start fit or partial_fit.
    clf = NETWORKS[network]().fit(X, Y)
    clf.set_params(optimizer="sgd")
    if how == "pickle":
        copy = pickle.loads(pickle.dumps(clf))
    else:
        copy = skmnist.load(skmnist.save(clf, tmp_path / "m.skmnist"))
    clf.partial_fit(X, Y)
    copy.partial_fit(X, Y)
    assert_same_model(clf, copy)


@pytest.mark.parametrize("network", sorted(NETWORKS))
def test_interrupted_call_after_an_optimizer_change(network, monkeypatch):
    # The live model was recompiled with the new optimizer before the state
    # to put back was recorded, so an interrupted call kept the new optimizer
    # (and lost Adam's moments) instead of restoring the model as it was.
    clf = NETWORKS[network]().fit(X, Y)
    clf.set_params(optimizer="sgd")
    before = state_of(clf)

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(type(clf), "_record", interrupt)
    with pytest.raises(KeyboardInterrupt):
        clf.partial_fit(X, Y)
    monkeypatch.undo()
    assert state_of(clf) == before


@pytest.mark.parametrize("how", ["fit", "warm start", "partial_fit"])
@pytest.mark.parametrize("network", sorted(NETWORKS))
def test_a_diverging_call_leaves_the_fitted_model_as_it_was(network, how):
    # Issue 17 point 2: a call whose training diverges raises, as
    # MLPClassifier does ("non-finite parameter weights"), and is undone:
    # every attribute, the training state, the generator and the live Keras
    # model bitwise. (Not a rule of the state machines above: from some
    # states a step of 1e30 only kills the ReLUs, leaving huge finite
    # weights, which no check can call diverged.)
    clf = NETWORKS[network]().fit(X, Y)
    params, before = clf.get_params(), state_of(clf)
    proba = clf.predict_proba(X_TEST)
    clf.set_params(optimizer="sgd", learning_rate=1e30, batch_size=32, epochs=2)
    with pytest.raises(ValueError, match="non-finite parameter weights"):
        if how == "partial_fit":
            clf.partial_fit(X, Y)
        else:
            clf.set_params(warm_start=how == "warm start").fit(X, Y)
    clf.set_params(**params)
    assert state_of(clf) == before
    np.testing.assert_array_equal(clf.predict_proba(X_TEST), proba)
