"""The ``skmnist train`` command."""

import subprocess
import sys

import joblib
import numpy as np
import pytest

from skmnist import cli


def test_train_end_to_end(mnist, mnist_path, tmp_path):
    output = tmp_path / "model.joblib"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "skmnist",
            "train",
            "--data",
            str(mnist_path),
            "--epochs",
            "1",
            "--random-state",
            "0",
            "--verbose",
            "2",
            "--output",
            str(output),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    out = done.stdout
    assert "60000 train samples, 10000 test samples" in out
    assert "hidden_1 (Dense)" in out and "Total params: 669,706" in out
    assert "1/1" in out or "469/469" in out  # the per-epoch progress line
    accuracy = float(out.split("Test accuracy:")[1].split()[0])
    loss = float(out.split("Test loss:")[1].split()[0])

    pipe = joblib.load(output)
    _, (X_test, y_test) = mnist
    assert accuracy == pytest.approx(pipe.score(X_test, y_test), abs=1e-4)
    assert accuracy > 0.95
    assert 0 < loss < 0.3
    # The printed summary comes before training, the progress after it.
    assert out.index("Total params") < out.index("469/469") < out.index("Test accuracy")


def test_console_script_is_installed():
    done = subprocess.run(["skmnist", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    assert "train" in done.stdout


def test_missing_data_is_a_clear_error(tmp_path, capsys):
    status = cli.main(
        [
            "train",
            "--data",
            str(tmp_path / "nowhere.npz"),
            "--output",
            str(tmp_path / "m"),
        ]
    )
    assert status == 1
    err = capsys.readouterr().err
    assert "skmnist train: error:" in err and "nowhere.npz" in err
    assert not (tmp_path / "m").exists()


def test_bad_epochs_are_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--epochs", "0"])
    assert exit_info.value.code == 2
    assert "--epochs: must be a positive integer" in capsys.readouterr().err


def test_saved_model_predicts(mnist, mnist_path, tmp_path):
    output = tmp_path / "model.joblib"
    assert (
        cli.main(
            [
                "train",
                "--data",
                str(mnist_path),
                "--epochs",
                "1",
                "--verbose",
                "0",
                "--random-state",
                "3",
                "--output",
                str(output),
            ]
        )
        == 0
    )
    _, (X_test, y_test) = mnist
    pred = joblib.load(output).predict(X_test[:500])
    assert np.mean(pred == y_test[:500]) > 0.9
