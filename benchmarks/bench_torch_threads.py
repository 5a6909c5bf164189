"""How long PyTorch's OpenMP threads spin, against fit time, quiet and shared.

skmnist imports PyTorch with ``GOMP_SPINCOUNT`` set (``skmnist/training/
_keras.py``): a waiting OpenMP thread spins that many times, then sleeps.
This times the tutorial MLP's fit on the PyTorch backend (all 60,000 MNIST
images, one epoch by default) under each setting of the waiting threads, on
a quiet machine and with one busy process (a Python loop) holding a core,
each run a fresh process, the settings alternating:

* ``skmnist``: skmnist's choice, nothing set by the user;
* ``gnu-default``: ``GOMP_SPINCOUNT=300000``, GNU OpenMP's own (what stock
  Keras and PyTorch scripts run with);
* ``passive``: ``OMP_WAIT_POLICY=PASSIVE``, threads that sleep at once.

Run::

    python benchmarks/bench_torch_threads.py --data /path/to/mnist.npz --repeats 3
"""

import argparse
import os
import statistics
import subprocess
import sys

SETTINGS = {
    "skmnist": {},
    "gnu-default": {"GOMP_SPINCOUNT": "300000"},
    "passive": {"OMP_WAIT_POLICY": "PASSIVE"},
}

RUNNER = """
import sys, time
import numpy as np
import skmnist.training  # PyTorch imported as skmnist's fit imports it
from skmnist import MNISTMLPClassifier
with np.load(sys.argv[1]) as f:
    X = f["x_train"].reshape(-1, 784).astype(np.float32) / 255
    y = f["y_train"]
model = MNISTMLPClassifier(epochs=int(sys.argv[2]), random_state=0, verbose=0)
start = time.perf_counter()
model.fit(X, y)
print("RESULT", time.perf_counter() - start)
"""


def run_once(data, epochs, setting):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
    }
    env.update(KERAS_BACKEND="torch", TF_CPP_MIN_LOG_LEVEL="2", **SETTINGS[setting])
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, data, str(epochs)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT"))
    return float(line.split()[1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("SKMNIST_DATA"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    if not args.data:
        parser.error("--data (or SKMNIST_DATA) must name mnist.npz")
    times = {}
    for condition in ("quiet", "one busy process"):
        busy = None
        if condition != "quiet":
            busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            for repeat in range(args.repeats):
                for setting in SETTINGS:
                    seconds = run_once(args.data, args.epochs, setting)
                    times.setdefault((condition, setting), []).append(seconds)
                    print(f"{condition:17} repeat {repeat + 1} {setting:12} "
                          f"{seconds:6.2f} s", flush=True)  # fmt: skip
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
    print(f"\nfit s, medians of {args.repeats} ({args.epochs} epoch(s), 2 cores)")
    print(
        f"{'setting':14}" + "".join(f"{c:>20}" for c in ("quiet", "one busy process"))
    )
    for setting in SETTINGS:
        cells = [
            statistics.median(times[c, setting]) for c in ("quiet", "one busy process")
        ]
        print(f"{setting:14}" + "".join(f"{x:20.2f}" for x in cells))


if __name__ == "__main__":
    main()
