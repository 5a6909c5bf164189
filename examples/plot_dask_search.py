"""
Scaling a search out on Dask
============================

scikit-learn runs the fits of a search through joblib, and joblib can hand
them to a `Dask <https://distributed.dask.org>`_ cluster instead of local
processes: inside ``joblib.parallel_config(backend="dask")``, each fit of a
:class:`~sklearn.model_selection.GridSearchCV` runs as a task on a Dask
worker. skmnist's estimators need nothing special for that: they pickle
without TensorFlow objects, and each worker trains its own networks.

This example starts a small cluster on this machine — two worker processes
with one thread each, listening on 127.0.0.1 only, without a dashboard — runs
a grid search on it, and shuts it down. To run in well under a minute, the
search uses the first **3,000** training images, small networks and **1
epoch**.

On a cluster of several machines, the same code connects to the cluster's
scheduler instead of starting a local one::

    from distributed import Client
    client = Client("tcp://scheduler-host:8786")

(with skmnist installed on every worker, and the data either sent from the
client, as here, or loaded by the workers).
"""

# %%
# The data and the search
# -----------------------

import time

import joblib
import matplotlib.pyplot as plt
import numpy as np
from distributed import Client, LocalCluster
from sklearn.model_selection import GridSearchCV

from skmnist import load_mnist, make_mnist_pipeline

(X_train, y_train), _ = load_mnist()
X, y = X_train[:3000], y_train[:3000]
grid = {
    "classifier__hidden_layer_sizes": [(32,), (128,)],
    "classifier__learning_rate": [1e-3, 1e-2],
}
search = GridSearchCV(make_mnist_pipeline(epochs=1, random_state=0), grid, cv=2)

# %%
# Start a local cluster
# ---------------------
# Dask starts each worker in a new Python process, which imports this
# script's module again. The ``if __name__ == "__main__"`` guard keeps those
# processes from starting clusters of their own when the script is run as
# ``python plot_dask_search.py``.

if __name__ == "__main__":
    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        host="127.0.0.1",
    )
    client = Client(cluster)
    print(client)

# %%
# Search on the cluster
# ---------------------
# Inside ``parallel_config(backend="dask")`` the search sends its 8 fits
# (4 candidates x 2 folds) to the workers, then refits the best candidate.
# The cross-validation scores are the same as those of a local search
# (``tests/test_dask.py`` checks it): each fit is seeded by ``random_state``,
# wherever it runs.

if __name__ == "__main__":
    start = time.perf_counter()
    with joblib.parallel_config(backend="dask"):
        search.fit(X, y)
    print(f"searched in {time.perf_counter() - start:.1f} s on the cluster")
    for params, score in zip(
        search.cv_results_["params"],
        search.cv_results_["mean_test_score"],
        strict=True,
    ):
        print(params, f"accuracy {score:.4f}")
    print("best:", search.best_params_)

# %%
# Each worker process trained networks of its own:

if __name__ == "__main__":

    def trained_here():
        import sys

        return "skmnist.training._keras" in sys.modules

    print(client.run(trained_here))

# %%
# The mean accuracy over the two folds of each candidate:

if __name__ == "__main__":
    scores = search.cv_results_["mean_test_score"].reshape(2, 2)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    labels = [str(size) for size in grid["classifier__hidden_layer_sizes"]]
    for row, rate in enumerate(grid["classifier__learning_rate"]):
        ax.bar(
            np.arange(2) + 0.2 * (2 * row - 1),
            scores[:, row],
            width=0.4,
            label=f"learning_rate={rate}",
        )
    ax.set_xticks(np.arange(2), labels)
    ax.set_xlabel("hidden_layer_sizes")
    ax.set_ylabel("mean accuracy over 2 folds")
    ax.set_ylim(0.5, 1)
    ax.set_title("Grid search on a 2-worker Dask cluster")
    ax.legend(loc="upper left")
    fig.tight_layout()

# %%
# Shut the cluster down
# ---------------------

if __name__ == "__main__":
    client.close()
    cluster.close()
    plt.show()
