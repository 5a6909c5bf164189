"""``skmnist train --report DIR``: figures and a Markdown summary of a run.

The report folder gets three PNG figures — the learning curve, the confusion
matrix on the test set and the test digits the model gets wrong with the most
confidence — and ``report.md``, which shows them next to the test accuracy and
loss, the epochs, the per-epoch training history, the confusion matrix as a
table and the classifier's parameters. Every file is written atomically.

matplotlib is needed (``pip install "skmnist[plot]"``); it is imported only
here, when a report is asked for.
"""

import os
from pathlib import Path

import numpy as np

from .._utils.files import atomic_path

REPORT = "report.md"
LEARNING_CURVE = "learning_curve.png"
CONFUSION_MATRIX = "confusion_matrix.png"
MISCLASSIFIED = "misclassified.png"

_DPI = 100


def check_can_report():
    """Raise ImportError now, before training, if matplotlib is missing."""
    from .._utils.extras import require

    require(("matplotlib",), purpose="--report")


def make_figures(pipeline, X_test, y_test, proba):
    """The report's three figures for a fitted pipeline and its test predictions.

    Returns a dict from file name to ``(figure, data)``: the learning curve's
    loss axes, the confusion matrix display, and the indices of the digits
    shown as the most confident mistakes.
    """
    from ._plotting import (
        _final_step,
        plot_confusion_matrix,
        plot_learning_curve,
        plot_misclassified,
    )

    classes = _final_step(pipeline).classes_
    y_pred = classes[np.argmax(proba, axis=1)]
    loss_ax, _ = plot_learning_curve(pipeline)
    loss_ax.figure.tight_layout()
    display = plot_confusion_matrix(y_test, y_pred, labels=np.union1d(classes, y_test))
    display.figure_.tight_layout()
    mistakes_fig, wrong = plot_misclassified(X_test, y_test, proba, classes)
    return {
        LEARNING_CURVE: (loss_ax.figure, loss_ax),
        CONFUSION_MATRIX: (display.figure_, display),
        MISCLASSIFIED: (mistakes_fig, wrong),
    }


def write_report(
    directory,
    pipeline,
    X_test,
    y_test,
    proba,
    *,
    test_loss,
    model_path=None,
    n_train=None,
    train_seconds=None,
):
    """Write the figures and ``report.md`` to ``directory`` (created if needed).

    Parameters
    ----------
    directory : str or os.PathLike
        The report folder.
    pipeline : Pipeline or MNISTMLPClassifier
        The fitted model.
    X_test : ndarray of shape (n_samples, 28, 28)
        The test images, as given to the model.
    y_test : ndarray of shape (n_samples,)
        Their labels.
    proba : ndarray of shape (n_samples, n_classes)
        The model's ``predict_proba(X_test)``.
    test_loss : float
        The test log-loss, as the command printed it.
    model_path : str or os.PathLike, default=None
        Where the model was saved, linked from the report.
    n_train : int, default=None
        Number of training images.
    train_seconds : float, default=None
        Training time.

    Returns
    -------
    paths : dict of str to pathlib.Path
        ``"report"`` and the figures' file names, mapped to the files written.
    """
    from ._plotting import _final_step, _pyplot

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    plt = _pyplot()
    paths = {}
    figures = make_figures(pipeline, X_test, y_test, proba)
    try:
        for name, (figure, _) in figures.items():
            paths[name] = directory / name
            with atomic_path(paths[name]) as tmp:
                figure.savefig(tmp, format="png", dpi=_DPI)
    finally:
        for figure, _ in figures.values():
            plt.close(figure)

    classifier = _final_step(pipeline)
    text = report_markdown(
        classifier,
        confusion=figures[CONFUSION_MATRIX][1],
        n_mistakes_shown=len(figures[MISCLASSIFIED][1]),
        test_loss=test_loss,
        model_link=_relative_link(model_path, directory),
        n_train=n_train,
        train_seconds=train_seconds,
    )
    paths["report"] = directory / REPORT
    with atomic_path(paths["report"]) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return paths


def report_markdown(
    classifier,
    *,
    confusion,
    n_mistakes_shown,
    test_loss,
    model_link=None,
    n_train=None,
    train_seconds=None,
):
    """The text of ``report.md``."""
    matrix = confusion.confusion_matrix
    labels = [_cell(label) for label in confusion.display_labels]
    n_test, n_correct = int(matrix.sum()), int(np.trace(matrix))
    history = classifier.history_
    lines = ["# skmnist training report", ""]
    if model_link is not None:
        lines += [f"Model: [`{model_link}`]({model_link})", ""]
    lines += [
        "| | |",
        "| --- | --- |",
        f"| Test accuracy | {n_correct / n_test:.4f} "
        f"({n_correct} of {n_test} correct) |",
        f"| Test loss | {test_loss:.4f} |",
        f"| Epochs | {classifier.n_iter_} |",
    ]
    if n_train is not None:
        lines.append(f"| Training samples | {n_train} |")
    lines.append(f"| Test samples | {n_test} |")
    if train_seconds is not None:
        lines.append(f"| Training time | {train_seconds:.1f} s |")

    lines += [
        "",
        "## Learning curve",
        "",
        f"![Training loss per epoch]({LEARNING_CURVE})",
        "",
        "| epoch | " + " | ".join(history) + " |",
        "| ---: |" + " ---: |" * len(history),
    ]
    for epoch, values in enumerate(zip(*history.values(), strict=True), start=1):
        lines.append(f"| {epoch} | " + " | ".join(f"{v:.4f}" for v in values) + " |")

    lines += [
        "",
        "## Confusion matrix",
        "",
        f"![Confusion matrix of the test set]({CONFUSION_MATRIX})",
        "",
        "Rows: true label; columns: predicted label.",
        "",
        "| true \\ predicted | " + " | ".join(labels) + " |",
        "| ---: |" + " ---: |" * len(labels),
    ]
    for label, row in zip(labels, matrix, strict=True):
        lines.append(f"| {label} | " + " | ".join(str(n) for n in row) + " |")

    lines += [
        "",
        "## Most confident mistakes",
        "",
        f"![The {n_mistakes_shown} test digits the model gets wrong with the most "
        f"confidence]({MISCLASSIFIED})",
        "",
        f"{n_test - n_correct} of {n_test} test digits are misclassified; the "
        f"figure shows the {n_mistakes_shown} with the highest predicted "
        "probability, titled true -> predicted (probability).",
        "",
        "## Parameters",
        "",
        "| parameter | value |",
        "| --- | --- |",
    ]
    for name, value in sorted(classifier.get_params().items()):
        lines.append(f"| `{name}` | `{value!r}` |")
    return "\n".join(lines) + "\n"


def _cell(value):
    value = value.item() if isinstance(value, np.generic) else value
    return str(value).replace("|", "\\|")


def _relative_link(path, directory):
    if path is None:
        return None
    try:
        link = os.path.relpath(Path(path).resolve(), Path(directory).resolve())
    except ValueError:  # another drive, on Windows
        link = str(Path(path).resolve())
    return Path(link).as_posix()
