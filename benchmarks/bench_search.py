"""Does ``GridSearchCV(n_jobs=2)`` beat ``n_jobs=1`` on a 2-core machine?

A grid of 4 candidates x 2 folds = 8 fits of the tutorial pipeline (then the
refit on all the data, as ``GridSearchCV`` does by default), timed with
``n_jobs=1`` and ``n_jobs=2`` in alternation, each run in a fresh process (so
the ``n_jobs=2`` runs pay for starting their workers and importing TensorFlow
in them, as a user's first search does). skmnist sizes TensorFlow's thread
pools to the cores each worker was given (joblib's workers get
``OMP_NUM_THREADS`` = cores / n_jobs), so two workers share the machine
instead of each running a pool as large as the machine. The default is the
tutorial's search size: all 60,000 training images, 5 epochs. Run::

    python benchmarks/bench_search.py --data ../shared/data/mnist.npz --repeats 3

``--samples`` and ``--epochs`` make the fits smaller; the smaller they are, the
more the workers' start-up (about 3 s each, mostly ``import tensorflow``)
weighs against what two processes gain.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

RUNNER = """
import json, time
import numpy as np
from sklearn.model_selection import GridSearchCV
from skmnist import load_mnist, make_mnist_pipeline
(X, y), _ = load_mnist({data!r})
X, y = X[:{n}], y[:{n}]
grid = {{"classifier__learning_rate": [1e-3, 3e-3],
         "classifier__dropout": [0.0, 0.2]}}
start = time.perf_counter()
search = GridSearchCV(make_mnist_pipeline(epochs={epochs}, random_state=0), grid,
                      cv=2, n_jobs={n_jobs}).fit(X, y)
scores = search.cv_results_["mean_test_score"].tolist()
seconds = time.perf_counter() - start
print("RESULT " + json.dumps({{"seconds": seconds, "scores": scores}}))
"""


def run(n_jobs, args):
    code = RUNNER.format(
        data=args.data, n=args.samples, epochs=args.epochs, n_jobs=n_jobs
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(done.stderr[-3000:])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("SKMNIST_DATA"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=60000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    if not args.data:
        parser.error("give --data PATH to mnist.npz (or set SKMNIST_DATA)")

    times = {1: [], 2: []}
    scores = {}
    for repeat in range(args.repeats):
        for n_jobs in (1, 2) if repeat % 2 == 0 else (2, 1):
            result = run(n_jobs, args)
            times[n_jobs].append(result["seconds"])
            scores[n_jobs] = result["scores"]
            print(
                f"repeat {repeat + 1} n_jobs={n_jobs}: {result['seconds']:.1f} s",
                flush=True,
            )
    m1, m2 = statistics.median(times[1]), statistics.median(times[2])
    print(
        f"\n8 fits, {args.samples} images, {args.epochs} epochs, {args.repeats} runs:"
    )
    print(f"median n_jobs=1 {m1:.1f} s, n_jobs=2 {m2:.1f} s, ratio {m2 / m1:.2f}")
    print(f"same scores with both: {scores[1] == scores[2]}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"seconds": times, "scores": scores}, f, indent=2)


if __name__ == "__main__":
    main()
