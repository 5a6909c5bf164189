"""Train one network with the prototype loop on the configured backend.

    KERAS_BACKEND=jax python benchmarks/_backend_prototype/run.py --network mlp

Prints each epoch's seconds and the test accuracy (a development tool;
``benchmarks/bench_fit.py`` makes the comparisons).
"""

import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras
import numpy as np

import _backend_prototype  # noqa: F401  (thread pools first)
from _backend_prototype import _loop, _network, _state
from _backend_prototype._data import mnist


def fit(
    network,
    x,
    y,
    *,
    epochs,
    seed,
    batch_size=128,
    learning_rate=None,
    verbose=0,
    on_epoch_end=None,
    shift_method=None,
):
    """Train ``network`` as skmnist's estimators would; return model, steps, history."""
    rng = np.random.RandomState(seed)
    kwargs = {"shift_method": shift_method} if network == "cnn" else {}
    model = _network.NETWORKS[network](rng, **kwargs)
    lr0 = learning_rate or (0.001 if network == "mlp" else 0.002)
    _state.compile_model(model, lr0)
    steps = _loop.steps_for(model, x, y, None, batch_size)
    batches = _loop.Batches(
        np.arange(len(x)), batch_size, True, seed=int(rng.randint(2**31 - 1))
    )
    schedule = (
        (lambda p: lr0)
        if network == "mlp"
        else (lambda p: lr0 * 0.5 * (1 + math.cos(math.pi * p)))
    )
    history = _loop.train(
        steps,
        batches,
        epochs=epochs,
        verbose=verbose,
        learning_rate=schedule,
        on_epoch_end=on_epoch_end and (lambda logs: on_epoch_end()),
    )
    return model, steps, history


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data")
    parser.add_argument("--network", choices=["mlp", "cnn"], default="mlp")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--shift-method")
    parser.add_argument("--verbose", type=int, default=0)
    args = parser.parse_args()
    x, y, x_test, y_test = mnist(args.data)
    stamps = [time.perf_counter()]
    _, steps, history = fit(
        args.network,
        x,
        y,
        epochs=args.epochs,
        seed=args.seed,
        verbose=args.verbose,
        on_epoch_end=lambda: stamps.append(time.perf_counter()),
        shift_method=args.shift_method,
    )
    times = np.diff(stamps)
    later = np.median(times[1:]) if len(times) > 1 else float("nan")
    _, hits = steps.score(x_test, y_test)
    print(
        f"{keras.backend.backend()} {args.network}: epochs "
        + " ".join(f"{t:.2f}" for t in times)
        + f" s; after the first {later:.2f} s/epoch;"
        f" loss {history['loss'][-1]:.4f}; test accuracy {hits / len(y_test):.4f}"
    )


if __name__ == "__main__":
    main()
