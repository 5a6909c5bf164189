"""Fit time, accuracy, peak memory and CPU use of skmnist's networks and peers.

With ``--network mlp`` (the default), the tutorial configuration; the
contenders, each trained on all 60,000 MNIST images for 5 epochs in batches
of 128 and scored on the 10,000 test images, are:

* ``skmnist``: ``make_mnist_pipeline(random_state=seed).fit(X, y)``;
* ``keras``: the raw Keras tutorial script (same network, ``model.fit``);
* ``sklearn``: ``MLPClassifier((512, 512), max_iter=5, batch_size=128)``
  (no dropout: scikit-learn's MLP has none);
* ``scikeras``: scikeras's ``KerasClassifier`` around the same network, only
  when scikeras is installed (it is not a dependency).

With ``--network cnn``, the ConvNet:

* ``skmnist-cnn``: ``make_mnist_pipeline("cnn", random_state=seed).fit(X, y)``
  with its defaults (``--cnn-params JSON`` overrides some, to measure other
  configurations);
* ``keras-convnet``: Keras's "simple MNIST convnet" example script as its
  documentation gives it (Conv 32 -> MaxPool -> Conv 64 -> MaxPool -> Flatten
  -> Dropout 0.5 -> Dense 10, Adam, batches of 128, 15 epochs,
  ``validation_split=0.1``).

Every run is a fresh Python process (so imports, caches and memory start
equal) and the contenders alternate within each repeat, so that a slow spell
of a noisy machine hits them all. Times cover ``fit`` only; peak memory is the
process's maximum resident set size, imports included. Run::

    python benchmarks/bench_fit.py --data /path/to/mnist.npz --repeats 5
    python benchmarks/bench_fit.py --network cnn --repeats 3

Repeat ``i`` uses the seed ``i + 1`` for the MLP and ``i`` for the ConvNet.
It prints a table of medians and of ratios to the Keras script, and with
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

CNN_CONTENDERS = {
    "skmnist-cnn": """
        from skmnist import make_mnist_pipeline
        model = make_mnist_pipeline("cnn", random_state=SEED, **PARAMS)
        def fit():
            model.fit(x_train, y_train)
        def accuracy():
            return model.score(x_test, y_test)
    """,
    "keras-convnet": """
        import keras
        keras.utils.set_random_seed(SEED)
        xtr = np.expand_dims(x_train.astype("float32") / 255, -1)
        xte = np.expand_dims(x_test.astype("float32") / 255, -1)
        ytr = keras.utils.to_categorical(y_train, 10)
        yte = keras.utils.to_categorical(y_test, 10)
        model = keras.Sequential([
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            keras.layers.MaxPooling2D(pool_size=(2, 2)),
            keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            keras.layers.MaxPooling2D(pool_size=(2, 2)),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(10, activation="softmax"),
        ])
        model.compile(loss="categorical_crossentropy", optimizer="adam",
                      metrics=["accuracy"])
        def fit():
            model.fit(xtr, ytr, batch_size=128, epochs=15, validation_split=0.1,
                      verbose=0)
        def accuracy():
            return model.evaluate(xte, yte, verbose=0)[1]
    """,
}
NETWORKS = {
    "mlp": (CONTENDERS, "keras", 1),
    "cnn": (CNN_CONTENDERS, "keras-convnet", 0),
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
PARAMS = {params}
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


def run_once(name, seed, data, params=None):
    contenders = {**CONTENDERS, **CNN_CONTENDERS}
    code = RUNNER.format(
        seed=seed,
        params=repr(params or {}),
        data=str(data),
        network=TUTORIAL_NETWORK,
        setup=textwrap.dedent(contenders[name]),
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
    parser.add_argument("--network", choices=sorted(NETWORKS), default="mlp")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--contenders", nargs="+")
    parser.add_argument(
        "--cnn-params",
        type=json.loads,
        default={},
        metavar="JSON",
        help="skmnist-cnn parameters other than its defaults, as JSON",
    )
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    if not args.data:
        parser.error("give --data PATH to mnist.npz (or set SKMNIST_DATA)")
    contenders, baseline, first_seed = NETWORKS[args.network]
    wanted = args.contenders or list(contenders)
    names = [n for n in wanted if available(n)]
    skipped = sorted(set(wanted) - set(names))

    runs = {name: [] for name in names}
    for repeat in range(args.repeats):
        # Alternate the order so that no contender always runs first.
        order = names if repeat % 2 == 0 else names[::-1]
        for name in order:
            result = run_once(
                name, seed=first_seed + repeat, data=args.data, params=args.cnn_params
            )
            runs[name].append(result)
            print(
                f"repeat {repeat + 1} {name:13s} fit {result['fit_s']:6.1f} s  "
                f"acc {result['accuracy']:.4f}  cpu {result['cpu_percent']:4.0f}%  "
                f"peak {result['peak_rss_mb']:6.0f} MB",
                flush=True,
            )

    medians = {
        name: {key: statistics.median(r[key] for r in results) for key in results[0]}
        for name, results in runs.items()
    }
    base = medians.get(baseline)
    print(f"\nmedians over {args.repeats} runs ({machine()['cores']} cores)")
    print(
        f"{'contender':13s} {'fit s':>7s} {'vs ' + baseline:>16s} {'accuracy':>9s} "
        f"{'peak MB':>8s} {'vs ' + baseline:>16s} {'CPU %':>6s}"
    )
    for name, m in medians.items():
        time_ratio = f"{m['fit_s'] / base['fit_s']:.2f}" if base else "-"
        mem_ratio = f"{m['peak_rss_mb'] / base['peak_rss_mb']:.2f}" if base else "-"
        print(
            f"{name:13s} {m['fit_s']:7.1f} {time_ratio:>16s} {m['accuracy']:9.4f} "
            f"{m['peak_rss_mb']:8.0f} {mem_ratio:>16s} {m['cpu_percent']:6.0f}"
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
