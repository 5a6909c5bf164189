"""
Grid search over a pipeline
===========================

:func:`~skmnist.make_mnist_pipeline` returns an ordinary scikit-learn
:class:`~sklearn.pipeline.Pipeline`, so :class:`~sklearn.model_selection.GridSearchCV`
tunes the network like any other estimator: parameters of the classifier are
named ``classifier__<name>``, an integer ``cv`` means stratified folds (the
pipeline is a classifier), and every candidate trains new networks.

This search compares three network sizes and two learning rates with 3-fold
cross-validation: 18 networks, plus one refit on all the data. To run in
well under a minute on 2 CPU cores, it searches on the first **6,000**
training images with **2 epochs** per network; the best candidate is then
scored on all 10,000 test images.
"""

# %%
# The search
# ----------

import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GridSearchCV

from skmnist import load_mnist, make_mnist_pipeline

(X_train, y_train), (X_test, y_test) = load_mnist()
X, y = X_train[:6000], y_train[:6000]

sizes = [(64,), (256,), (512, 512)]
learning_rates = [1e-3, 3e-3]
search = GridSearchCV(
    make_mnist_pipeline(epochs=2, random_state=0),
    {
        "classifier__hidden_layer_sizes": sizes,
        "classifier__learning_rate": learning_rates,
    },
    cv=3,
)
start = time.perf_counter()
search.fit(X, y)
print(
    f"searched {len(search.cv_results_['params'])} candidates x 3 folds in "
    f"{time.perf_counter() - start:.1f} s"
)

# %%
# The results
# -----------
# ``cv_results_`` holds each candidate's mean and standard deviation of the
# accuracy over the three validation folds.

results = search.cv_results_
for params, mean, std in zip(
    results["params"],
    results["mean_test_score"],
    results["std_test_score"],
    strict=True,
):
    print(
        f"hidden_layer_sizes={params['classifier__hidden_layer_sizes']!s:11} "
        f"learning_rate={params['classifier__learning_rate']:<6} "
        f"accuracy {mean:.4f} +/- {std:.4f}"
    )
print("best:", search.best_params_)
print(
    f"test accuracy of the refitted best pipeline: {search.score(X_test, y_test):.4f}"
)

# %%
# The mean cross-validated accuracy of each candidate, with one standard
# deviation as error bars; the best candidate is circled.

fig, ax = plt.subplots(figsize=(6, 4))
positions = np.arange(len(sizes))
for offset, rate in zip((-0.05, 0.05), learning_rates, strict=True):
    chosen = [
        i
        for i, params in enumerate(results["params"])
        if params["classifier__learning_rate"] == rate
    ]
    chosen.sort(
        key=lambda i: sizes.index(
            results["params"][i]["classifier__hidden_layer_sizes"]
        )
    )
    ax.errorbar(
        positions + offset,
        results["mean_test_score"][chosen],
        yerr=results["std_test_score"][chosen],
        marker="o",
        capsize=4,
        label=f"learning_rate={rate}",
    )
best_params = search.best_params_
best_x = sizes.index(best_params["classifier__hidden_layer_sizes"]) + (
    -0.05 if best_params["classifier__learning_rate"] == learning_rates[0] else 0.05
)
ax.plot(best_x, search.best_score_, "o", markersize=16, fillstyle="none", color="k")
ax.set_xticks(positions, [str(size) for size in sizes])
ax.set_xlabel("hidden_layer_sizes")
ax.set_ylabel("mean accuracy over 3 folds")
ax.set_title("Grid search: 6,000 images, 2 epochs per network")
ax.legend()
fig.tight_layout()

plt.show()
