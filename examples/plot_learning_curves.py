"""
Learning curves and early stopping
==================================

Train the tutorial network with ``early_stopping=True``: skmnist holds out a
stratified 10% of the training images, scores them after every epoch, stops
once the validation accuracy has not improved by ``tol`` for
``n_iter_no_change`` epochs, and restores the weights of the best epoch. The
figures show ``loss_curve_`` (training loss, one point per epoch),
``validation_scores_`` (validation accuracy) and the per-epoch ``history_``,
with the restored epoch marked.

To run in a few seconds, this page trains on the first **10,000** training
images only (9,000 to train on, 1,000 held out). From the command line the
default is the same; ``--subset 60000`` trains on all of them, as for the
figure in the training guide::

    python examples/plot_learning_curves.py --subset 60000 --output learning_curve.png

Needs matplotlib (``pip install "skmnist[plot]"``).
"""

# %%
# Options
# -------

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from skmnist import MNISTMLPClassifier, MNISTPreprocessor, load_mnist
from skmnist.apps._plotting import plot_learning_curve

parser = argparse.ArgumentParser(description="Plot learning curves.")
parser.add_argument("--data", metavar="PATH", help="mnist.npz or an IDX folder")
parser.add_argument("--subset", type=int, default=10_000, metavar="N")
parser.add_argument("--output", type=Path, default=None, metavar="PNG")
args, _ = parser.parse_known_args()

# %%
# Train with early stopping
# -------------------------
# ``epochs=30`` is only an upper bound: training stops once the validation
# accuracy has gone more than ``n_iter_no_change=3`` epochs without improving
# by ``tol`` (scikit-learn's rule), that is four epochs after its best.

(X_train, y_train), (X_test, y_test) = load_mnist(args.data)
X_train, y_train = X_train[: args.subset], y_train[: args.subset]
pre = MNISTPreprocessor().fit(X_train)
clf = MNISTMLPClassifier(
    early_stopping=True, epochs=30, n_iter_no_change=3, random_state=0
).fit(pre.transform(X_train), y_train)

best = int(np.argmax(clf.validation_scores_)) + 1
print(f"trained on {len(X_train)} images")
print(
    f"stopped after {clf.n_iter_} epochs; best validation accuracy "
    f"{clf.best_validation_score_:.4f} at epoch {best}"
)
accuracy = clf.score(pre.transform(X_test), y_test)
print(f"test accuracy of the restored model: {accuracy:.4f}")

# %%
# The learning curve
# ------------------
# Training loss (left axis) and validation accuracy (right axis) after each
# epoch; the dotted line marks the best epoch, whose weights the model keeps.

loss_ax, _ = plot_learning_curve(clf)
loss_ax.figure.tight_layout()
if args.output is not None:
    loss_ax.figure.savefig(args.output, dpi=100)
    print(f"saved {args.output}")

# %%
# Training against validation
# ---------------------------
# ``history_`` holds the per-epoch metrics, as Keras records them. The
# training loss keeps falling, while the validation loss stops improving after
# a few epochs: from then on the network fits the training images more closely
# than it generalises, which is what early stopping guards against. (As in
# Keras, an epoch's training loss and accuracy are measured during the epoch,
# with dropout active and the weights still changing, which is why in the
# first epochs the training accuracy is below the validation accuracy.)

epochs = np.arange(1, clf.n_iter_ + 1)
fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.6))
ax_loss.plot(epochs, clf.history_["loss"], "o-", label="training")
ax_loss.plot(epochs, clf.history_["val_loss"], "s-", label="validation")
ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="Loss")
ax_acc.plot(epochs, clf.history_["accuracy"], "o-", label="training")
ax_acc.plot(epochs, clf.history_["val_accuracy"], "s-", label="validation")
ax_acc.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
for ax in (ax_loss, ax_acc):
    ax.axvline(best, color="grey", linestyle=":")
    ax.set_xticks(epochs)
    ax.legend()
fig.tight_layout()

plt.show()
