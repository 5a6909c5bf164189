"""Figures: learning curve, confusion matrix and the most confident mistakes."""

import matplotlib

matplotlib.use("Agg")

import numpy as np

from skmnist import MNISTMLPClassifier, make_mnist_pipeline
from skmnist.apps._plotting import (
    plot_confusion_matrix,
    plot_learning_curve,
    plot_misclassified,
)


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


def test_confusion_matrix_diagonal_counts_the_right_predictions(mnist):
    (X_train, y_train), (X_test, y_test) = mnist
    pipe = make_mnist_pipeline(hidden_layer_sizes=(16,), epochs=1, random_state=0)
    pipe.fit(X_train[:1000], y_train[:1000])
    y_pred = pipe.predict(X_test[:1000])
    n_correct = int(np.sum(y_pred == y_test[:1000]))
    assert 0 < n_correct < 1000  # some mistakes, so off-diagonal cells count

    display = plot_confusion_matrix(y_test[:1000], y_pred)
    matrix = display.confusion_matrix
    assert matrix.shape == (10, 10)
    assert np.trace(matrix) == n_correct
    assert matrix.sum() == 1000
    # Rows are the true digits, columns the predicted ones.
    np.testing.assert_array_equal(matrix.sum(axis=1), np.bincount(y_test[:1000]))
    np.testing.assert_array_equal(matrix.sum(axis=0), np.bincount(y_pred, minlength=10))
    # The numbers drawn in the cells are the matrix, row by row.
    drawn = np.array([[int(text.get_text()) for text in row] for row in display.text_])
    np.testing.assert_array_equal(drawn, matrix)
    assert display.ax_.get_title() == (
        f"Confusion matrix: {n_correct} of 1000 correct ({n_correct / 1000:.4f})"
    )
    assert display.ax_.get_xlabel() == "predicted digit"
    assert display.ax_.get_ylabel() == "true digit"


def test_confusion_matrix_follows_the_given_labels():
    y_true = np.array(["b", "a", "c", "c"])
    y_pred = np.array(["b", "c", "c", "a"])
    display = plot_confusion_matrix(y_true, y_pred, labels=["c", "b", "a"])
    # Rows and columns in the order given: c, b, a.
    np.testing.assert_array_equal(
        display.confusion_matrix, [[1, 0, 1], [0, 1, 0], [1, 0, 0]]
    )
    ticks = [tick.get_text() for tick in display.ax_.get_xticklabels()]
    assert ticks == ["c", "b", "a"]
    assert display.ax_.get_title() == "Confusion matrix: 2 of 4 correct (0.5000)"
