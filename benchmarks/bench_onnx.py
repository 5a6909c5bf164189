"""Benchmark onnxruntime on exported skmnist models against skmnist's NumPy.

For each network (the tutorial MLP, 784-512-512-10, and the ConvNet with its
default layers), a pipeline ``MNISTPreprocessor -> classifier`` is fitted
for one epoch on the first ``--train-rows`` training images (the weights'
values do not change the time a forward pass takes), exported with
``skmnist.to_onnx(pipeline, options={"zipmap": False})`` and timed, on the
raw uint8 test images, as:

- ``skmnist predict_proba``: the pipeline's own NumPy inference;
- ``onnxruntime``: ``InferenceSession.run`` of the exported model on the CPU
  (probabilities as a plain tensor; ZipMap's list of dicts would time the
  conversion to Python objects instead).

for one image and for the 10,000 test images. Both contenders run in the
same process, interleaved in a new random order each round; each sample
repeats a call for at least ``--min-time`` seconds; the table shows medians.
The script also checks the outputs it timed: equal labels and the largest
difference of the probabilities.

Run from the repository root (MNIST from ``--data``, ``$SKMNIST_DATA`` or
``../shared/data/mnist.npz``)::

    python benchmarks/bench_onnx.py --json onnx.json

Needs the ``onnx`` extra (skl2onnx, onnx, onnxruntime).
"""

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]


def default_data_path():
    env = os.environ.get("SKMNIST_DATA")
    if env:
        return env
    shared = REPO_ROOT.parent / "shared" / "data" / "mnist.npz"
    return str(shared) if shared.exists() else None


def machine_description():
    from importlib.metadata import version

    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(
                line.split(":", 1)[1].strip()
                for line in f
                if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    names = ("numpy", "scikit-learn", "onnxruntime", "onnx", "skl2onnx", "skmnist")
    return {
        "cpu": cpu,
        "usable_cpus": len(os.sched_getaffinity(0)),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
        "versions": {name: version(name) for name in names},
    }


def fit_pipelines(data_path, networks, train_rows):
    from sklearn.pipeline import Pipeline

    import skmnist

    (X_train, y_train), (X_test, _) = skmnist.load_mnist(data_path)
    classifiers = {
        "MLP": lambda: skmnist.MNISTMLPClassifier(epochs=1, random_state=0),
        "ConvNet": lambda: skmnist.MNISTCNNClassifier(epochs=1, random_state=0),
    }
    pipelines = {}
    for name in networks:
        pipe = Pipeline(
            [
                ("preprocess", skmnist.MNISTPreprocessor()),
                ("classifier", classifiers[name]().set_params(verbose=0)),
            ]
        )
        pipelines[name] = pipe.fit(X_train[:train_rows], y_train[:train_rows])
    return pipelines, X_test


def _calls_per_sample(function, min_time):
    """How many calls make one timing sample last at least ``min_time``."""
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            function()
        if time.perf_counter() - start >= min_time or number >= 10_000:
            return number
        number *= 2


def bench_latency(contenders, repeats, min_time):
    """Median seconds per call of each contender, sampled in shuffled rounds."""
    numbers = {}
    for name, function in contenders.items():
        function()  # warm up
        numbers[name] = _calls_per_sample(function, min_time)
    samples = {name: [] for name in contenders}
    order = list(contenders)
    shuffler = random.Random(0)
    for _ in range(repeats):
        shuffler.shuffle(order)
        for name in order:
            function, number = contenders[name], numbers[name]
            start = time.perf_counter()
            for _ in range(number):
                function()
            samples[name].append((time.perf_counter() - start) / number)
    return {
        name: {
            "median": statistics.median(values),
            "min": min(values),
            "max": max(values),
            "runs": len(values),
        }
        for name, values in samples.items()
    }


def run(args):
    import onnxruntime

    import skmnist

    pipelines, X_test = fit_pipelines(args.data, args.networks, args.train_rows)
    results = {"machine": machine_description(), "networks": {}}
    for name, pipe in pipelines.items():
        session = onnxruntime.InferenceSession(
            skmnist.to_onnx(pipe, options={"zipmap": False}).SerializeToString(),
            providers=["CPUExecutionProvider"],
        )
        label, proba = session.run(None, {"X": X_test})
        checks = {
            "labels equal": bool(np.array_equal(label, pipe.predict(X_test))),
            "max |onnxruntime - predict_proba|": float(
                np.abs(proba - pipe.predict_proba(X_test)).max()
            ),
        }
        latency = {}
        for size, X in (("1 image", X_test[:1]), ("10,000 images", X_test)):
            contenders = {
                "skmnist predict_proba": lambda X=X, pipe=pipe: pipe.predict_proba(X),
                "onnxruntime": lambda X=X, session=session: session.run(
                    ["probabilities"], {"X": X}
                ),
            }
            latency[size] = bench_latency(contenders, args.repeats, args.min_time)
        results["networks"][name] = {"checks": checks, "latency": latency}
    return results


def _ms(seconds):
    return f"{seconds * 1000:.3f}" if seconds < 0.01 else f"{seconds * 1000:.1f}"


def report(results):
    machine = results["machine"]
    lines = [
        f"Machine: {machine['cpu']}, {machine['usable_cpus']} usable CPUs, "
        f"{machine['platform']}, Python {machine['python']}",
        "Versions: "
        + ", ".join(f"{name} {v}" for name, v in machine["versions"].items()),
        f"Load average at start: {machine['load_average']}",
        "",
        "| network | batch | skmnist `predict_proba` median ms | onnxruntime "
        "median ms | onnxruntime / skmnist |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for name, network in results["networks"].items():
        for size, latency in network["latency"].items():
            numpy_time = latency["skmnist predict_proba"]["median"]
            onnx_time = latency["onnxruntime"]["median"]
            lines.append(
                f"| {name} | {size} | {_ms(numpy_time)} | {_ms(onnx_time)} | "
                f"{onnx_time / numpy_time:.2f} |"
            )
    lines.append("")
    for name, network in results["networks"].items():
        checks = ", ".join(f"{k}: {v}" for k, v in network["checks"].items())
        lines.append(f"{name} (10,000 test images): {checks}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=default_data_path())
    parser.add_argument(
        "--networks", nargs="+", choices=("MLP", "ConvNet"), default=["MLP", "ConvNet"]
    )
    parser.add_argument("--train-rows", type=int, default=6000)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--min-time", type=float, default=0.05)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    results = run(args)
    results["command"] = " ".join(["python", *sys.argv])
    print(report(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
