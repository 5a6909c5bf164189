"""Figures of a fitted model: learning curve, confusion matrix, wrong digits.

matplotlib is imported only when a figure is drawn; it is an optional
dependency (``pip install "skmnist[plot]"``).
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            'Plotting needs matplotlib: pip install "skmnist[plot]"'
        ) from exc
    return plt


def plot_learning_curve(classifier, ax=None):
    """Training loss and, with early stopping, validation accuracy per epoch.

    Parameters
    ----------
    classifier : MNISTMLPClassifier
        A fitted classifier (or a pipeline ending in one).

    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.

    Returns
    -------
    loss_ax : matplotlib Axes
        The axes with the loss curve, one point per epoch.

    score_ax : matplotlib Axes or None
        The twin axes with the validation accuracy, or None without early
        stopping.
    """
    classifier = _final_step(classifier)
    check_is_fitted(classifier)
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    epochs = np.arange(1, len(classifier.loss_curve_) + 1)
    ax.plot(
        epochs, classifier.loss_curve_, "o-", color="tab:blue", label="training loss"
    )
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (cross-entropy)", color="tab:blue")
    ax.set_xticks(epochs)
    right = None
    if classifier.validation_scores_ is not None:
        right = ax.twinx()
        right.plot(
            epochs,
            classifier.validation_scores_,
            "s-",
            color="tab:orange",
            label="validation accuracy",
        )
        best = int(np.argmax(classifier.validation_scores_)) + 1
        right.axvline(best, color="grey", linestyle=":", label=f"best epoch ({best})")
        right.set_ylabel("validation accuracy", color="tab:orange")
        right.legend(loc="center right")
    ax.set_title("Learning curve")
    return ax, right


def plot_misclassified(images, y_true, proba, classes, n=16):
    """The ``n`` test images the model gets wrong with the most confidence.

    Parameters
    ----------
    images : ndarray of shape (n_samples, 28, 28) or (n_samples, 784)
        The images that were classified.

    y_true : ndarray of shape (n_samples,)
        Their true labels.

    proba : ndarray of shape (n_samples, n_classes)
        ``predict_proba`` of the images.

    classes : ndarray of shape (n_classes,)
        The classifier's ``classes_``.

    n : int, default=16
        How many digits to show, at most.

    Returns
    -------
    fig : matplotlib Figure
        A grid of digits titled ``true -> predicted (probability)``.
    wrong : ndarray of int
        Indices of the digits shown, most confident mistake first.
    """
    plt = _pyplot()
    predicted = classes[np.argmax(proba, axis=1)]
    confidence = proba.max(axis=1)
    wrong = np.flatnonzero(predicted != np.asarray(y_true))
    wrong = wrong[np.argsort(-confidence[wrong], kind="stable")][:n]
    side = max(int(np.ceil(np.sqrt(max(len(wrong), 1)))), 1)
    fig, axes = plt.subplots(
        side, side, figsize=(1.6 * side, 1.8 * side), squeeze=False
    )
    images = np.asarray(images)
    size = int(np.sqrt(images[0].size))
    for ax, index in zip(
        axes.flat, list(wrong) + [None] * (side * side - len(wrong)), strict=True
    ):
        ax.axis("off")
        if index is None:
            continue
        ax.imshow(images[index].reshape(size, size), cmap="gray_r")
        ax.set_title(
            f"{y_true[index]} -> {predicted[index]} ({confidence[index]:.2f})",
            fontsize=8,
        )
    fig.suptitle("Most confident mistakes: true -> predicted (probability)")
    fig.tight_layout()
    return fig, wrong


def plot_confusion_matrix(y_true, y_pred, labels=None, ax=None):
    """The confusion matrix of predictions, drawn by ``ConfusionMatrixDisplay``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        The true labels.

    y_pred : array-like of shape (n_samples,)
        The predicted labels.

    labels : array-like of shape (n_classes,), default=None
        The labels of the rows and columns, in order; by default those that
        occur in ``y_true`` or ``y_pred``, sorted.

    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.

    Returns
    -------
    display : sklearn.metrics.ConfusionMatrixDisplay
        Its ``confusion_matrix`` counts the samples of each true label (rows)
        by predicted label (columns), so its diagonal sums to the number of
        correct predictions; ``display.ax_`` and ``display.figure_`` hold the
        drawing.

    Examples
    --------
    >>> from skmnist.apps._plotting import plot_confusion_matrix
    >>> display = plot_confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2])
    >>> int(display.confusion_matrix.trace())
    3
    >>> display.ax_.get_title()
    'Confusion matrix: 3 of 4 correct (0.7500)'
    """
    from sklearn.metrics import ConfusionMatrixDisplay

    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 5.6))
    display = ConfusionMatrixDisplay.from_predictions(
        y_true, y_pred, labels=labels, ax=ax, cmap="Blues", colorbar=False
    )
    n_correct = int(np.trace(display.confusion_matrix))
    n_samples = int(display.confusion_matrix.sum())
    ax.set_title(
        f"Confusion matrix: {n_correct} of {n_samples} correct "
        f"({n_correct / n_samples:.4f})"
    )
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    return display


def _final_step(estimator):
    return estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
