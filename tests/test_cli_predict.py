"""The ``skmnist predict`` and ``skmnist evaluate`` commands."""

import os
import re
import signal
import subprocess
import sys

import joblib
import numpy as np
import pytest
from _helpers import within, without_modules
from PIL import Image

import skmnist
from skmnist import MNISTMLPClassifier, cli, make_mnist_pipeline

LINE = re.compile(r"^(?P<name>.+): (?P<label>\S+) \(probability (?P<p>[0-9.]+)\)$")


@pytest.fixture(scope="module")
def pipeline(mnist):
    (X_train, y_train), _ = mnist
    return make_mnist_pipeline(hidden_layer_sizes=(64,), epochs=2, random_state=0).fit(
        X_train[:6000], y_train[:6000]
    )


@pytest.fixture(scope="module")
def model_files(pipeline, mnist_small, tmp_path_factory):
    """The pipeline in both formats, and a bare classifier on scaled pixels."""
    folder = tmp_path_factory.mktemp("models")
    (X, y), _ = mnist_small
    bare = MNISTMLPClassifier(hidden_layer_sizes=(32,), epochs=1, random_state=0)
    bare.fit(X[:3000], y[:3000])
    joblib.dump(pipeline, folder / "pipe.joblib")
    return {
        "skmnist": skmnist.save(pipeline, folder / "pipe.skmnist"),
        "joblib": folder / "pipe.joblib",
        "bare": skmnist.save(bare, folder / "bare.skmnist"),
        "bare_model": bare,
    }


@pytest.fixture(scope="module")
def confident(pipeline, mnist):
    """Indices of 6 test digits the pipeline classifies right, confidently."""
    _, (X_test, y_test) = mnist
    proba = pipeline.predict_proba(X_test[:300])
    right = (np.argmax(proba, axis=1) == y_test[:300]) & (proba.max(axis=1) > 0.95)
    chosen = np.flatnonzero(right)[:6]
    assert len(chosen) == 6
    return chosen


def _run(argv, capsys):
    status = cli.main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return status, out, err


def _parse(out):
    lines = out.strip().splitlines()
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    return [(m["name"], m["label"], float(m["p"])) for m in parsed]


@pytest.mark.parametrize("fmt", ["skmnist", "joblib"])
def test_predict_png_files(
    model_files, pipeline, mnist, confident, tmp_path, capsys, fmt
):
    _, (X_test, y_test) = mnist
    paths = []
    for i in confident:
        paths.append(tmp_path / f"digit{i}.png")
        Image.fromarray(X_test[i]).save(paths[-1])

    trust = ["--trust-pickle"] if fmt == "joblib" else []
    status, out, err = _run(
        ["predict", "--model", model_files[fmt], *trust, *paths], capsys
    )
    assert status == 0, err
    results = _parse(out)
    expected = pipeline.predict_proba(X_test[confident])
    for (name, label, p), i, proba in zip(results, confident, expected, strict=True):
        assert name == str(tmp_path / f"digit{i}.png")
        assert int(label) == y_test[i]
        assert p == pytest.approx(proba.max(), abs=0.02)  # PNG: same digit, +-1 level


def test_predict_dark_on_light_colour_scans(
    model_files, mnist, confident, tmp_path, capsys
):
    """Black ink on white paper, colour, 12x larger, JPEG: the MNIST way back."""
    _, (X_test, y_test) = mnist
    paths = []
    for i in confident:
        big = Image.fromarray(255 - X_test[i]).resize(
            (336, 336), Image.Resampling.BICUBIC
        )
        paths.append(tmp_path / f"scan{i}.jpg")
        big.convert("RGB").save(paths[-1], quality=90)

    status, out, err = _run(
        ["predict", "--model", model_files["skmnist"], *paths], capsys
    )
    assert status == 0, err
    labels = [int(label) for _, label, _ in _parse(out)]
    np.testing.assert_array_equal(labels, y_test[confident])

    # --invert never leaves them as the model has never seen digits: blank.
    status, out, _ = _run(
        ["predict", "--model", model_files["skmnist"], "--invert", "never", *paths],
        capsys,
    )
    assert status == 0
    assert [int(label) for _, label, _ in _parse(out)] != list(y_test[confident])


def test_predict_npy_arrays(model_files, pipeline, mnist, tmp_path, capsys):
    _, (X_test, _) = mnist
    stack, single = tmp_path / "stack.npy", tmp_path / "single.npy"
    np.save(stack, X_test[:5])
    np.save(single, X_test[5])
    status, out, err = _run(
        ["predict", "--model", model_files["skmnist"], stack, single], capsys
    )
    assert status == 0, err
    results = _parse(out)
    assert [name for name, _, _ in results] == [
        *(f"{stack}[{i}]" for i in range(5)),
        f"{single}[0]",
    ]
    proba = pipeline.predict_proba(X_test[:6])
    np.testing.assert_array_equal(
        [int(label) for _, label, _ in results], np.argmax(proba, axis=1)
    )
    np.testing.assert_allclose([p for _, _, p in results], proba.max(axis=1), atol=5e-5)


def test_predict_with_a_bare_classifier(model_files, mnist, tmp_path, capsys):
    """A classifier trained on scaled pixels gets the images flattened, /255."""
    _, (X_test, _) = mnist
    np.save(tmp_path / "x.npy", X_test[:4])
    status, out, err = _run(
        ["predict", "--model", model_files["bare"], tmp_path / "x.npy"], capsys
    )
    assert status == 0, err
    expected = model_files["bare_model"].predict(X_test[:4].reshape(4, -1) / 255)
    np.testing.assert_array_equal([int(lab) for _, lab, _ in _parse(out)], expected)


def test_predict_prints_string_labels(mnist_small, tmp_path, capsys):
    (X, y), (X_test, _) = mnist_small
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven",
                      "eight", "nine"], dtype=object)  # fmt: skip
    clf = MNISTMLPClassifier(hidden_layer_sizes=(16,), epochs=1, random_state=0)
    clf.fit(X[:2000], names[y[:2000]])
    model = skmnist.save(clf, tmp_path / "names.skmnist")
    np.save(tmp_path / "x.npy", np.rint(X_test[:3] * 255).reshape(3, 28, 28))
    status, out, err = _run(["predict", "--model", model, tmp_path / "x.npy"], capsys)
    assert status == 0, err
    assert [label for _, label, _ in _parse(out)] == list(clf.predict(X_test[:3]))


def test_predict_errors(model_files, tmp_path, capsys):
    png = tmp_path / "d.png"
    Image.new("L", (28, 28)).save(png)

    status, _, err = _run(
        ["predict", "--model", tmp_path / "nope.skmnist", png], capsys
    )
    assert status == 1 and "skmnist predict: error:" in err and "nope.skmnist" in err

    junk = tmp_path / "junk.skmnist"
    junk.write_bytes(b"\x00" * 100)
    status, _, err = _run(["predict", "--model", junk, png], capsys)
    assert status == 1 and "not an skmnist model file" in err

    broken = tmp_path / "broken.joblib"
    broken.write_bytes(b"\x80\x04garbage")
    status, _, err = _run(["predict", "--model", broken, "--trust-pickle", png], capsys)
    assert status == 1 and "cannot load the joblib/pickle file" in err

    text = tmp_path / "notes.png"
    text.write_text("hello")
    status, _, err = _run(["predict", "--model", model_files["skmnist"], text], capsys)
    assert status == 1 and "not an image file" in err

    status, _, err = _run(
        ["predict", "--model", model_files["skmnist"], tmp_path / "missing.png"],
        capsys,
    )
    assert status == 1 and "missing.png" in err

    with pytest.raises(SystemExit) as info:
        _run(
            ["predict", "--model", model_files["skmnist"], "--invert", "x", png], capsys
        )
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        _run(["predict", png], capsys)  # --model is required


def test_predict_answers_the_readable_images_and_reports_the_others(
    model_files, pipeline, mnist, tmp_path, capsys
):
    """The finding: one unreadable file among several suppressed every answer."""
    _, (X_test, _) = mnist
    good = [tmp_path / "a.npy", tmp_path / "b.png", tmp_path / "c.npy"]
    np.save(good[0], X_test[:2])
    Image.fromarray(X_test[2]).save(good[1])
    np.save(good[2], X_test[3])
    notes, missing, empty = (
        tmp_path / "notes.png",
        tmp_path / "gone.png",
        tmp_path / "e.npy",
    )
    notes.write_text("hello")
    empty.write_bytes(b"")
    argv = [good[0], notes, good[1], missing, good[2], empty]
    status, out, err = _run(
        ["predict", "--model", model_files["skmnist"], *argv], capsys
    )
    assert status == 1
    names = [name for name, _, _ in _parse(out)]
    assert names == [f"{good[0]}[0]", f"{good[0]}[1]", str(good[1]), f"{good[2]}[0]"]
    labels = [int(label) for _, label, _ in _parse(out)]
    assert labels[:2] + labels[3:] == list(pipeline.predict(X_test[[0, 1, 3]]))
    lines = err.splitlines()
    assert len(lines) == 3 and all(
        line.startswith("skmnist predict: error: ") for line in lines
    )
    for line, path in zip(lines, [notes, missing, empty], strict=True):
        assert str(path) in line

    # Nothing readable: no answers, status 1.
    status, out, err = _run(
        ["predict", "--model", model_files["skmnist"], notes], capsys
    )
    assert status == 1 and out == "" and err.count("\n") == 1


def test_predict_refuses_a_joblib_model_with_nan_weights(mnist_small, tmp_path, capsys):
    """A trusted joblib file is not checked when loaded; its NaN answers are."""
    (X, y), _ = mnist_small
    clf = MNISTMLPClassifier(hidden_layer_sizes=(8,), epochs=1, random_state=0)
    clf.fit(X[:500], y[:500])
    clf.coefs_[0][:] = np.nan
    joblib.dump(clf, tmp_path / "nan.JOBLIB")
    np.save(tmp_path / "x.npy", np.zeros((28, 28)))
    model = tmp_path / "nan.JOBLIB"
    status, out, err = _run(
        ["predict", "--model", model, "--trust-pickle", tmp_path / "x.npy"], capsys
    )
    assert status == 1 and out == ""
    assert "NaN or infinite probabilities" in err and err.count("\n") == 1


def test_predict_refuses_a_model_that_is_not_a_classifier(tmp_path, capsys):
    from skmnist import MNISTPreprocessor

    model = skmnist.save(
        MNISTPreprocessor().fit(np.zeros((2, 28, 28))), tmp_path / "pre.skmnist"
    )
    np.save(tmp_path / "x.npy", np.zeros((28, 28)))
    status, _, err = _run(["predict", "--model", model, tmp_path / "x.npy"], capsys)
    assert status == 1 and "not a classifier" in err


def test_evaluate(model_files, pipeline, mnist, mnist_path, capsys):
    _, (X_test, y_test) = mnist
    status, out, err = _run(
        ["evaluate", "--model", model_files["skmnist"], "--data", mnist_path], capsys
    )
    assert status == 0, err
    y_pred = pipeline.predict(X_test)
    accuracy = np.mean(y_pred == y_test)
    assert f"Accuracy: {accuracy:.4f}" in out
    assert "Test samples: 10000" in out
    assert re.search(r"precision\s+recall\s+f1-score\s+support", out)

    matrix_text = out.split("Confusion matrix")[1].strip().splitlines()[1:]
    assert matrix_text[0].split() == [str(d) for d in range(10)]
    rows = [list(map(int, line.split())) for line in matrix_text[1:]]
    assert [row[0] for row in rows] == list(range(10))
    matrix = np.array([row[1:] for row in rows])
    assert matrix.shape == (10, 10)
    np.testing.assert_array_equal(matrix.sum(axis=1), np.bincount(y_test))
    assert np.trace(matrix) == np.sum(y_pred == y_test)


def test_evaluate_reports_missing_data(model_files, tmp_path, capsys):
    status, _, err = _run(
        ["evaluate", "--model", model_files["skmnist"], "--data", tmp_path / "no.npz"],
        capsys,
    )
    assert status == 1 and "skmnist evaluate: error:" in err


def test_predict_in_a_fresh_process_needs_no_tensorflow(model_files, mnist, tmp_path):
    _, (X_test, y_test) = mnist
    png = tmp_path / "digit.png"
    Image.fromarray(X_test[0]).save(png)
    code = (
        "import sys\n"
        "from skmnist.cli import main\n"
        "status = main(sys.argv[1:])\n"
        "heavy = [m for m in sys.modules\n"
        "         if m.split('.')[0] in ('tensorflow', 'keras')]\n"
        "print('heavy modules:', heavy)\n"
        "sys.exit(status)\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "predict",
            "--model",
            str(model_files["skmnist"]),
            str(png),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    first, last = done.stdout.strip().splitlines()
    assert first.startswith(f"{png}: {y_test[0]} (probability")
    assert last == "heavy modules: []"

    # The module entry point works too.
    done = subprocess.run(
        [sys.executable, "-m", "skmnist", "predict", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--invert" in done.stdout and "IMAGE" in done.stdout


# -- pickles only when trusted, by every command -------------------------------------


def test_every_command_reads_a_pickle_only_with_trust_pickle(
    model_files, mnist_path, tmp_path, capsys
):
    """The finding: predict and evaluate loaded pickles silently, while serve
    asked for --trust-pickle. Now every command that reads a model asks."""
    joblib_model = model_files["joblib"]
    np.save(tmp_path / "x.npy", np.zeros((28, 28)))
    commands = {
        "predict": ["predict", "--model", joblib_model, tmp_path / "x.npy"],
        "evaluate": ["evaluate", "--model", joblib_model, "--data", mnist_path],
        "export": ["export", "--model", joblib_model, "--output", tmp_path / "m.onnx"],
        "serve": ["serve", "--model", joblib_model, "--port", "0"],
    }
    for name, argv in commands.items():
        status, out, err = _run(argv, capsys)
        assert status == 1 and out == "", name
        assert err == (
            f"skmnist {name}: error: {joblib_model} is a joblib/pickle file, which "
            "runs code when loaded: pass --trust-pickle if you trust it, or "
            "convert it with skmnist.save\n"
        )
    for name in ("predict", "evaluate", "export"):
        status, out, err = _run([*commands[name], "--trust-pickle"], capsys)
        assert status == 0, (name, err)


# -- what the model saw, and when it is unsure ---------------------------------------


def test_save_converted_writes_what_the_model_saw(
    model_files, pipeline, mnist, confident, tmp_path, capsys
):
    _, (X_test, _) = mnist
    i, j = confident[:2]
    paper = tmp_path / "in" / "photo.jpg"
    paper.parent.mkdir()
    big = Image.fromarray(255 - X_test[i]).resize((200, 200), Image.Resampling.BICUBIC)
    big.convert("RGB").save(paper, quality=90)
    other = tmp_path / "other"
    other.mkdir()
    Image.fromarray(X_test[j]).save(other / "photo.png")  # the same stem
    np.save(tmp_path / "pair.npy", X_test[[i, j]])
    seen = tmp_path / "seen"
    argv = ["predict", "--model", model_files["skmnist"], "--save-converted", seen]
    status, out, err = _run(
        [*argv, paper, other / "photo.png", tmp_path / "pair.npy"], capsys
    )
    assert status == 0, err
    answers = _parse(out.rsplit("\n", 2)[0])
    assert out.splitlines()[-1] == f"Saved 4 converted image(s) to {seen}"
    names = ["photo.png", "photo-2.png", "pair-0.png", "pair-1.png"]
    assert sorted(p.name for p in seen.iterdir()) == sorted(names)
    converted = [np.asarray(Image.open(seen / name)) for name in names]
    from skmnist.data._images import read_images

    np.testing.assert_array_equal(converted[0], read_images(paper)[0])
    np.testing.assert_array_equal(converted[1], X_test[j])
    np.testing.assert_array_equal(converted[2:], X_test[[i, j]])
    # They are what the model classified: the same answers from them.
    status, again, _ = _run(
        ["predict", "--model", model_files["skmnist"], *(seen / n for n in names)],
        capsys,
    )
    assert [(label, p) for _, label, p in _parse(again)] == [
        (label, p) for _, label, p in answers
    ]


def test_an_unsure_answer_comes_with_a_warning(
    model_files, confident, mnist, tmp_path, capsys
):
    """A model that spreads its belief (a uniform prior) gets a warning per
    image on stderr; a confident one none."""
    from sklearn.dummy import DummyClassifier

    _, (X_test, _) = mnist
    unsure = tmp_path / "unsure.joblib"
    joblib.dump(
        DummyClassifier(strategy="prior").fit(np.zeros((10, 784)), np.arange(10)),
        unsure,
    )
    np.save(tmp_path / "x.npy", X_test[confident[:2]])
    status, out, err = _run(
        ["predict", "--model", unsure, "--trust-pickle", tmp_path / "x.npy"], capsys
    )
    assert status == 0
    assert [p for _, _, p in _parse(out)] == [0.1, 0.1]
    lines = err.splitlines()
    assert lines == [
        f"skmnist predict: warning: {tmp_path / 'x.npy'}[{k}]: the model is unsure, "
        "its best guess has probability 0.1000 (below 0.5); --save-converted DIR "
        "shows what the model saw"
        for k in range(2)
    ]
    status, out, err = _run(
        ["predict", "--model", model_files["skmnist"], tmp_path / "x.npy"], capsys
    )
    assert status == 0 and err == ""


# -- bounded reading: huge pictures, FIFOs, devices ---------------------------------


def test_a_huge_picture_is_refused_before_it_is_decoded(
    model_files, tmp_path, capsys, monkeypatch
):
    """The finding: a 79 KB PNG of 9000x9000 pixels took 1.5 GB to predict."""
    from PIL import ImageFile

    huge = tmp_path / "huge.png"
    Image.new("L", (9000, 9000), 255).save(huge)
    assert huge.stat().st_size < 200_000

    def no_decoding(self):
        raise AssertionError("the picture was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    status, out, err = _run(
        ["predict", "--model", model_files["skmnist"], huge], capsys
    )
    assert status == 1 and out == ""
    assert err == (
        f"skmnist predict: error: {huge}: 9000x9000 pixels, more than the limit of "
        "50000000\n"
    )
    small = tmp_path / "small.png"
    Image.new("L", (120, 100), 255).save(small)
    argv = ["predict", "--model", model_files["skmnist"], "--max-pixels", "11999"]
    status, _, err = _run([*argv, small], capsys)
    assert status == 1 and "120x100 pixels, more than the limit of 11999" in err


def test_fifos_and_devices_are_refused_without_blocking(model_files, tmp_path, capsys):
    """The finding: a FIFO as the picture, as evaluate's --data or as a
    `.joblib` model made the command wait for a writer until killed."""
    for name in ("digit.png", "digits.npy", "mnist.npz", "m.joblib"):
        os.mkfifo(tmp_path / name)
    np.save(tmp_path / "x.npy", np.zeros((28, 28)))
    good, trust, x = model_files["skmnist"], ["--trust-pickle"], tmp_path / "x.npy"
    cases = [
        (["predict", "--model", good, tmp_path / "digit.png"], "digit.png"),
        (["predict", "--model", good, tmp_path / "digits.npy"], "digits.npy"),
        (["predict", "--model", good, "/dev/zero"], "/dev/zero"),
        (["evaluate", "--model", good, "--data", tmp_path / "mnist.npz"], "mnist.npz"),
        (["predict", "--model", tmp_path / "m.joblib", *trust, x], "m.joblib"),
    ]
    for argv, name in cases:
        with within(20):
            status, out, err = _run(argv, capsys)
        assert status == 1 and out == "", argv
        assert err.count("\n") == 1 and name in err, err
        assert "not a regular file but a " in err, err


# -- export: one line, whatever skl2onnx raises ------------------------------------


def test_export_of_a_step_onnx_cannot_convert_is_one_line(
    mnist_small, tmp_path, capsys
):
    """The finding: a pipeline holding FunctionTransformer(np.sqrt) printed
    skl2onnx's traceback."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    (X, y), _ = mnist_small
    clf = MNISTMLPClassifier(hidden_layer_sizes=(8,), epochs=1, random_state=0)
    model = make_pipeline(FunctionTransformer(np.sqrt), clf).fit(X[:300], y[:300])
    path = tmp_path / "sqrt.joblib"
    joblib.dump(model, path)
    output = tmp_path / "sqrt.onnx"
    argv = ["export", "--model", path, "--trust-pickle", "--output", output]
    status, out, err = _run(argv, capsys)
    assert status == 1 and out == ""
    assert err.startswith(
        f"skmnist export: error: {path}: cannot convert the model to ONNX ("
    )
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not output.exists()


def test_without_pillow_predict_says_so_once(
    model_files, tmp_path, capsys, monkeypatch
):
    pictures = [tmp_path / "a.png", tmp_path / "b.png"]
    for path in pictures:
        Image.new("L", (28, 28)).save(path)
    without_modules(monkeypatch, "PIL")
    status, out, err = _run(
        ["predict", "--model", model_files["skmnist"], *pictures], capsys
    )
    assert status == 1 and out == ""
    assert err == (
        "skmnist predict: error: reading pictures needs Pillow, which is not "
        'installed: pip install "skmnist[images]" (from a checkout of skmnist: '
        'pip install ".[images]")\n'
    )


def test_a_reader_that_stops_reading_stops_the_command_quietly(
    model_files, mnist, tmp_path
):
    """`skmnist predict ... | head -1`: the command stops with SIGPIPE's status
    and no error line. (Found: "skmnist evaluate: error: [Errno 32] Broken
    pipe" after `skmnist evaluate ... | head -3`.)"""
    _, (X_test, _) = mnist
    np.save(tmp_path / "digits.npy", X_test[:2000])
    command = [
        sys.executable,
        "-m",
        "skmnist",
        "predict",
        "--model",
        str(model_files["skmnist"]),
        str(tmp_path / "digits.npy"),
    ]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        first = process.stdout.readline()
        process.stdout.close()  # as head does, after its lines
        errors = process.stderr.read().decode()
        status = process.wait(timeout=120)
    assert first.startswith(f"{tmp_path / 'digits.npy'}[0]: ".encode())
    assert status == 128 + signal.SIGPIPE, errors
    assert "error" not in errors and "Traceback" not in errors, errors
