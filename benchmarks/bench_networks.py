"""Benchmark NumPy prediction of NetworkClassifier networks against Keras.

For LeNet-5 and the small residual network (``skmnist.networks.lenet5()``,
``residual_network()``), trained on MNIST for ``--epochs`` epochs, it times
``predict_proba`` on the float32 rows ``MNISTPreprocessor`` makes, for one
image and for the 10,000 test images, against the same network in Keras
(``to_keras()``): ``model.predict`` as a Keras user calls it (its default
batch of 32), ``model.predict`` on the whole batch at once, and a direct
``model(x)`` call. The contenders run interleaved in one process, in a new
random order each round, so that their ratios share the machine's
conditions; medians over ``--repeats`` rounds. It also checks that the
probabilities agree.

Goals (issue "Layers as the unit"): at most 2 ms for one image, and at most
1.25 times ``model.predict`` on the 10,000 test images.

Run from the repository root (MNIST from ``--data`` or ``$SKMNIST_DATA``)::

    python benchmarks/bench_networks.py --json results.json
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from _common import bench_latency, default_data_path, machine_description, ms


def fit_networks(data_path, epochs, train_rows):
    import skmnist
    from skmnist.networks import lenet5, residual_network

    (X_train, y_train), (X_test, y_test) = skmnist.load_mnist(data_path)
    preprocessor = skmnist.MNISTPreprocessor().fit(X_train)
    X, T = preprocessor.transform(X_train[:train_rows]), preprocessor.transform(X_test)
    networks = {}
    for name, layers in (("LeNet-5", lenet5()), ("ResNet", residual_network())):
        start = time.perf_counter()
        clf = skmnist.NetworkClassifier(
            layers=layers,
            epochs=epochs,
            learning_rate_schedule="cosine",
            random_state=0,
        ).fit(X, y_train[:train_rows])
        networks[name] = {
            "classifier": clf,
            "fit_seconds": time.perf_counter() - start,
            "accuracy": float(clf.score(T, y_test)),
        }
    return networks, T


def contenders(clf, X):
    model = clf.to_keras()
    return {
        "skmnist predict_proba": lambda: clf.predict_proba(X),
        "Keras model.predict (batch 32)": lambda: model.predict(X, verbose=0),
        "Keras model.predict (one batch)": lambda: model.predict(
            X, batch_size=len(X), verbose=0
        ),
        "Keras model(x)": lambda: model(X, training=False),
    }


def report(results):
    machine = results["machine"]
    lines = [
        f"Machine: {machine['cpu']}, {machine['usable_cpus']} usable CPUs, "
        f"BLAS {machine['blas']}, load average at start {machine['load_average']}",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in machine["versions"].items()),
        "",
    ]
    for name, network in results["networks"].items():
        lines.append(
            f"{name}: test accuracy {network['accuracy']:.4f} after "
            f"{results['epochs']} epoch(s) on {results['train_rows']} images; max "
            f"|skmnist - Keras| {network['max_difference']:.1e}"
        )
        for size, latency in network["latency"].items():
            reference = latency["Keras model.predict (batch 32)"]["median"]
            lines.append(
                f"| {name}, {size} | median ms | min ms | ratio to model.predict* |"
            )
            lines.append("| --- | ---: | ---: | ---: |")
            for contender, summary in latency.items():
                lines.append(
                    f"| {contender} | {ms(summary['median'])} | "
                    f"{ms(summary['min'])} | {summary['median'] / reference:.2f} |"
                )
            lines.append("")
    lines.append(
        "*ratio of medians to Keras's model.predict with its default batch of 32, "
        "measured in the same process, interleaved."
    )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=default_data_path(), metavar="PATH")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--train-rows", type=int, default=60_000)
    parser.add_argument("--repeats", type=int, default=11, help="latency samples")
    parser.add_argument(
        "--min-time", type=float, default=0.05, help="seconds per latency sample"
    )
    parser.add_argument("--json", metavar="FILE", help="also write the results here")
    args = parser.parse_args(argv)

    results = {
        "machine": machine_description(
            ("numpy", "scikit-learn", "skmnist", "tensorflow", "keras")
        ),
        "command": sys.argv,
        "epochs": args.epochs,
        "train_rows": args.train_rows,
        "networks": {},
    }
    print("Training...", file=sys.stderr)
    networks, X_test = fit_networks(args.data, args.epochs, args.train_rows)
    for name, network in networks.items():
        clf = network.pop("classifier")
        keras_proba = np.asarray(clf.to_keras().predict(X_test, verbose=0))
        network["max_difference"] = float(
            np.abs(clf.predict_proba(X_test) - keras_proba).max()
        )
        print(f"Latency of {name}...", file=sys.stderr)
        network["latency"] = {
            size: bench_latency(contenders(clf, batch), args.repeats, args.min_time)
            for size, batch in (("1 image", X_test[:1]), ("10,000 images", X_test))
        }
        results["networks"][name] = network
    results["machine"]["load_average_at_end"] = os.getloadavg()
    print(report(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
