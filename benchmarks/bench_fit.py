"""Fit time, accuracy, peak memory and CPU use of skmnist's networks and peers.

With ``--network mlp`` (the default), the tutorial configuration; the
contenders, each trained on all 60,000 MNIST images for 5 epochs in batches
of 128 and scored on the 10,000 test images, are:

* ``skmnist``: ``make_mnist_pipeline(random_state=seed).fit(X, y)``;
* ``keras``: the raw Keras tutorial script (same network, ``model.fit``);
* ``sklearn``: ``MLPClassifier((512, 512), max_iter=5, batch_size=128)``
  (no dropout: scikit-learn's MLP has none);
* ``scikeras``: scikeras's ``KerasClassifier`` around the same network, only
  when scikeras is installed (it is not a dependency);
* ``torch-examples``: PyTorch's own ``examples/mnist`` style loop (``torch.nn``
  layers, ``DataLoader``, ``torch.optim.Adam``, the same network, batches of
  128), the peer of the PyTorch backend; it uses no Keras.

With ``--network cnn``, the ConvNet:

* ``skmnist-cnn``: ``make_mnist_pipeline("cnn", random_state=seed).fit(X, y)``
  with its defaults (``--cnn-params JSON`` overrides some, to measure other
  configurations);
* ``keras-convnet``: Keras's "simple MNIST convnet" example script as its
  documentation gives it (Conv 32 -> MaxPool -> Conv 64 -> MaxPool -> Flatten
  -> Dropout 0.5 -> Dense 10, Adam, batches of 128, 15 epochs,
  ``validation_split=0.1``);
* ``keras-cnn``: skmnist's default ConvNet (its layers, random shifts and
  cosine learning rate, 10 epochs) trained by Keras's ``model.fit``.

``--backend {tensorflow,jax,torch}`` (one or more) sets ``KERAS_BACKEND`` for
every contender, each backend in turn (TensorFlow by default), and the table
gives each contender's epoch time against the stock Keras loop on the same
backend (``vs stock``); ``--epochs N`` trains every contender N epochs
instead of its own number; ``sklearn`` and ``torch-examples`` use no
Keras. Besides the whole ``fit``, the contenders that report epochs give the
median seconds of an epoch after the first (compilation and tracing happen
in the first). ``--floor`` adds the arithmetic floor of the tutorial MLP on
this machine: each training step's eight matrix products timed at their
shapes with NumPy and the backend's own kernels (the faster), plus Adam's
memory traffic (read weights, gradients and both moments, write weights and
moments) at the bandwidth NumPy measures on arrays of that size.

Every run is a fresh Python process (so imports, caches and memory start
equal) and the contenders alternate within each repeat, so that a slow spell
of a noisy machine hits them all. Times cover ``fit`` only, every contender's
imports done before it (skmnist's estimators import Keras and its backend in
their first ``fit``: ``import skmnist.training`` does it first, as the Keras
contenders ``import keras``); peak memory is the process's maximum resident
set size, imports included. Run::

    python benchmarks/bench_fit.py --data /path/to/mnist.npz --repeats 5
    python benchmarks/bench_fit.py --network cnn --repeats 3
    python benchmarks/bench_fit.py --backend torch --floor \
        --contenders keras skmnist torch-examples

The per-backend table of ``docs/performance.md``::

    python benchmarks/bench_fit.py --backend tensorflow jax torch --floor \
        --contenders skmnist keras torch-examples --repeats 3
    python benchmarks/bench_fit.py --network cnn --backend tensorflow jax torch \
        --contenders skmnist-cnn keras-cnn --repeats 3 --epochs 2

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
        import skmnist.training  # Keras and its backend, as fit imports them
        stamp_skmnist_epochs()
        model = make_mnist_pipeline(random_state=SEED, epochs=EPOCHS or 5)
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
            model.fit(xtr, ytr, batch_size=128, epochs=EPOCHS or 5, verbose=0,
                      callbacks=[EpochTimes()])
        def accuracy():
            return model.evaluate(xte, yte, verbose=0)[1]
    """,
    "sklearn": """
        import warnings
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
        xtr = x_train.reshape(60000, 784).astype("float32") / 255
        xte = x_test.reshape(10000, 784).astype("float32") / 255
        model = MLPClassifier((512, 512), max_iter=EPOCHS or 5, batch_size=128,
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
            optimizer="adam", batch_size=128, epochs=EPOCHS or 5, verbose=0,
            random_state=SEED)
        def fit():
            model.fit(xtr, y_train)
        def accuracy():
            return model.score(xte, y_test)
    """,
    "torch-examples": """
        import torch
        import torch.nn.functional as F
        from torch import nn
        torch.manual_seed(SEED)
        xtr = torch.from_numpy(x_train.reshape(60000, 784).astype("float32") / 255)
        xte = torch.from_numpy(x_test.reshape(10000, 784).astype("float32") / 255)
        ytr = torch.from_numpy(y_train.astype("int64"))
        yte = torch.from_numpy(y_test.astype("int64"))
        model = nn.Sequential(
            nn.Linear(784, 512), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(512, 512), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(512, 10), nn.LogSoftmax(dim=1),
        )
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        loader = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(xtr, ytr), batch_size=128, shuffle=True)
        def fit():
            model.train()
            for epoch in range(EPOCHS or 5):
                for data, target in loader:
                    optimizer.zero_grad()
                    loss = F.nll_loss(model(data), target)
                    loss.backward()
                    optimizer.step()
                epoch_ended()
        def accuracy():
            model.eval()
            with torch.no_grad():
                return (model(xte).argmax(1) == yte).float().mean().item()
    """,
}

CNN_CONTENDERS = {
    "skmnist-cnn": """
        from skmnist import make_mnist_pipeline
        import skmnist.training  # Keras and its backend, as fit imports them
        stamp_skmnist_epochs()
        model = make_mnist_pipeline(
            "cnn", random_state=SEED, **{"epochs": EPOCHS or 10, **PARAMS})
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
            model.fit(xtr, ytr, batch_size=128, epochs=EPOCHS or 15,
                      validation_split=0.1,
                      verbose=0, callbacks=[EpochTimes()])
        def accuracy():
            return model.evaluate(xte, yte, verbose=0)[1]
    """,
    "keras-cnn": """
        import keras
        from skmnist import MNISTCNNClassifier
        from skmnist.training._trainer import build_model
        keras.utils.set_random_seed(SEED)
        xtr = x_train.reshape(60000, 784).astype("float32") / 255
        xte = x_test.reshape(10000, 784).astype("float32") / 255
        # The Keras model skmnist itself builds for its default ConvNet (its
        # layers, random shifts and seeds) of Keras's own classes (as
        # to_keras hands it over), trained by model.fit instead.
        architecture = MNISTCNNClassifier()._architecture(784, 10)
        model, _ = build_model(
            architecture, 784, np.random.RandomState(SEED), "mnist_cnn", stock=True
        )
        steps = (EPOCHS or 10) * -(-60000 // 128)
        model.compile(
            loss="sparse_categorical_crossentropy",
            optimizer=keras.optimizers.Adam(
                keras.optimizers.schedules.CosineDecay(0.002, steps)),
            metrics=["accuracy"])
        def fit():
            model.fit(xtr, y_train, batch_size=128, epochs=EPOCHS or 10, verbose=0,
                      callbacks=[EpochTimes()])
        def accuracy():
            return model.evaluate(xte, y_test, verbose=0)[1]
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

# What every runner may use: epoch stamps and a Keras callback that takes them.
HELPERS = """
EPOCH_ENDS = []
def epoch_ended():
    EPOCH_ENDS.append(time.perf_counter())
def EpochTimes():
    import keras
    class EpochTimes(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            epoch_ended()
    return EpochTimes()
def stamp_skmnist_epochs():
    # skmnist's epoch loop (its private module: a stamp costs a clock read,
    # where scikit-learn's callbacks would copy the weights each epoch).
    from skmnist.training import _loop
    train = _loop.train
    def stamped(*args, on_epoch_end=None, **kwargs):
        def on_end(logs):
            epoch_ended()
            return on_epoch_end is not None and on_epoch_end(logs)
        return train(*args, on_epoch_end=on_end, **kwargs)
    _loop.train = stamped
"""

RUNNER = """
import json, os, resource, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
SEED = {seed}
EPOCHS = {epochs}
PARAMS = {params}
with np.load({data!r}) as f:
    x_train, y_train = f["x_train"], f["y_train"]
    x_test, y_test = f["x_test"], f["y_test"]
{helpers}
{network}
{setup}
cpu0, wall0 = os.times(), time.perf_counter()
EPOCH_ENDS.append(wall0)
fit()
cpu1, wall1 = os.times(), time.perf_counter()
wall = wall1 - wall0
cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
epochs = np.diff(EPOCH_ENDS)
print("RESULT " + json.dumps({{
    "fit_s": wall,
    "epoch_s": float(np.median(epochs[1:])) if len(epochs) > 1 else None,
    "cpu_percent": 100 * cpu / wall,
    "accuracy": float(accuracy()),
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}}))
"""


# Contenders that use no Keras: the same on every backend.
KERAS_FREE = {"sklearn", "torch-examples"}


def run_once(name, seed, data, params=None, backend="tensorflow", epochs=None):
    contenders = {**CONTENDERS, **CNN_CONTENDERS}
    code = RUNNER.format(
        seed=seed,
        epochs=epochs,
        params=repr(params or {}),
        data=str(data),
        helpers=HELPERS,
        network=TUTORIAL_NETWORK,
        setup=textwrap.dedent(contenders[name]),
    )
    env = {**os.environ, "KERAS_BACKEND": backend}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"{name} failed:\n{done.stderr[-3000:]}")


# The floor of the tutorial MLP: one training step's matrix products (batch
# B, layers 784 -> 512 -> 512 -> 10: three forward, five backward, no
# gradient of the input) and Adam's traffic over its 669,706 weights.
FLOOR_RUNNER = """
import json, os, statistics, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
B, sizes = 128, (784, 512, 512, 10)
shapes = []  # (m, k, n): an (m, k) by (k, n) product
for i, o in zip(sizes[:-1], sizes[1:]):
    shapes += [(B, i, o), (i, B, o)]  # forward; weight gradient
shapes += [(B, 10, 512), (B, 512, 512)]  # the hidden layers' input gradients
flops = sum(2 * m * k * n for m, k, n in shapes)
n_weights = sum(i * o + o for i, o in zip(sizes[:-1], sizes[1:]))
rng = np.random.default_rng(0)
operands = [(rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32))
            for m, k, n in shapes]

def best(fn, calls):
    fn()
    times = []
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - start) / calls)
    return statistics.median(times)

step = {{"numpy": best(lambda: [a @ b for a, b in operands], 50)}}
backend = {backend!r}
if backend == "torch":
    import torch
    ops = [(torch.from_numpy(a), torch.from_numpy(b)) for a, b in operands]
    step["torch"] = best(lambda: [a @ b for a, b in ops], 50)
elif backend == "jax":
    import jax, jax.numpy as jnp
    ops = [(jnp.asarray(a), jnp.asarray(b)) for a, b in operands]
    products = jax.jit(lambda ops: [a @ b for a, b in ops])
    step["jax"] = best(lambda: jax.block_until_ready(products(ops)), 50)
else:
    import tensorflow as tf
    ops = [(tf.constant(a), tf.constant(b)) for a, b in operands]
    products = tf.function(lambda ops: [a @ b for a, b in ops])
    step["tensorflow"] = best(lambda: [t.numpy() for t in products(ops)], 50)

# Bandwidth on arrays of Adam's size: c = a + b moves three arrays.
a, b, c = (rng.random(n_weights, dtype=np.float32) for _ in range(3))
add = best(lambda: np.add(a, b, out=c), 200)
bandwidth = 3 * a.nbytes / add
adam_bytes = 7 * 4 * n_weights  # read w, g, m, v; write w, m, v
steps = -(-60000 // B)
fastest = min(step, key=step.get)
print("RESULT " + json.dumps({{
    "matmul_gflops": {{k: flops / v / 1e9 for k, v in step.items()}},
    "bandwidth_gbs": bandwidth / 1e9,
    "matmul_s_per_epoch": steps * step[fastest],
    "adam_s_per_epoch": steps * adam_bytes / bandwidth,
    "epoch_s": steps * (step[fastest] + adam_bytes / bandwidth),
    "fastest": fastest,
}}))
"""


def measure_floor(backend):
    env = {**os.environ, "KERAS_BACKEND": backend}
    done = subprocess.run(
        [sys.executable, "-c", FLOOR_RUNNER.format(backend=backend)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"the floor measurement failed:\n{done.stderr[-3000:]}")


def available(name):
    import importlib.util

    needs = {"scikeras": "scikeras", "torch-examples": "torch"}.get(name)
    return needs is None or importlib.util.find_spec(needs) is not None


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
    packages = ("numpy", "scikit-learn", "keras", "tensorflow", "jax", "jaxlib")
    for package in (*packages, "torch", "skmnist"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            pass
    return {"cores": os.cpu_count(), "cpu": cpu, "versions": versions}


def _entries(names, backends):
    """``(label, contender, backend)``: each Keras contender on each backend."""
    entries = []
    for name in names:
        if name in KERAS_FREE:
            entries.append((name, name, backends[0]))
        else:
            for backend in backends:
                label = name if len(backends) == 1 else f"{name}@{backend}"
                entries.append((label, name, backend))
    return entries


def _ratio(value, base):
    return f"{value / base:.2f}" if value is not None and base else "-"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument(
        "--data", default=os.environ.get("SKMNIST_DATA"), required=False
    )
    parser.add_argument("--network", choices=sorted(NETWORKS), default="mlp")
    parser.add_argument(
        "--backend",
        nargs="+",
        choices=("tensorflow", "jax", "torch"),
        default=["tensorflow"],
        help="Keras backends to run the Keras contenders on (each in turn)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--epochs",
        type=int,
        help="epochs for every contender (default: each one's own, as above)",
    )
    parser.add_argument("--contenders", nargs="+")
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also measure the tutorial MLP's arithmetic floor (seconds an epoch)",
    )
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
    default = [
        n for n in contenders if n != "torch-examples" or "torch" in args.backend
    ]
    wanted = args.contenders or default
    unknown = sorted(set(wanted) - set(contenders))
    if unknown:
        parser.error(f"no contender {', '.join(unknown)} for --network {args.network}")
    names = [n for n in wanted if available(n)]
    skipped = sorted(set(wanted) - set(names))
    entries = _entries(names, args.backend)

    runs = {label: [] for label, _, _ in entries}
    failures = {}
    floors = []
    for repeat in range(args.repeats):
        # Alternate the order so that no contender always runs first.
        order = entries if repeat % 2 == 0 else entries[::-1]
        for label, name, backend in order:
            if label in failures:
                continue
            try:
                result = run_once(
                    name,
                    seed=first_seed + repeat,
                    data=args.data,
                    params=args.cnn_params,
                    backend=backend,
                    epochs=args.epochs,
                )
            except RuntimeError as error:
                failures[label] = str(error).strip().splitlines()[-1]
                print(f"repeat {repeat + 1} {label} failed: {failures[label]}")
                continue
            runs[label].append(result)
            epoch = result["epoch_s"]
            print(
                f"repeat {repeat + 1} {label:24s} fit {result['fit_s']:6.1f} s  "
                f"epoch {epoch if epoch is not None else float('nan'):5.2f} s  "
                f"acc {result['accuracy']:.4f}  cpu {result['cpu_percent']:4.0f}%  "
                f"peak {result['peak_rss_mb']:6.0f} MB",
                flush=True,
            )
        if args.floor:
            for backend in args.backend:
                floor = measure_floor(backend)
                floors.append({"backend": backend, **floor})
                print(
                    f"repeat {repeat + 1} floor ({backend:10s}) "
                    f"{floor['epoch_s']:5.2f} s an epoch: matrix products "
                    f"{floor['matmul_s_per_epoch']:.2f} s ({floor['fastest']}, "
                    + ", ".join(
                        f"{k} {v:.0f}" for k, v in floor["matmul_gflops"].items()
                    )
                    + f" GFLOP/s), Adam {floor['adam_s_per_epoch']:.2f} s "
                    f"({floor['bandwidth_gbs']:.1f} GB/s)",
                    flush=True,
                )

    def median(results, key):
        values = [r[key] for r in results if r.get(key) is not None]
        return statistics.median(values) if values else None

    medians = {
        label: {key: median(results, key) for key in results[0]}
        for label, results in runs.items()
        if results
    }
    floor_s = (
        min(
            statistics.median(f["epoch_s"] for f in floors if f["backend"] == b)
            for b in args.backend
        )
        if floors
        else None
    )
    base_label = baseline if len(args.backend) == 1 else f"{baseline}@{args.backend[0]}"
    base = medians.get(base_label)
    stock = {
        backend: medians.get(
            baseline if len(args.backend) == 1 else f"{baseline}@{backend}"
        )
        for backend in args.backend
    }
    print(f"\nmedians over {args.repeats} runs ({machine()['cores']} cores)")
    if floor_s is not None:
        print(f"floor of the tutorial MLP: {floor_s:.2f} s an epoch")
    print(
        f"{'contender':24s} {'fit s':>7s} {'vs ' + base_label:>16s} {'epoch s':>8s} "
        f"{'vs stock':>8s} {'vs floor':>8s} {'accuracy':>9s} {'peak MB':>8s} "
        f"{'CPU %':>6s}"
    )
    for label, name, backend in entries:
        m = medians.get(label)
        if m is None:
            continue
        same = stock.get(backend) if name not in KERAS_FREE else None
        epoch = m["epoch_s"]
        print(
            f"{label:24s} {m['fit_s']:7.1f} "
            f"{_ratio(m['fit_s'], base and base['fit_s']):>16s} "
            f"{epoch if epoch is not None else float('nan'):8.2f} "
            f"{_ratio(epoch, same and same['epoch_s']):>8s} "
            f"{_ratio(epoch, floor_s if args.network == 'mlp' else None):>8s} "
            f"{m['accuracy']:9.4f} {m['peak_rss_mb']:8.0f} {m['cpu_percent']:6.0f}"
        )
    if skipped:
        print(f"not installed, skipped: {', '.join(skipped)}")
    for label, error in failures.items():
        print(f"{label} failed: {error}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "machine": machine(),
                    "backends": args.backend,
                    "runs": runs,
                    "medians": medians,
                    "floors": floors,
                    "failures": failures,
                },
                f,
                indent=2,
            )


if __name__ == "__main__":
    main()
