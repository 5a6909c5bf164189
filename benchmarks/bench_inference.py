"""Benchmark skmnist's inference: import time, latency, load-and-predict.

Measures, as medians over repeated runs:

1. Import time, each in fresh Python processes: ``import sklearn.base``,
   ``import skmnist`` and, for scale, ``import keras``; and the extra cost of
   ``import skmnist`` after ``import sklearn.base`` in the same process.
2. Latency of ``predict`` and ``predict_proba`` for one image and for the
   10,000 MNIST test images, on the float32 rows ``MNISTPreprocessor`` makes:
   skmnist's ``MNISTMLPClassifier`` against scikit-learn's ``MLPClassifier``
   of the same shape (512-512), fitted as its users fit it, on the same
   float32 rows for the same number of epochs (so it keeps float32 weights
   and computes in float32), and the raw Keras model (``model.predict`` and
   a direct ``model(x)`` call); and skmnist's ``MNISTCNNClassifier`` against
   its own network in Keras (``to_keras()``: ``model.predict`` with Keras's
   default batch of 32 and with the whole batch at once, and ``model(x)``).
   The contenders run interleaved in one process, so that their ratios share
   the machine's conditions.
3. Load-and-predict in a fresh process: a fitted pipeline saved with
   ``skmnist.save`` and with ``joblib.dump``, loaded and applied to one image
   by a new Python process (wall-clock time of the whole process, interpreter
   start-up included), against a process that only imports ``sklearn.base``.

Run from the repository root (MNIST from ``--data``, ``$SKMNIST_DATA`` or
``../shared/data/mnist.npz``)::

    python benchmarks/bench_inference.py --json results.json

It trains the tutorial network, scikit-learn's MLP and the default ConvNet
for one epoch each first (about a minute on 2 cores).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from _common import (
    bench_latency,
    default_data_path,
    machine_description,
    ms,
    summarize,
)

# -- fresh processes ----------------------------------------------------------


_IMPORT_CODE = """
import json, sys, time
start = time.perf_counter()
import sklearn.base
base = time.perf_counter() - start
start = time.perf_counter()
import skmnist
extra = time.perf_counter() - start
print(json.dumps({"base": base, "extra": extra}))
"""


def _timed_import(module):
    code = (
        "import time; start = time.perf_counter(); "
        f"import {module}; print(time.perf_counter() - start)"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env
    )
    if done.returncode:
        raise RuntimeError(done.stderr)
    return float(done.stdout.strip().splitlines()[-1])


def bench_imports(runs, with_keras):
    """Import times in fresh processes, interleaved; medians in seconds."""
    times = {"sklearn.base": [], "skmnist": [], "skmnist after sklearn.base": []}
    if with_keras:
        times["keras"] = []
    for _ in range(runs):
        times["sklearn.base"].append(_timed_import("sklearn.base"))
        times["skmnist"].append(_timed_import("skmnist"))
        done = subprocess.run(
            [sys.executable, "-c", _IMPORT_CODE],
            capture_output=True,
            text=True,
            check=True,
        )
        times["skmnist after sklearn.base"].append(json.loads(done.stdout)["extra"])
        if with_keras:
            times["keras"].append(_timed_import("keras"))
    summaries = {name: summarize(values) for name, values in times.items()}
    # Runs i of each case ran back to back: their differences share the
    # machine's conditions better than the medians do.
    for name in ("skmnist", "keras"):
        if name in summaries:
            summaries[name]["paired_difference"] = statistics.median(
                a - b for a, b in zip(times[name], times["sklearn.base"], strict=True)
            )
    return summaries


_LOAD_AND_PREDICT = """
import sys
import numpy as np
path, data = sys.argv[1:3]
if path.endswith(".joblib"):
    import joblib
    model = joblib.load(path)
else:
    import skmnist
    model = skmnist.load(path)
model.predict(np.load(data))
assert "tensorflow" not in sys.modules
"""


def _process_time(args):
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], check=True, capture_output=True)
    return time.perf_counter() - start


def bench_load_and_predict(pipeline, image, runs):
    """Wall time of whole fresh processes, interleaved; medians in seconds."""
    import joblib

    import skmnist

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        skmnist_file = skmnist.save(pipeline, folder / "model.skmnist")
        joblib_file = folder / "model.joblib"
        joblib.dump(pipeline, joblib_file)
        data = folder / "image.npy"
        np.save(data, image)
        commands = {
            "python -c 'import sklearn.base'": ["-c", "import sklearn.base"],
            "load skmnist.save file + predict": [
                "-c",
                _LOAD_AND_PREDICT,
                str(skmnist_file),
                str(data),
            ],
            "load joblib file + predict": [
                "-c",
                _LOAD_AND_PREDICT,
                str(joblib_file),
                str(data),
            ],
        }
        times = {name: [] for name in commands}
        for _ in range(runs):
            for name, args in commands.items():
                times[name].append(_process_time(args))
        base = times["python -c 'import sklearn.base'"]
        paired = {
            name: statistics.median(a / b for a, b in zip(values, base, strict=True))
            for name, values in times.items()
        }
        sizes = {
            "skmnist.save file": skmnist_file.stat().st_size,
            "joblib file": joblib_file.stat().st_size,
        }
    summaries = {name: summarize(values) for name, values in times.items()}
    for name, ratio in paired.items():
        summaries[name]["paired_ratio"] = ratio
    return summaries, sizes


# -- latency in one process ---------------------------------------------------


def fit_models(data_path, epochs):
    """skmnist's two networks and scikit-learn's MLP, trained on the same rows."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline

    from skmnist import (
        MNISTCNNClassifier,
        MNISTMLPClassifier,
        MNISTPreprocessor,
        load_mnist,
    )

    (X_train, y_train), (X_test, y_test) = load_mnist(data_path)
    preprocessor = MNISTPreprocessor().fit(X_train)
    X_train_flat = preprocessor.transform(X_train)
    start = time.perf_counter()
    classifier = MNISTMLPClassifier(epochs=epochs, random_state=0).fit(
        X_train_flat, y_train
    )
    fit_time = time.perf_counter() - start

    # The same shape in scikit-learn, fitted as its users fit it: on the same
    # float32 rows, so it keeps float32 weights and predicts in float32.
    mlp = MLPClassifier(
        hidden_layer_sizes=(512, 512), max_iter=epochs, batch_size=128, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X_train_flat, y_train)
    cnn = MNISTCNNClassifier(epochs=epochs, random_state=0).fit(X_train_flat, y_train)
    pipeline = Pipeline([("preprocess", preprocessor), ("classifier", classifier)])
    return {
        "classifier": classifier,
        "mlp": mlp,
        "cnn": cnn,
        "pipeline": pipeline,
        "X_test_images": X_test,
        "X_test": preprocessor.transform(X_test),
        "y_test": y_test,
        "fit_time": fit_time,
    }


def latency_contenders(models, X):
    classifier, mlp = models["classifier"], models["mlp"]
    keras_model = classifier._keras_model()
    return {
        "skmnist predict_proba": lambda: classifier.predict_proba(X),
        "MLPClassifier predict_proba": lambda: mlp.predict_proba(X),
        "skmnist predict": lambda: classifier.predict(X),
        "MLPClassifier predict": lambda: mlp.predict(X),
        "Keras model.predict": lambda: keras_model.predict(
            X, batch_size=len(X), verbose=0
        ),
        "Keras model(x)": lambda: keras_model(X, training=False),
    }


def cnn_latency_contenders(models, X):
    cnn = models["cnn"]
    keras_model = cnn.to_keras()
    return {
        "skmnist CNN predict_proba": lambda: cnn.predict_proba(X),
        "skmnist CNN predict": lambda: cnn.predict(X),
        "Keras CNN model.predict (batch 32)": lambda: keras_model.predict(X, verbose=0),
        "Keras CNN model.predict (one batch)": lambda: keras_model.predict(
            X, batch_size=len(X), verbose=0
        ),
        "Keras CNN model(x)": lambda: keras_model(X, training=False),
    }


def check_outputs(models):
    X, y = models["X_test"], models["y_test"]
    proba = models["classifier"].predict_proba(X)
    keras = np.asarray(models["classifier"]._keras_model().predict(X, verbose=0))
    cnn_proba = models["cnn"].predict_proba(X)
    cnn_keras = np.asarray(models["cnn"].to_keras().predict(X, verbose=0))
    return {
        "max |skmnist - Keras| (10k test images)": float(np.abs(proba - keras).max()),
        "MLP test accuracy": float(np.mean(models["classifier"].predict(X) == y)),
        "MLPClassifier test accuracy": float(np.mean(models["mlp"].predict(X) == y)),
        "max |skmnist CNN - Keras|": float(np.abs(cnn_proba - cnn_keras).max()),
        "CNN test accuracy": float(np.mean(models["cnn"].predict(X) == y)),
    }


# -- report -------------------------------------------------------------------


def report(results):
    lines = []
    machine = results["machine"]
    lines.append(
        f"Machine: {machine['cpu']}, {machine['usable_cpus']} usable CPUs "
        f"({machine['logical_cpus']} logical), {machine['platform']}, "
        f"BLAS {machine['blas']}"
    )
    lines.append(
        "Versions: "
        + ", ".join(f"{name} {v}" for name, v in machine["versions"].items())
    )
    lines.append(f"Load average at start: {machine['load_average']}")
    lines.append("")

    imports = results["imports"]
    base = imports["sklearn.base"]["median"]
    lines.append(
        "| import (fresh processes) | median s | min s | minus sklearn.base: "
        "difference of medians | median of paired differences |"
    )
    lines.append("| --- | ---: | ---: | ---: | ---: |")
    for name, summary in imports.items():
        if name == "skmnist after sklearn.base":
            difference = paired = f"{summary['median']:+.3f} (in-process)"
        elif name == "sklearn.base":
            difference = paired = ""
        else:
            difference = f"{summary['median'] - base:+.3f}"
            paired = f"{summary['paired_difference']:+.3f}"
        lines.append(
            f"| {name} | {summary['median']:.3f} | {summary['min']:.3f} | "
            f"{difference} | {paired} |"
        )
    lines.append("")

    for size, latency in results["latency"].items():
        convnet = size.startswith("ConvNet")
        peer = "fastest Keras" if convnet else "MLPClassifier"
        lines.append(f"| {size} | median ms | min ms | ratio to {peer}* |")
        lines.append("| --- | ---: | ---: | ---: |")
        fastest_keras = min(
            summary["median"]
            for name, summary in latency.items()
            if name.startswith("Keras")
        )
        for name, summary in latency.items():
            if convnet:
                reference = fastest_keras
            else:
                # Same method for the classifiers; Keras computes probabilities.
                method = (
                    "predict_proba" if name.startswith("Keras") else name.split()[-1]
                )
                reference = latency[f"MLPClassifier {method}"]["median"]
            lines.append(
                f"| {name} | {ms(summary['median'])} | {ms(summary['min'])} | "
                f"{summary['median'] / reference:.2f} |"
            )
        lines.append("")
    lines.append(
        "*ratios of medians measured in the same process, the contenders "
        "interleaved in a new random order each round; for the MLP, Keras rows "
        "are compared with MLPClassifier.predict_proba; for the ConvNet, every "
        "row with the fastest of the Keras calls."
    )
    lines.append("")

    load = results["load_and_predict"]
    base = load["python -c 'import sklearn.base'"]["median"]
    lines.append(
        "| fresh process (wall time, start-up included) | median s | min s | "
        "ratio of medians to import sklearn.base | median of paired ratios |"
    )
    lines.append("| --- | ---: | ---: | ---: | ---: |")
    for name, summary in load.items():
        lines.append(
            f"| {name} | {summary['median']:.3f} | {summary['min']:.3f} | "
            f"{summary['median'] / base:.2f} | {summary['paired_ratio']:.2f} |"
        )
    lines.append("")
    lines.append(
        "File sizes: "
        + ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in results["file_sizes"].items())
    )
    lines.append("")
    lines.append(
        "Checks: "
        + ", ".join(
            f"{k} {v:.2e}" if "max" in k else f"{k} {v:.4f}"
            for k, v in results["checks"].items()
        )
    )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=default_data_path(), metavar="PATH")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=21, help="latency samples")
    parser.add_argument(
        "--min-time", type=float, default=0.05, help="seconds per latency sample"
    )
    parser.add_argument(
        "--process-runs", type=int, default=11, help="fresh processes per case"
    )
    parser.add_argument("--no-keras-import", action="store_true")
    parser.add_argument("--json", metavar="FILE", help="also write the results here")
    args = parser.parse_args(argv)

    results = {
        "machine": machine_description(
            ("numpy", "scikit-learn", "skmnist", "tensorflow", "keras")
        ),
        "command": sys.argv,
    }
    print("Import times...", file=sys.stderr)
    results["imports"] = bench_imports(args.process_runs, not args.no_keras_import)

    print("Training the tutorial network...", file=sys.stderr)
    models = fit_models(args.data, args.epochs)
    results["fit_time"] = models["fit_time"]
    results["checks"] = check_outputs(models)

    print("Latency...", file=sys.stderr)
    X = models["X_test"]
    results["latency"] = {}
    for label, batch in (("1 image", X[:1]), ("10,000 images", X)):
        results["latency"][f"MLP, {label}"] = bench_latency(
            latency_contenders(models, batch), args.repeats, args.min_time
        )
    for label, batch in (("1 image", X[:1]), ("10,000 images", X)):
        results["latency"][f"ConvNet, {label}"] = bench_latency(
            cnn_latency_contenders(models, batch), args.repeats, args.min_time
        )

    print("Load and predict in fresh processes...", file=sys.stderr)
    results["load_and_predict"], results["file_sizes"] = bench_load_and_predict(
        models["pipeline"], models["X_test_images"][:1], args.process_runs
    )
    results["machine"]["load_average_at_end"] = (
        os.getloadavg() if hasattr(os, "getloadavg") else None
    )

    print(report(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
