"""Figures: learning curve and the most confident mistakes."""

import matplotlib

matplotlib.use("Agg")

import numpy as np

from skmnist import MNISTMLPClassifier, make_mnist_pipeline
from skmnist._plotting import plot_learning_curve, plot_misclassified


def test_learning_curve_has_one_point_per_epoch(mnist_small):
    (X, y), _ = mnist_small
    clf = MNISTMLPClassifier(
        hidden_layer_sizes=(32,), epochs=4, early_stopping=True, random_state=0
    ).fit(X, y)
    loss_ax, score_ax = plot_learning_curve(clf)
    (loss_line,) = loss_ax.get_lines()
    np.testing.assert_array_equal(loss_line.get_xdata(), np.arange(1, clf.n_iter_ + 1))
    np.testing.assert_array_equal(loss_line.get_ydata(), clf.loss_curve_)
    score_line = score_ax.get_lines()[0]
    np.testing.assert_array_equal(score_line.get_ydata(), clf.validation_scores_)


def test_learning_curve_without_validation(mnist):
    (X, y), _ = mnist
    pipe = make_mnist_pipeline(hidden_layer_sizes=(16,), epochs=2, random_state=0)
    pipe.fit(X[:1000], y[:1000])
    loss_ax, score_ax = plot_learning_curve(pipe)
    assert score_ax is None
    assert len(loss_ax.get_lines()[0].get_xdata()) == 2


def test_misclassified_shows_the_most_confident_mistakes():
    images = np.zeros((5, 28, 28))
    y_true = np.array([0, 1, 1, 0, 1])
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.4, 0.6], [0.3, 0.7], [0.6, 0.4]])
    fig, wrong = plot_misclassified(images, y_true, proba, np.array([0, 1]))
    # Rows 1, 3 and 4 are wrong; most confident first: 0.8, 0.7, 0.6.
    assert wrong.tolist() == [1, 3, 4]
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["1 -> 0 (0.80)", "0 -> 1 (0.70)", "1 -> 0 (0.60)"]
