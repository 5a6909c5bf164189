"""Hyper-parameter search scaled out on a real Dask cluster (local processes)."""

import os
import sys

import distributed
import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from skmnist import make_mnist_pipeline


def _skmnist_imported():
    return "skmnist.training._keras" in sys.modules


@pytest.fixture(scope="module")
def dask_client():
    # Two worker processes with one thread each, started by the test itself
    # on loopback; no dashboard, nothing leaves the machine. Starting the
    # cluster sets OMP_NUM_THREADS=1 and the like in this process's
    # environment; they are put back afterwards so later tests see the
    # environment they would have seen without this one.
    saved = dict(os.environ)
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            # The scheduler's HTTP endpoints (health, metrics) would take port
            # 8787 even without a dashboard, and warn when it is taken.
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client
    os.environ.clear()
    os.environ.update(saved)


def test_grid_search_on_dask_equals_the_local_search(mnist, dask_client):
    (X_train, y_train), _ = mnist
    X, y = X_train[:2000], y_train[:2000]
    grid = {
        "classifier__learning_rate": [1e-3, 1e-2],
        "classifier__hidden_layer_sizes": [(32,), (64,)],
    }
    pipe = make_mnist_pipeline(epochs=1, random_state=0)

    local = GridSearchCV(pipe, grid, cv=2, n_jobs=1).fit(X, y)
    with joblib.parallel_config(backend="dask"):
        remote = GridSearchCV(pipe, grid, cv=2).fit(X, y)

    # Both worker processes trained networks (so they imported the trainer).
    trained_on_worker = dask_client.run(_skmnist_imported)
    assert list(trained_on_worker.values()) == [True, True]
    np.testing.assert_array_equal(
        remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )
    assert remote.best_params_ == local.best_params_


def test_hyperband_drives_partial_fit(mnist, dask_client):
    from dask_ml.model_selection import HyperbandSearchCV

    from skmnist import MNISTMLPClassifier, MNISTPreprocessor

    (X_train, y_train), _ = mnist
    X = MNISTPreprocessor().fit_transform(X_train[:3000])
    y = y_train[:3000]
    search = HyperbandSearchCV(
        MNISTMLPClassifier(hidden_layer_sizes=(32,), random_state=0),
        {"learning_rate": [1e-5, 1e-3, 1e-2]},
        max_iter=3,
        random_state=0,
    ).fit(X, y, classes=np.arange(10))

    # Hyperband trained the models one partial_fit (one epoch) at a time.
    calls = search.cv_results_["partial_fit_calls"]
    assert max(calls) == 3 and min(calls) >= 1
    best = search.best_estimator_
    assert best.n_iter_ == calls[search.best_index_]
    assert search.best_params_["learning_rate"] in (1e-3, 1e-2)
    assert search.best_score_ > 0.8
