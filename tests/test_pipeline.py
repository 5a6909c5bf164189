"""make_mnist_pipeline, model selection, and persistence with joblib/pickle."""

import pickle
import subprocess
import sys

import joblib
import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.model_selection import (
    GridSearchCV,
    StratifiedKFold,
    check_cv,
    cross_val_score,
)
from sklearn.pipeline import Pipeline

from skmnist import MNISTMLPClassifier, MNISTPreprocessor, make_mnist_pipeline


def test_pipeline_steps_and_parameters():
    pipe = make_mnist_pipeline(epochs=3, random_state=7)
    assert isinstance(pipe, Pipeline)
    assert isinstance(pipe.named_steps["preprocess"], MNISTPreprocessor)
    assert isinstance(pipe.named_steps["classifier"], MNISTMLPClassifier)
    params = pipe.get_params()
    assert params["classifier__epochs"] == 3
    assert params["classifier__random_state"] == 7
    assert (
        params["classifier__batch_size"] == 128
    )  # untouched defaults stay the tutorial's


def test_pipeline_is_a_classifier_so_cv_is_stratified():
    pipe = make_mnist_pipeline()
    assert is_classifier(pipe)
    assert isinstance(
        check_cv(3, [0, 1, 0, 1, 0, 1], classifier=is_classifier(pipe)), StratifiedKFold
    )


def _raw_subset(mnist, n_train, n_test):
    (X_train, y_train), (X_test, y_test) = mnist
    return (X_train[:n_train], y_train[:n_train]), (X_test[:n_test], y_test[:n_test])


def test_grid_search_over_the_pipeline(mnist):
    (X, y), (X_test, y_test) = _raw_subset(mnist, 3000, 1000)
    pipe = make_mnist_pipeline(hidden_layer_sizes=(64,), epochs=5, random_state=0)
    search = GridSearchCV(pipe, {"classifier__learning_rate": [1e-5, 1e-3]}, cv=2).fit(
        X, y
    )

    results = search.cv_results_
    assert len(results["params"]) == 2
    # A learning rate 100 times smaller learns far less in 2 epochs.
    assert search.best_params_ == {"classifier__learning_rate": 1e-3}
    assert results["mean_test_score"][1] > results["mean_test_score"][0] + 0.1
    assert search.best_estimator_.score(X_test, y_test) > 0.85


def test_cross_val_score(mnist):
    (X, y), _ = _raw_subset(mnist, 3000, 0)
    pipe = make_mnist_pipeline(hidden_layer_sizes=(64,), epochs=5, random_state=0)
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,)
    assert np.all(scores > 0.8)


def test_clone_gives_an_unfitted_equal_pipeline(tutorial_pipelines):
    fitted = tutorial_pipelines[1]
    copy = clone(fitted)
    assert copy.get_params()["classifier__random_state"] == 1
    assert not hasattr(copy.named_steps["classifier"], "coefs_")


def test_joblib_and_pickle_round_trips(mnist, tutorial_pipelines, tmp_path):
    _, (X_test, _) = mnist
    pipe = tutorial_pipelines[1]
    expected = pipe.predict_proba(X_test)

    joblib.dump(pipe, tmp_path / "pipe.joblib")
    from_joblib = joblib.load(tmp_path / "pipe.joblib")
    from_pickle = pickle.loads(pickle.dumps(pipe))

    np.testing.assert_array_equal(from_joblib.predict_proba(X_test), expected)
    np.testing.assert_array_equal(from_pickle.predict_proba(X_test), expected)
    # The Keras model is rebuilt from the weights on demand.
    assert "hidden_1" in from_pickle.named_steps["classifier"].summary()


def test_loads_and_predicts_in_a_fresh_process_without_tensorflow(
    mnist, mnist_path, tutorial_pipelines, tmp_path
):
    _, (X_test, _) = mnist
    pipe = tutorial_pipelines[2]
    joblib.dump(pipe, tmp_path / "pipe.joblib")
    script = f"""
import sys
import joblib
import numpy as np
from skmnist import load_mnist
_, (X_test, _) = load_mnist({str(mnist_path)!r})
pipe = joblib.load({str(tmp_path / "pipe.joblib")!r})
np.save({str(tmp_path / "proba.npy")!r}, pipe.predict_proba(X_test))
print("tensorflow" in sys.modules, "keras" in sys.modules)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    )
    assert done.stdout.split() == ["False", "False"]
    np.testing.assert_array_equal(
        np.load(tmp_path / "proba.npy"), pipe.predict_proba(X_test)
    )
