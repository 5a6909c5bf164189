"""What scikit-learn's callbacks add to the tutorial pipeline's fit time.

Fits ``make_mnist_pipeline(random_state=1)`` on all 60,000 MNIST images (5
epochs) with:

* ``none``: no callback;
* ``progress``: ``ProgressBar()`` on the pipeline (scikit-learn wants it on
  the outermost estimator), drawn by rich on standard output;
* ``scoring``: ``ScoringMonitor(scoring="accuracy")`` on the classifier, which
  predicts the whole training set after every epoch and once more at the end.

All in one Python process, after a warm-up fit (TensorFlow's start-up and
tracing are not what is measured); the three alternate within each repeat,
so that a slow spell of a noisy machine hits them all. Needs scikit-learn
1.9 or later. Run::

    python benchmarks/bench_callbacks.py --data /path/to/mnist.npz --repeats 3

It prints each one's fit times, their median, and the ratio of the medians to
``none``'s.
"""

import argparse
import statistics
import time

from sklearn.callback import ProgressBar, ScoringMonitor

from skmnist import load_mnist, make_mnist_pipeline


def _none(pipeline):
    return pipeline


def _progress(pipeline):
    return pipeline.set_callbacks(ProgressBar())


def _scoring(pipeline):
    pipeline[-1].set_callbacks(ScoringMonitor(scoring="accuracy"))
    return pipeline


CALLBACKS = {"none": _none, "progress": _progress, "scoring": _scoring}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="mnist.npz or IDX folder (default: found)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    (X, y), _ = load_mnist(args.data)
    make_mnist_pipeline(epochs=1, random_state=0).fit(X[:2000], y[:2000])
    times = {name: [] for name in CALLBACKS}
    for _ in range(args.repeats):
        for name, add_callbacks in CALLBACKS.items():
            pipeline = add_callbacks(make_mnist_pipeline(random_state=1))
            start = time.perf_counter()
            pipeline.fit(X, y)
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["none"])
    print(f"{'callbacks':10} {'median s':>9} {'ratio':>6}  fit times (s)")
    for name, values in times.items():
        median = statistics.median(values)
        runs = ", ".join(f"{v:.1f}" for v in values)
        print(f"{name:10} {median:9.1f} {median / base:6.2f}  {runs}")


if __name__ == "__main__":
    main()
