"""The ``skmnist train`` command."""

import os
import subprocess
import sys

import joblib
import numpy as np
import pytest
from _helpers import without_modules as _without

from skmnist import cli
from skmnist.apps._model_input import is_pickle_path
from skmnist.data import _mnist as _datasets
from skmnist.data._mnist import MNISTUnavailableError


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


@pytest.fixture
def no_mnist(monkeypatch):
    """MNIST must not be loaded: the command fails before that."""

    def load_mnist(path=None):
        pytest.fail("MNIST was loaded before the arguments were checked")

    monkeypatch.setattr(_datasets, "load_mnist", load_mnist)


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--epochs", "0", "--epochs: must be an integer from 1 to 10000, got 0"),
        ("--epochs", "10001", "from 1 to 10000"),
        ("--epochs", "two", "--epochs: must be an integer, got 'two'"),
        ("--batch-size", "0", "--batch-size: must be an integer from 1 to 1048576"),
        ("--batch-size", "3000000000", "from 1 to 1048576, got 3000000000"),
        (
            "--random-state",
            "-1",
            "--random-state: must be an integer from 0 to 4294967295",
        ),
        ("--random-state", str(2**32), "from 0 to 4294967295"),
        ("--random-state", "1.5", "must be an integer, got '1.5'"),
    ],
)
def test_bad_arguments_are_refused_before_mnist_loads(
    no_mnist, capsys, option, value, message
):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", option, value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_extreme_valid_arguments_are_accepted():
    args = cli.build_parser().parse_args(
        ["train", "--random-state", str(2**32 - 1), "--batch-size", "1048576"]
    )
    assert args.random_state == 2**32 - 1 and args.batch_size == 1048576
    assert (
        cli.build_parser().parse_args(["train", "--random-state", "0"]).random_state
        == 0
    )


@pytest.mark.parametrize(
    "where", ["missing folder", "a folder", "a FIFO", "a file's child"]
)
def test_an_unwritable_output_fails_before_mnist_loads(
    no_mnist, tmp_path, capsys, where
):
    (tmp_path / "file").write_text("x")
    os.mkfifo(tmp_path / "fifo")
    output = {
        "missing folder": tmp_path / "no" / "m.skmnist",
        "a folder": tmp_path,
        "a FIFO": tmp_path / "fifo",
        "a file's child": tmp_path / "file" / "m.skmnist",
    }[where]
    status = cli.main(["train", "--output", str(output)])
    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith("skmnist train: error: ") and err.count("\n") == 1
    assert str(output) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "file"]


def test_an_unwritable_report_folder_fails_before_mnist_loads(
    no_mnist, tmp_path, capsys
):
    (tmp_path / "file").write_text("x")
    status = cli.main(
        [
            "train",
            "--output",
            str(tmp_path / "m.skmnist"),
            "--report",
            str(tmp_path / "file"),
        ]
    )
    assert status == 1
    assert "skmnist train: error:" in capsys.readouterr().err


def _raising(exc):
    def load_mnist(path=None):
        raise exc

    return load_mnist


@pytest.mark.parametrize(
    "exc, status",
    [
        (
            MNISTUnavailableError(
                "MNIST is not available: no local copy was found.\n"
                "Tried, in order:\n"
                "  1. the SKMNIST_DATA environment variable: not set\n"
                "  2. the Keras cache: /nowhere does not exist\n"
                "To use a local copy, do one of:\n"
                "  export SKMNIST_DATA=/path/to/mnist.npz\n"
            ),
            1,
        ),
        (ImportError("No module named 'PIL'"), 1),
        (MemoryError(), 1),
        (ValueError("a.npz: not a valid .npz file"), 1),
        (PermissionError(13, "Permission denied", "a.npz"), 1),
        (KeyboardInterrupt(), 130),
    ],
    ids=["unavailable", "import", "memory", "value", "permission", "interrupt"],
)
def test_expected_failures_are_one_line_and_a_status(
    monkeypatch, tmp_path, capsys, exc, status
):
    monkeypatch.setattr(_datasets, "load_mnist", _raising(exc))
    assert cli.main(["train", "--output", str(tmp_path / "m.skmnist")]) == status
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("skmnist train: ")
    assert "Traceback" not in err
    if isinstance(exc, MNISTUnavailableError):
        assert "1. the SKMNIST_DATA environment variable: not set; 2. the Keras" in err
        assert "export SKMNIST_DATA=/path/to/mnist.npz" in err
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def small_mnist(mnist, tmp_path_factory):
    """600 training and 100 test digits of MNIST, as a Keras-style npz."""
    (X_train, y_train), (X_test, y_test) = mnist
    path = tmp_path_factory.mktemp("data") / "small.npz"
    np.savez(
        path,
        x_train=X_train[:600],
        y_train=y_train[:600],
        x_test=X_test[:100],
        y_test=y_test[:100],
    )
    return path


@pytest.mark.parametrize("name", ["m.PKL", "m.Joblib", "m.pickle", "M.SKMNIST", "m"])
def test_output_format_follows_one_case_insensitive_rule(
    small_mnist, tmp_path, capsys, name
):
    """The finding: `train --output m.PKL` wrote the safe format, which
    `predict --model m.PKL` then read with joblib."""
    import skmnist

    output = tmp_path / name
    argv = ["train", "--data", str(small_mnist), "--epochs", "1", "--verbose", "0"]
    assert cli.main([*argv, "--random-state", "0", "--output", str(output)]) == 0
    if is_pickle_path(output):
        model = joblib.load(output)
        with pytest.raises(ValueError, match="pickle or joblib file"):
            skmnist.load(output)
    else:
        model = skmnist.load(output)
    np.save(tmp_path / "x.npy", np.zeros((28, 28)))
    capsys.readouterr()
    predict = ["predict", "--model", str(output), str(tmp_path / "x.npy")]
    if is_pickle_path(output):
        # A pickle is read only when trusted, whatever its suffix's case.
        assert cli.main(predict) == 1
        assert "pass --trust-pickle if you trust it" in capsys.readouterr().err
        predict.append("--trust-pickle")
    assert cli.main(predict) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith(
        f"{tmp_path / 'x.npy'}[0]: {model.predict(np.zeros((1, 28, 28)))[0]} "
    )


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


# -- train never replaces a model file without a word ---------------------------


def test_train_says_when_it_replaces_a_model_file(small_mnist, tmp_path, capsys):
    """The finding: the quick start and `skmnist train` wrote the same file,
    and `evaluate` then scored the quick start's model without a word."""
    output = tmp_path / "mnist_mlp.skmnist"
    argv = ["train", "--data", str(small_mnist), "--epochs", "1", "--verbose", "0"]
    argv += ["--output", str(output), "--random-state"]
    assert cli.main([*argv, "0"]) == 0
    out = capsys.readouterr().out
    assert "exists" not in out and "replacing" not in out
    first = output.read_bytes()

    assert cli.main([*argv, "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{output} exists: the new model will replace it"
    assert lines[-1] == (
        f"Saved the fitted pipeline to {output} (replacing the previous file)"
    )
    assert output.read_bytes() != first  # the model of seed 1


def test_every_option_has_help_and_shows_its_default():
    import argparse

    parser = cli.build_parser()
    (commands,) = (
        a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
    )
    for name, command in commands.choices.items():
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, (name, action.dest)
            if action.default not in (None, False) and name != "serve":
                assert "%(default)s" in action.help or "default" in action.help, (
                    name,
                    action.dest,
                )
    help_text = commands.choices["train"].format_help()
    assert "images per gradient step" in help_text and "(default: 128" in help_text
    assert "a line per epoch (default: 1)" in " ".join(help_text.split())


# -- skmnist sample: a digit to try predict on ------------------------------------


def test_sample_writes_a_test_digit(mnist, small_mnist, tmp_path, capsys):
    from PIL import Image

    _, (X_test, y_test) = mnist
    png = tmp_path / "digit.png"
    assert cli.main(["sample", "--data", str(small_mnist), "--output", str(png)]) == 0
    assert capsys.readouterr().out == (
        f"Wrote {png}: MNIST test digit 0, labelled {y_test[0]}\n"
    )
    with Image.open(png) as image:
        assert image.format == "PNG" and image.mode == "L"
        np.testing.assert_array_equal(np.asarray(image), X_test[0])

    argv = ["sample", "--data", str(small_mnist), "--index", "3"]
    assert cli.main([*argv, "--output", str(tmp_path / "d.jpg")]) == 0
    assert f"test digit 3, labelled {y_test[3]}" in capsys.readouterr().out
    with Image.open(tmp_path / "d.jpg") as image:
        assert image.format == "JPEG"

    npy = tmp_path / "digits.npy"
    assert cli.main([*argv, "--count", "4", "--output", str(npy)]) == 0
    labels = ", ".join(str(label) for label in y_test[3:7])
    assert capsys.readouterr().out == (
        f"Wrote {npy}: MNIST test digits 3 to 6, labelled {labels}\n"
    )
    np.testing.assert_array_equal(np.load(npy), X_test[3:7])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "d.jpg",
        "digit.png",
        "digits.npy",
    ]  # atomic writes: no temporary file left


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--output", "d.png", "--index", "100"], "the test set holds 100 digits"),
        (["--output", "d.png", "--count", "2"], "a picture holds one digit"),
        (["--output", "d.docx"], "Pillow writes no picture format named '.docx'"),
        (["--output", "no/such/folder/d.png"], "No such folder"),
    ],
)
def test_sample_errors(small_mnist, tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["sample", "--data", str(small_mnist), *extra]) == 1
    err = capsys.readouterr().err
    assert err.startswith("skmnist sample: error: ") and err.count("\n") == 1
    assert message in err
    assert list(tmp_path.iterdir()) == []


# -- one error path for every command ------------------------------------------------


def test_an_unexpected_error_is_one_line_unless_asked(monkeypatch, tmp_path, capsys):
    def broken(path=None):
        raise RuntimeError("something nobody expected\nover two lines")

    monkeypatch.setattr(_datasets, "load_mnist", broken)
    argv = ["train", "--output", str(tmp_path / "m.skmnist")]
    assert cli.main(argv) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err == (
        "skmnist train: error: RuntimeError: something nobody expected; over two "
        "lines (unexpected: run again with --traceback to see where it came from)\n"
    )
    with pytest.raises(RuntimeError, match="nobody expected"):
        cli.main([*argv, "--traceback"])


HINT = '(from a checkout of skmnist: pip install ".[{0}]")'


def test_a_missing_extra_names_the_package_and_both_install_commands(
    monkeypatch, tmp_path, capsys
):
    """The finding: `skmnist serve` said "No module named 'anyio'", and the
    other messages only `pip install "skmnist[...]"`, wrong in a checkout."""
    model = tmp_path / "m.skmnist"
    model.write_bytes(b"")
    _without(monkeypatch, "anyio")
    assert cli.main(["serve", "--model", str(model)]) == 1
    assert capsys.readouterr().err == (
        "skmnist serve: error: skmnist serve needs anyio (a dependency of "
        'Starlette), which is not installed: pip install "skmnist[serve]" '
        f"{HINT.format('serve')}\n"
    )

    _without(monkeypatch, "PIL")
    png = tmp_path / "digit.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n")
    assert cli.main(["sample", "--output", str(png)]) == 1
    assert capsys.readouterr().err == (
        "skmnist sample: error: reading pictures needs Pillow, which is not "
        f'installed: pip install "skmnist[images]" {HINT.format("images")}\n'
    )

    _without(monkeypatch, "skl2onnx")
    assert cli.main(["export", "--model", str(model), "--output", "m.onnx"]) == 1
    assert capsys.readouterr().err == (
        "skmnist export: error: exporting to ONNX needs skl2onnx, which is not "
        f'installed: pip install "skmnist[onnx]" {HINT.format("onnx")}\n'
    )
