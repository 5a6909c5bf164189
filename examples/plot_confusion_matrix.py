"""
Confusion matrix and the most confident mistakes
================================================

Which digits does the network confuse, and which mistakes is it most sure
of? This example trains the tutorial pipeline, draws the confusion matrix of
the 10,000 test digits with scikit-learn's
:class:`~sklearn.metrics.ConfusionMatrixDisplay`, and shows the test digits
it gets wrong with the highest predicted probability.

To run in a few seconds, the network trains on the first **20,000** training
images for **2 epochs** (the tutorial: 60,000 images, 5 epochs), so it makes
more mistakes than the tutorial's model. ``skmnist train --report DIR`` draws
the same two figures for the model it trains.
"""

# %%
# Train and predict
# -----------------

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import ConfusionMatrixDisplay

from skmnist import load_mnist, make_mnist_pipeline

(X_train, y_train), (X_test, y_test) = load_mnist()
pipeline = make_mnist_pipeline(epochs=2, random_state=0)
pipeline.fit(X_train[:20_000], y_train[:20_000])

proba = pipeline.predict_proba(X_test)
classes = pipeline.classes_
y_pred = classes[np.argmax(proba, axis=1)]
n_correct = int(np.sum(y_pred == y_test))
print(f"test accuracy: {n_correct / len(y_test):.4f} ({n_correct} of {len(y_test)})")

# %%
# The confusion matrix
# --------------------
# Row ``i``, column ``j`` counts the test digits of true label ``i`` that were
# predicted as ``j``: the diagonal holds the right predictions, so it sums to
# the number printed above, and everything off the diagonal is a mistake.

display = ConfusionMatrixDisplay.from_predictions(
    y_test, y_pred, cmap="Blues", colorbar=False
)
display.ax_.set(xlabel="predicted digit", ylabel="true digit")
display.ax_.set_title(f"{n_correct} of {len(y_test)} test digits right")
assert np.trace(display.confusion_matrix) == n_correct

# %%
# The most frequent confusions, read off the matrix:

off_diagonal = display.confusion_matrix * (1 - np.eye(len(classes), dtype=int))
for flat in np.argsort(off_diagonal, axis=None)[::-1][:5]:
    true, predicted = np.unravel_index(flat, off_diagonal.shape)
    print(
        f"{off_diagonal[true, predicted]:3d} test digits {classes[true]} "
        f"predicted as {classes[predicted]}"
    )

# %%
# The most confident mistakes
# ---------------------------
# Among the misclassified test digits, the 15 with the highest predicted
# probability, titled ``true -> predicted (probability)``. Many are digits a
# person would hesitate over too.

confidence = proba.max(axis=1)
wrong = np.flatnonzero(y_pred != y_test)
wrong = wrong[np.argsort(-confidence[wrong], kind="stable")][:15]

fig, axes = plt.subplots(3, 5, figsize=(7.5, 5))
for ax, i in zip(axes.ravel(), wrong, strict=False):  # fewer if few mistakes
    ax.imshow(X_test[i], cmap="gray_r")
    ax.set_title(f"{y_test[i]} -> {y_pred[i]} ({confidence[i]:.2f})", fontsize=9)
for ax in axes.ravel():
    ax.set_axis_off()
fig.suptitle("Most confident mistakes: true -> predicted (probability)")
fig.tight_layout()

plt.show()
