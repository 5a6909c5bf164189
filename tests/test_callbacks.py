"""scikit-learn's callbacks (sklearn.callback, 1.9) on skmnist's estimators.

A network's fit is one task with one subtask per epoch: a ProgressBar
advances once an epoch, a ScoringMonitor scores the network after each
epoch, a callback may stop training, and all of it works through Pipeline
and GridSearchCV. Without sklearn.callback the estimators are as before.
"""

import copy
import pickle
import subprocess
import sys
import textwrap
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

import skmnist
from skmnist import (
    MNISTCNNClassifier,
    MNISTMLPClassifier,
    NetworkClassifier,
    make_mnist_pipeline,
)
from skmnist.layers import Conv2D, Dense, Flatten, MaxPool2D

try:
    from sklearn.callback import ProgressBar, ScoringMonitor
except ImportError:  # scikit-learn < 1.9: only the last test applies
    ProgressBar = ScoringMonitor = None

# Every test but the last needs sklearn.callback (scikit-learn 1.9 and later).
needs_callbacks = pytest.mark.skipif(
    ProgressBar is None, reason="this scikit-learn has no sklearn.callback"
)

SMALL = {"hidden_layer_sizes": (32,), "random_state": 0}


class Recorder:
    """A callback that records every hook call, and stops after one epoch if told."""

    def __init__(self, stop_after_epoch=None, fail_at_epoch=None):
        self.stop_after_epoch = stop_after_epoch
        self.fail_at_epoch = fail_at_epoch
        self.events = []

    def setup(self, estimator, context):
        self.events.append(("setup",))

    def teardown(self, estimator, context):
        self.events.append(("teardown",))

    def on_fit_task_begin(self, estimator, context):
        self.events.append(("begin", context.task_name, context.task_id))

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
        self.events.append(("end", context.task_name, context.task_id))
        if context.task_name == "epoch" and context.task_id == self.fail_at_epoch:
            raise RuntimeError("the callback failed")
        return context.task_name == "epoch" and context.task_id == self.stop_after_epoch

    def epochs(self, event):
        return [e[2] for e in self.events if e[:2] == (event, "epoch")]


@pytest.fixture(scope="module")
def data(mnist_small):
    (X, y), _ = mnist_small
    return X[:1500], y[:1500]


def _epoch_scores(monitor, name="accuracy"):
    rows = [row for row in monitor.get_logs().data if row["task_name"] == "epoch"]
    return [row[name] for row in rows]


@needs_callbacks
def test_the_task_tree_is_the_fit_and_one_task_per_epoch(data):
    X, y = data
    recorder = Recorder()
    MNISTMLPClassifier(epochs=3, **SMALL).set_callbacks(recorder).fit(X, y)
    assert recorder.events == [
        ("setup",),
        ("begin", "fit", 0),
        ("begin", "epoch", 0),
        ("end", "epoch", 0),
        ("begin", "epoch", 1),
        ("end", "epoch", 1),
        ("begin", "epoch", 2),
        ("end", "epoch", 2),
        ("end", "fit", 0),
        ("teardown",),
    ]


@needs_callbacks
def test_a_shallow_copy_shares_the_callbacks_but_no_training_state(data):
    # A shallow copy has its own training state (issue 17), but shares the
    # callbacks, as scikit-learn's clone does (and its callbacks rely on
    # copy.copy to hand them the fitted estimator at each epoch).
    X, y = data[0][:300], data[1][:300]
    recorder = Recorder()
    clf = MNISTMLPClassifier(epochs=1, **SMALL).set_callbacks(recorder).fit(X, y)
    other = copy.copy(clf)
    assert other._skl_callbacks is clf._skl_callbacks
    assert other.history_ == clf.history_ and other.history_ is not clf.history_
    n_events = len(recorder.events)
    other.partial_fit(X, y)
    assert (clf.n_iter_, other.n_iter_) == (1, 2)
    assert len(clf.history_["loss"]) == 1
    assert ("begin", "partial_fit", 0) in recorder.events[n_events:]


@needs_callbacks
def test_progress_bar_shows_the_fit_of_its_epochs(data, capsys):
    X, y = data
    MNISTMLPClassifier(epochs=3, **SMALL).set_callbacks(ProgressBar()).fit(X, y)
    out = capsys.readouterr().out
    assert "MNISTMLPClassifier - fit" in out
    assert "100%" in out


@needs_callbacks
def test_scoring_monitor_scores_the_network_after_each_epoch(data):
    """Epoch k's score is the score of the same network trained for k epochs,
    and the callbacks change nothing in the training itself."""
    X, y = data
    monitor = ScoringMonitor(scoring="accuracy")
    clf = MNISTMLPClassifier(epochs=3, **SMALL).set_callbacks(monitor).fit(X, y)
    shorter = [MNISTMLPClassifier(epochs=k, **SMALL).fit(X, y) for k in (1, 2, 3)]
    assert _epoch_scores(monitor) == [model.score(X, y) for model in shorter]
    (root,) = [r for r in monitor.get_logs().data if r["task_name"] == "fit"]
    assert root["accuracy"] == clf.score(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), shorter[-1].predict_proba(X))


@needs_callbacks
def test_scoring_monitor_passes_the_sample_weights(data):
    X, y = data
    weights = np.where(y == y[0], 5.0, 1.0)
    monitor = ScoringMonitor(scoring="accuracy")
    clf = MNISTMLPClassifier(epochs=1, **SMALL).set_callbacks(monitor)
    clf.fit(X, y, sample_weight=weights)
    assert _epoch_scores(monitor) == [clf.score(X, y, sample_weight=weights)]
    assert clf.score(X, y, sample_weight=weights) != clf.score(X, y)


@needs_callbacks
def test_early_stopping_ends_every_epoch_it_began(data):
    X, y = data
    recorder, monitor = Recorder(), ScoringMonitor(scoring="accuracy")
    # A tolerance of 1 is met only by the first epoch (against no score yet):
    # training stops n_iter_no_change + 1 epochs later.
    clf = MNISTMLPClassifier(
        epochs=10, early_stopping=True, n_iter_no_change=1, tol=1.0, **SMALL
    )
    clf.set_callbacks(recorder, monitor).fit(X, y)
    assert clf.n_iter_ == 3
    assert recorder.epochs("begin") == recorder.epochs("end") == [0, 1, 2]
    assert len(_epoch_scores(monitor)) == 3


@needs_callbacks
def test_a_callback_can_stop_training(data):
    X, y = data
    recorder = Recorder(stop_after_epoch=1)
    clf = MNISTMLPClassifier(epochs=5, **SMALL).set_callbacks(recorder).fit(X, y)
    assert clf.n_iter_ == 2
    assert len(clf.loss_curve_) == 2
    assert recorder.epochs("begin") == recorder.epochs("end") == [0, 1]
    assert recorder.events[-2:] == [("end", "fit", 0), ("teardown",)]


@needs_callbacks
def test_a_failing_callback_leaves_the_model_as_it_was_and_is_torn_down(data):
    X, y = data
    clf = MNISTMLPClassifier(epochs=2, warm_start=True, **SMALL).fit(X, y)
    proba, n_iter = clf.predict_proba(X), clf.n_iter_
    recorder = Recorder(fail_at_epoch=0)
    clf.set_callbacks(recorder, ProgressBar())
    with pytest.raises(RuntimeError, match="the callback failed"):
        clf.fit(X, y)
    assert recorder.events[-1] == ("teardown",)
    assert ("end", "fit", 0) not in recorder.events
    monitors = [t for t in threading.enumerate() if "Progress" in type(t).__name__]
    assert monitors == []  # the progress bar's thread was joined
    np.testing.assert_array_equal(clf.predict_proba(X), proba)
    assert clf.n_iter_ == n_iter
    # and the model trains on, with its callbacks, once they stop failing
    recorder.fail_at_epoch = None
    assert clf.fit(X, y).n_iter_ == n_iter + 2


@needs_callbacks
def test_partial_fit_is_one_task_of_one_epoch(data):
    X, y = data
    recorder = Recorder()
    clf = MNISTMLPClassifier(**SMALL).set_callbacks(recorder)
    clf.partial_fit(X, y, classes=np.unique(y)).partial_fit(X, y)
    one_call = [
        ("setup",),
        ("begin", "partial_fit", 0),
        ("begin", "epoch", 0),
        ("end", "epoch", 0),
        ("end", "partial_fit", 0),
        ("teardown",),
    ]
    assert recorder.events == one_call * 2


@needs_callbacks
def test_callbacks_inside_grid_search(data, capsys):
    """The search's ProgressBar reaches each candidate's fit; a
    ScoringMonitor on the classifier scores the epochs of every fit."""
    X, y = data
    monitor = ScoringMonitor(scoring="accuracy")
    clf = MNISTMLPClassifier(epochs=2, **SMALL).set_callbacks(monitor)
    search = GridSearchCV(clf, {"learning_rate": [1e-3, 1e-2]}, cv=2)
    search.set_callbacks(ProgressBar()).fit(X, y)
    out = capsys.readouterr().out
    assert "GridSearchCV - fit" in out
    assert out.count("| MNISTMLPClassifier - fit") == 5  # 2 x 2 folds, the refit
    log = monitor.get_logs()
    assert log.estimator_name == "GridSearchCV"
    epochs = [row for row in log.data if row["task_name"] == "epoch"]
    assert len(epochs) == 5 * 2
    # search -> refit -> epoch, beside search -> search step -> candidate -> epoch
    refit = [row for row in epochs if len(row["task_id_path"]) == 3]
    assert len(refit) == 2
    assert refit[-1]["accuracy"] == search.best_estimator_.score(X, y)


@needs_callbacks
def test_callbacks_inside_a_parallel_grid_search(data):
    """With worker processes the callbacks are pickled with the estimator and
    report back to this process."""
    X, y = data
    monitor = ScoringMonitor(scoring="accuracy")
    clf = MNISTMLPClassifier(epochs=2, **SMALL).set_callbacks(monitor)
    search = GridSearchCV(clf, {"learning_rate": [1e-3]}, cv=2, n_jobs=2)
    search.fit(X, y)
    epochs = [row for row in monitor.get_logs().data if row["task_name"] == "epoch"]
    assert len(epochs) == 3 * 2  # 2 folds in the workers, the refit here


@needs_callbacks
def test_a_pipeline_passes_its_progress_bar_to_both_steps(mnist, capsys):
    (X_train, y_train), _ = mnist
    pipeline = make_mnist_pipeline(epochs=2, **SMALL).set_callbacks(ProgressBar())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "does not support callbacks"
        pipeline.fit(X_train[:1500], y_train[:1500])
    out = capsys.readouterr().out
    assert "MNISTPreprocessor - fit" in out
    assert "MNISTMLPClassifier - fit" in out


@needs_callbacks
def test_the_convnet_reports_its_epochs(mnist):
    (X_train, y_train), _ = mnist
    X, y = X_train[:600].reshape(600, -1) / 255.0, y_train[:600]
    monitor = ScoringMonitor(scoring="accuracy")
    clf = MNISTCNNClassifier(filters=(4,), dense_units=(), epochs=2, random_state=0)
    clf.set_callbacks(monitor).fit(X, y)
    scores = _epoch_scores(monitor)
    assert len(scores) == 2
    assert scores[-1] == clf.score(X, y)


@needs_callbacks
def test_any_network_reports_its_epochs(data):
    """NetworkClassifier, of any layers, shares the presets' fit and its tasks."""
    X, y = data
    monitor = ScoringMonitor(scoring="accuracy")
    clf = NetworkClassifier(
        layers=[Conv2D(4, 3), MaxPool2D(2), Flatten(), Dense(16)],
        epochs=2,
        random_state=0,
    )
    clf.set_callbacks(monitor).fit(X[:600], y[:600])
    scores = _epoch_scores(monitor)
    assert len(scores) == 2
    assert scores[-1] == clf.score(X[:600], y[:600])


@needs_callbacks
def test_callbacks_follow_clones_and_stay_out_of_model_files(data, tmp_path):
    X, y = data
    monitor = ScoringMonitor(scoring="accuracy")
    clf = MNISTMLPClassifier(epochs=1, **SMALL).set_callbacks(monitor).fit(X, y)
    clone(clf).fit(X, y)  # scikit-learn's clone keeps the callbacks
    assert len(monitor.get_logs(select="all")) == 2
    loaded = skmnist.load(skmnist.save(clf, tmp_path / "model.skmnist"))
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    loaded.fit(X, y)  # a loaded model has no callbacks: nothing more is logged
    assert len(monitor.get_logs(select="all")) == 2
    assert (
        pickle.loads(pickle.dumps(clf)).predict(X[:5]).tolist()
        == clf.predict(X[:5]).tolist()
    )


@needs_callbacks
def test_pickling_leaves_the_estimator_as_it_was(data):
    """A ScoringMonitor copies the estimator after each epoch (copy.copy
    pickles it): that must not take the live Keras model from the estimator."""
    X, y = data
    clf = MNISTMLPClassifier(epochs=1, **SMALL).fit(X, y)
    before = dict(clf.__dict__)
    pickle.dumps(clf)
    assert clf.__dict__.keys() == before.keys()
    assert all(clf.__dict__[key] is value for key, value in before.items())


def test_without_sklearn_callback_the_estimators_are_as_before(
    mnist_path, data, tmp_path
):
    """On a scikit-learn without sklearn.callback (before 1.9), simulated by
    hiding the module while skmnist is imported: no set_callbacks, and the
    same fits as with it."""
    out = tmp_path / "proba.npy"
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        # scikit-learn's own modules that use sklearn.callback, imported first
        import sklearn.linear_model, sklearn.model_selection, sklearn.pipeline
        import sklearn.preprocessing
        callback_module = sys.modules.get("sklearn.callback")
        sys.modules["sklearn.callback"] = None  # "from sklearn.callback" fails
        import skmnist
        if callback_module is None:
            del sys.modules["sklearn.callback"]
        else:
            sys.modules["sklearn.callback"] = callback_module
        from _helpers import small_split
        from sklearn.model_selection import GridSearchCV
        from skmnist._utils import callbacks

        assert not callbacks.AVAILABLE
        for estimator in (skmnist.MNISTMLPClassifier(), skmnist.MNISTPreprocessor()):
            assert not hasattr(estimator, "set_callbacks"), estimator
        (X, y), (X_test, y_test) = skmnist.load_mnist({str(mnist_path)!r})
        pipeline = skmnist.make_mnist_pipeline(epochs=1, hidden_layer_sizes=(8,))
        pipeline.fit(X[:300], y[:300])
        (X, y), _ = small_split(X, y, X_test, y_test)
        X, y = X[:1500], y[:1500]
        clf = skmnist.MNISTMLPClassifier(epochs=2, **{SMALL!r})
        GridSearchCV(clf, {{"learning_rate": [1e-3]}}, cv=2).fit(X, y)
        np.save({str(out)!r}, clf.fit(X, y).predict_proba(X))
        """
    )
    subprocess.run(
        [sys.executable, "-c", script],
        check=True,
        cwd=Path(__file__).parent,
    )
    X, y = data
    expected = MNISTMLPClassifier(epochs=2, **SMALL).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(np.load(out), expected)
