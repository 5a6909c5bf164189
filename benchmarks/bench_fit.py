"""Fit time, accuracy, peak memory and CPU use of the tutorial configuration.

Contenders, each trained on all 60,000 MNIST images for 5 epochs in batches
of 128 and scored on the 10,000 test images:

* ``skmnist``: ``make_mnist_pipeline(random_state=seed).fit(X, y)``;
* ``keras``: the raw Keras tutorial script (same network, ``model.fit``);
* ``sklearn``: ``MLPClassifier((512, 512), max_iter=5, batch_size=128)``
  (no dropout: scikit-learn's MLP has none);
* ``scikeras``: scikeras's ``KerasClassifier`` around the same network, only
  when scikeras is installed (it is not a dependency).

Every run is a fresh Python process (so imports, caches and memory start
equal) and the contenders alternate within each repeat, so that a slow spell
of a noisy machine hits them all. Times cover ``fit`` only; peak memory is the
process's maximum resident set size, imports included. Run::

    python benchmarks/bench_fit.py --data ../shared/data/mnist.npz --repeats 5

It prints a table of medians and of ratios to the raw Keras script, and with
``--json FILE`` writes every measurement.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import textwrap

CONTENDERS = {
    "skmnist": """
        from skmnist import make_mnist_pipeline
        model = make_mnist_pipeline(random_state=SEED)
        def fit():
            model.fit(x_train, y_train)
        def accuracy():
            return model.score(x_test, y_test)
    """,
    "keras": """
        import keras
        keras.utils.set_random_seed(SEED)
        xtr = x_train.reshape(60000, 784).astype("float32") / 255
        xte = x_test.reshape(10000, 784).astype("float32") / 255
        ytr = keras.utils.to_categorical(y_train, 10)
        yte = keras.utils.to_categorical(y_test, 10)
        model = tutorial_network()
        model.compile(loss="categorical_crossentropy", optimizer="adam",
                      metrics=["accuracy"])
        def fit():
            model.fit(xtr, ytr, batch_size=128, epochs=5, verbose=0)
        def accuracy():
            return model.evaluate(xte, yte, verbose=0)[1]
    """,
    "sklearn": """
        import warnings
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
        xtr = x_train.reshape(60000, 784).astype("float32") / 255
        xte = x_test.reshape(10000, 784).astype("float32") / 255
        model = MLPClassifier((512, 512), max_iter=5, batch_size=128,
                              random_state=SEED)
        def fit():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(xtr, y_train)
        def accuracy():
            return model.score(xte, y_test)
    """,
    "scikeras": """
        import keras
        from scikeras.wrappers import KerasClassifier
        xtr = x_train.reshape(60000, 784).astype("float32") / 255
        xte = x_test.reshape(10000, 784).astype("float32") / 255
        model = KerasClassifier(
            tutorial_network, loss="sparse_categorical_crossentropy",
            optimizer="adam", batch_size=128, epochs=5, verbose=0,
            random_state=SEED)
        def fit():
            model.fit(xtr, y_train)
        def accuracy():
            return model.score(xte, y_test)
    """,
}

# The tutorial's network, for the contenders that build it with Keras.
TUTORIAL_NETWORK = """
def tutorial_network():
    import keras
    return keras.Sequential([
        keras.Input(shape=(784,)),
        keras.layers.Dense(512, activation="relu"),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(512, activation="relu"),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(10, activation="softmax"),
    ])
"""

RUNNER = """
import json, os, resource, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
SEED = {seed}
with np.load({data!r}) as f:
    x_train, y_train = f["x_train"], f["y_train"]
    x_test, y_test = f["x_test"], f["y_test"]
{network}
{setup}
cpu0, wall0 = os.times(), time.perf_counter()
fit()
cpu1, wall1 = os.times(), time.perf_counter()
wall = wall1 - wall0
cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
print("RESULT " + json.dumps({{
    "fit_s": wall,
    "cpu_percent": 100 * cpu / wall,
    "accuracy": float(accuracy()),
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}}))
"""


def run_once(name, seed, data):
    code = RUNNER.format(
        seed=seed,
        data=str(data),
        network=TUTORIAL_NETWORK,
        setup=textwrap.dedent(CONTENDERS[name]),
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"{name} failed:\n{done.stderr[-3000:]}")


def available(name):
    if name != "scikeras":
        return True
    import importlib.util

    return importlib.util.find_spec("scikeras") is not None


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(
                line.split(":", 1)[1].strip() for line in f if "model name" in line
            )
    except (OSError, StopIteration):
        pass
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for package in ("numpy", "scikit-learn", "keras", "tensorflow", "skmnist"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            pass
    return {"cores": os.cpu_count(), "cpu": cpu, "versions": versions}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument(
        "--data", default=os.environ.get("SKMNIST_DATA"), required=False
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--contenders", nargs="+", default=list(CONTENDERS))
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    if not args.data:
        parser.error("give --data PATH to mnist.npz (or set SKMNIST_DATA)")
    names = [n for n in args.contenders if available(n)]
    skipped = sorted(set(args.contenders) - set(names))

    runs = {name: [] for name in names}
    for repeat in range(args.repeats):
        # Alternate the order so that no contender always runs first.
        order = names if repeat % 2 == 0 else names[::-1]
        for name in order:
            result = run_once(name, seed=repeat + 1, data=args.data)
            runs[name].append(result)
            print(
                f"repeat {repeat + 1} {name:9s} fit {result['fit_s']:6.1f} s  "
                f"acc {result['accuracy']:.4f}  cpu {result['cpu_percent']:4.0f}%  "
                f"peak {result['peak_rss_mb']:6.0f} MB",
                flush=True,
            )

    medians = {
        name: {key: statistics.median(r[key] for r in results) for key in results[0]}
        for name, results in runs.items()
    }
    base = medians.get("keras")
    print(f"\nmedians over {args.repeats} runs ({machine()['cores']} cores)")
    print(
        f"{'contender':10s} {'fit s':>7s} {'vs keras':>9s} {'accuracy':>9s} "
        f"{'peak MB':>8s} {'vs keras':>9s} {'CPU %':>6s}"
    )
    for name, m in medians.items():
        time_ratio = f"{m['fit_s'] / base['fit_s']:.2f}" if base else "-"
        mem_ratio = f"{m['peak_rss_mb'] / base['peak_rss_mb']:.2f}" if base else "-"
        print(
            f"{name:10s} {m['fit_s']:7.1f} {time_ratio:>9s} {m['accuracy']:9.4f} "
            f"{m['peak_rss_mb']:8.0f} {mem_ratio:>9s} {m['cpu_percent']:6.0f}"
        )
    if skipped:
        print(f"not installed, skipped: {', '.join(skipped)}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"machine": machine(), "runs": runs, "medians": medians}, f, indent=2
            )


if __name__ == "__main__":
    main()
