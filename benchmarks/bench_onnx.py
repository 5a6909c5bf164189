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
import sys
from pathlib import Path

import numpy as np
from _common import bench_latency, default_data_path, machine_description, ms


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


def run(args):
    import onnxruntime

    import skmnist

    pipelines, X_test = fit_pipelines(args.data, args.networks, args.train_rows)
    results = {
        "machine": machine_description(
            ("numpy", "scikit-learn", "onnxruntime", "onnx", "skl2onnx", "skmnist")
        ),
        "networks": {},
    }
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
                f"| {name} | {size} | {ms(numpy_time)} | {ms(onnx_time)} | "
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
