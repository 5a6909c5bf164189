"""
Learning curves and early stopping
==================================

Train the tutorial network with ``early_stopping=True``: skmnist holds out a
stratified 10% of the training images, scores them after every epoch, stops
once the validation accuracy has not improved by ``tol`` for
``n_iter_no_change`` epochs, and restores the weights of the best epoch. The
figure shows ``loss_curve_`` (training loss, one point per epoch) and
``validation_scores_`` (validation accuracy), with the restored epoch marked.

Needs matplotlib (``pip install "skmnist[plot]"``). Run it with::

    python examples/plot_learning_curves.py --data /path/to/mnist.npz

``--subset 10000`` makes it quicker; the figure in the docs was made on all
60,000 training images.
"""

import argparse
from pathlib import Path

import numpy as np

from skmnist import MNISTMLPClassifier, MNISTPreprocessor, load_mnist


def main(argv=None):
    parser = argparse.ArgumentParser(description="Plot a learning curve.")
    parser.add_argument("--data", metavar="PATH", help="mnist.npz or an IDX folder")
    parser.add_argument("--subset", type=int, default=None, metavar="N")
    parser.add_argument("--output", type=Path, default=Path("learning_curve.png"))
    args = parser.parse_args(argv)

    from skmnist._plotting import _pyplot, plot_learning_curve

    (X_train, y_train), (X_test, y_test) = load_mnist(args.data)
    X_train, y_train = X_train[: args.subset], y_train[: args.subset]
    pre = MNISTPreprocessor().fit(X_train)
    clf = MNISTMLPClassifier(
        early_stopping=True, epochs=30, n_iter_no_change=3, random_state=0
    ).fit(pre.transform(X_train), y_train)

    best = int(np.argmax(clf.validation_scores_)) + 1
    print(
        f"stopped after {clf.n_iter_} epochs; best validation accuracy "
        f"{clf.best_validation_score_:.4f} at epoch {best}"
    )
    accuracy = clf.score(pre.transform(X_test), y_test)
    print(f"test accuracy of the restored model: {accuracy:.4f}")

    loss_ax, _ = plot_learning_curve(clf)
    loss_ax.figure.tight_layout()
    loss_ax.figure.savefig(args.output, dpi=100)
    _pyplot().close(loss_ax.figure)
    print(f"saved {args.output}")


if __name__ == "__main__":
    main()
