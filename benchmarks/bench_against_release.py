"""This checkout's NumPy prediction against another version's, on the same machine.

For a regression check across a change: each network (``--networks``, the
registered names both versions know) is trained by each version in its own
fresh Python process, alternating between the versions within each repeat
(so that a slow spell of a noisy machine hits both), on the first
``--train-rows`` MNIST training images for one epoch with ``random_state=0``;
then the process times ``predict_proba`` on the 10,000 test images (the
float32 rows of ``MNISTPreprocessor``) and, as the reference measured in the
same process, Keras's ``model.predict`` of the network's ``to_keras()``
model. The other version is a checkout of skmnist (for example a ``git
worktree`` of an earlier commit), put first on ``PYTHONPATH``; it needs
the networks' ``to_keras()``::

    git worktree add /tmp/skmnist-old COMMIT
    python benchmarks/bench_against_release.py --against /tmp/skmnist-old \\
        --data /path/to/mnist.npz --repeats 4

It prints each run and a table of medians: seconds for skmnist's
``predict_proba``, for Keras's ``model.predict``, their ratio, and this
checkout's time over the other version's.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from _common import default_data_path

_RUN = """
import json, statistics, sys, time
import numpy as np
import skmnist
from skmnist import load_mnist, make_mnist_pipeline
network, data = sys.argv[1], sys.argv[2]
rows, calls = int(sys.argv[3]), int(sys.argv[4])
(X, y), (X_test, _) = load_mnist(data)
pipeline = make_mnist_pipeline(network, epochs=1, random_state=0)
pipeline.fit(X[:rows], y[:rows])
classifier, Z = pipeline[-1], pipeline[0].transform(X_test)
keras_model = classifier.to_keras()
shape = (-1, *keras_model.input_shape[1:])

def median_seconds(function):
    function()  # warm-up: first calls pay for caches and tracing
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)

skmnist_s = median_seconds(lambda: classifier.predict_proba(Z))
keras_s = median_seconds(lambda: keras_model.predict(Z.reshape(shape), verbose=0))
print(json.dumps({"skmnist_s": skmnist_s, "keras_s": keras_s,
                  "version": skmnist.__version__, "file": skmnist.__file__}))
"""


def run(network, checkout, args):
    env = dict(os.environ)
    if checkout is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            [str(checkout), *filter(None, [env.get("PYTHONPATH")])]
        )
    command = [
        sys.executable,
        "-c",
        _RUN,
        network,
        str(args.data),
        str(args.train_rows),
        str(args.calls),
    ]
    out = subprocess.run(
        command, env=env, capture_output=True, text=True, check=True, cwd="/"
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--against", required=True, type=Path, help="the other version's checkout"
    )
    parser.add_argument("--data", default=default_data_path(), metavar="PATH")
    parser.add_argument("--networks", nargs="+", default=["mlp", "cnn"])
    parser.add_argument("--train-rows", type=int, default=5000)
    parser.add_argument("--calls", type=int, default=7, help="timed calls a process")
    parser.add_argument("--repeats", type=int, default=4)
    args = parser.parse_args(argv)
    versions = {"this checkout": None, "other": args.against.resolve()}
    runs = {(n, v): [] for n in args.networks for v in versions}
    for repeat in range(args.repeats):
        for network in args.networks:
            for version, checkout in versions.items():
                result = run(network, checkout, args)
                runs[network, version].append(result)
                print(f"repeat {repeat + 1} {network} {version}: {result}", flush=True)
    print()
    print(f"{args.repeats} repeats; medians of each process's median of {args.calls}")
    print(
        "| network | version | predict_proba s | Keras predict s | ratio | vs other |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for network in args.networks:
        other = statistics.median(r["skmnist_s"] for r in runs[network, "other"])
        for version in versions:
            results = runs[network, version]
            ours = statistics.median(r["skmnist_s"] for r in results)
            keras_s = statistics.median(r["keras_s"] for r in results)
            ratio = statistics.median(r["skmnist_s"] / r["keras_s"] for r in results)
            print(
                f"| {network} | {version} ({results[0]['version']}) | {ours:.3f} "
                f"| {keras_s:.3f} | {ratio:.2f} | {ours / other:.2f} |"
            )


if __name__ == "__main__":
    main()
