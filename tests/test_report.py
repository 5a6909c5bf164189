"""``skmnist train --report DIR``: the figures and report.md are right."""

import re
import sys

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import confusion_matrix, log_loss

import skmnist
from skmnist import cli, make_mnist_pipeline
from skmnist.apps import _plotting, _report
from skmnist.data import _mnist as _datasets

FIGURES = ("learning_curve.png", "confusion_matrix.png", "misclassified.png")


@pytest.fixture
def small_mnist(mnist, monkeypatch):
    """Make ``skmnist train`` see 3,000 training and 1,000 test images."""
    (X_train, y_train), (X_test, y_test) = mnist
    subset = (X_train[:3000], y_train[:3000]), (X_test[:1000], y_test[:1000])
    calls = []

    def load_subset(path=None):
        calls.append(path)
        return subset

    monkeypatch.setattr(_datasets, "load_mnist", load_subset)
    return subset, calls


def _train(tmp_path, capsys, *extra):
    argv = [
        "train",
        "--epochs",
        "2",
        "--random-state",
        "0",
        "--verbose",
        "0",
        "--output",
        str(tmp_path / "model.skmnist"),
        "--report",
        str(tmp_path / "report"),
        *extra,
    ]
    status = cli.main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def _table_row(text, name):
    match = re.search(rf"^\| {re.escape(name)} \| (.+) \|$", text, re.MULTILINE)
    assert match, f"no {name!r} row in report.md"
    return match.group(1)


def _markdown_table(text, header_start):
    """The rows of the Markdown table whose header starts with header_start."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_report_numbers_and_figures_match_the_saved_model(
    small_mnist, tmp_path, capsys
):
    ((_, _), (X_test, y_test)), _ = small_mnist
    status, out, err = _train(tmp_path, capsys)
    assert status == 0, err
    report_dir = tmp_path / "report"
    assert f"Wrote the report to {report_dir / 'report.md'}" in out
    # Written atomically: only the finished files, no temporary ones.
    assert sorted(p.name for p in report_dir.iterdir()) == sorted(
        [*FIGURES, "report.md"]
    )

    model = skmnist.load(tmp_path / "model.skmnist")
    classifier = model.named_steps["classifier"]
    proba = model.predict_proba(X_test)
    y_pred = model.predict(X_test)
    n_correct = int(np.sum(y_pred == y_test))
    text = (report_dir / "report.md").read_text(encoding="utf-8")

    # The headline numbers are the saved model's, and the ones printed.
    accuracy = _table_row(text, "Test accuracy")
    assert accuracy == f"{n_correct / 1000:.4f} ({n_correct} of 1000 correct)"
    assert f"Test accuracy: {model.score(X_test, y_test):.4f}" in out
    assert accuracy.split()[0] == out.split("Test accuracy:")[1].split()[0]
    loss = log_loss(y_test, proba, labels=classifier.classes_)
    assert _table_row(text, "Test loss") == f"{loss:.4f}"
    assert f"Test loss: {loss:.4f}" in out
    assert _table_row(text, "Epochs") == "2"
    assert _table_row(text, "Training samples") == "3000"
    assert _table_row(text, "Test samples") == "1000"
    assert "Model: [`../model.skmnist`](../model.skmnist)" in text

    # One history row per epoch, with the model's own numbers.
    history = _markdown_table(text, "| epoch |")
    assert [row[0] for row in history] == ["1", "2"]
    keys = [
        cell.strip()
        for cell in text.split("| epoch |")[1].splitlines()[0].split("|")
        if cell.strip()
    ]
    losses = [float(row[1 + keys.index("loss")]) for row in history]
    np.testing.assert_allclose(losses, classifier.loss_curve_, atol=5e-5)

    # The confusion table is the saved model's confusion matrix; its diagonal
    # sums to the number of right predictions.
    rows = _markdown_table(text, "| true \\ predicted |")
    assert [row[0] for row in rows] == [str(d) for d in range(10)]
    matrix = np.array([[int(n) for n in row[1:]] for row in rows])
    np.testing.assert_array_equal(matrix, confusion_matrix(y_test, y_pred))
    assert np.trace(matrix) == n_correct
    assert f"{1000 - n_correct} of 1000 test digits are misclassified" in text

    # Every image the report links exists and is a PNG of the expected size.
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert sorted(links) == sorted(FIGURES)
    sizes = {}
    for name in FIGURES:
        with Image.open(report_dir / name) as image:
            assert image.format == "PNG"
            sizes[name] = image.size
    assert sizes["learning_curve.png"] == (600, 400)
    assert sizes["confusion_matrix.png"] == (640, 560)
    assert sizes["misclassified.png"] == (640, 720)  # a 4 x 4 grid

    # The parameters are the classifier's.
    assert _table_row(text, "`epochs`") == "`2`"
    assert _table_row(text, "`hidden_layer_sizes`") == "`(512, 512)`"
    assert _table_row(text, "`random_state`") == "`0`"


def test_report_figures_show_the_models_numbers(mnist):
    (X_train, y_train), (X_test, y_test) = mnist
    pipe = make_mnist_pipeline(hidden_layer_sizes=(32,), epochs=3, random_state=0).fit(
        X_train[:2000], y_train[:2000]
    )
    X, y = X_test[:500], y_test[:500]
    proba = pipe.predict_proba(X)
    y_pred = pipe.predict(X)
    figures = _report.make_figures(pipe, X, y, proba)
    try:
        # The learning curve has one point per epoch: the training losses.
        _, loss_ax = figures["learning_curve.png"]
        (line,) = loss_ax.get_lines()
        np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3])
        np.testing.assert_array_equal(
            line.get_ydata(), pipe.named_steps["classifier"].loss_curve_
        )

        # The confusion matrix: its diagonal sums to the right predictions.
        _, display = figures["confusion_matrix.png"]
        assert np.trace(display.confusion_matrix) == np.sum(y_pred == y)
        assert display.confusion_matrix.sum() == len(y)
        np.testing.assert_array_equal(
            display.confusion_matrix, confusion_matrix(y, y_pred, labels=range(10))
        )

        # The mistakes shown are wrong, most confident first.
        _, wrong = figures["misclassified.png"]
        assert len(wrong) == min(16, np.sum(y_pred != y))
        assert np.all(y_pred[wrong] != y[wrong])
        confidence = proba.max(axis=1)
        assert np.all(np.diff(confidence[wrong]) <= 0)
        others = np.setdiff1d(np.flatnonzero(y_pred != y), wrong)
        assert confidence[others].max() <= confidence[wrong].min()
    finally:
        for figure, _ in figures.values():
            _plotting._pyplot().close(figure)


def test_report_folder_that_is_a_file_fails_before_training(
    small_mnist, tmp_path, capsys
):
    _, calls = small_mnist
    (tmp_path / "report").write_text("not a folder")
    status, out, err = _train(tmp_path, capsys)
    assert status == 1
    assert err.startswith("skmnist train: error:") and "report" in err
    assert calls == [] and out == ""  # no data loaded, no training
    assert not (tmp_path / "model.skmnist").exists()


def test_report_without_matplotlib_fails_before_training(
    small_mnist, tmp_path, capsys, monkeypatch
):
    _, calls = small_mnist
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    status, out, err = _train(tmp_path, capsys)
    assert status == 1
    assert err == (
        "skmnist train: error: --report needs matplotlib, which is not installed: "
        'pip install "skmnist[plot]" (from a checkout of skmnist: '
        'pip install ".[plot]")\n'
    )
    assert calls == [] and out == ""
    assert not (tmp_path / "report").exists()
    assert not (tmp_path / "model.skmnist").exists()


def test_train_without_report_writes_no_figures(small_mnist, tmp_path, capsys):
    status = cli.main(
        [
            "train",
            "--epochs",
            "1",
            "--verbose",
            "0",
            "--output",
            str(tmp_path / "model.skmnist"),
        ]
    )
    out, _ = capsys.readouterr()
    assert status == 0
    assert "Wrote the report" not in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.skmnist"]
