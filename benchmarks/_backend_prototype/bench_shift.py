"""Time and check RandomShift's formulations on the configured backend.

Run, for each backend::

    KERAS_BACKEND=jax python benchmarks/_backend_prototype/bench_shift.py

Each formulation shifts a batch of 128 MNIST-sized images (as the default
ConvNet's training does) inside the backend's compiled or eager step, and is
checked against a NumPy reference built from the same offsets.
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras
import numpy as np

import _backend_prototype  # noqa: F401  (thread pools first)
from _backend_prototype._layers import RandomShift
from _backend_prototype._state import tensor_to_numpy


def reference(images, offsets, k):
    padded = np.pad(images, [(0, 0), (k, k), (k, k), (0, 0)])
    h, w = images.shape[1:3]
    return np.stack(
        [padded[b, r : r + h, c : c + w] for b, (r, c) in enumerate(offsets)]
    )


def compiled(fn):
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.jit(fn)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=False)
    return fn


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--max-shift", type=int, default=2)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    k = args.max_shift
    rng = np.random.default_rng(0)
    images = rng.random((args.batch, 28, 28, 1), dtype=np.float32)
    offsets = rng.integers(0, 2 * k + 1, (args.batch, 2)).astype(np.int32)
    x = keras.ops.convert_to_tensor(images)
    o = keras.ops.convert_to_tensor(offsets)
    expected = reference(images, offsets, k)
    print(f"backend {keras.backend.backend()}, batch {args.batch}, max_shift {k}")
    for method in RandomShift.METHODS:
        shift = getattr(RandomShift(k, seed=0, method=method), f"_{method}")
        fn = compiled(lambda x, o, shift=shift: shift(x, o, k))
        got = tensor_to_numpy(fn(x, o))
        exact = np.array_equal(got, expected)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            for _ in range(args.calls):
                out = fn(x, o)
            tensor_to_numpy(out)
            times.append((time.perf_counter() - start) / args.calls * 1e6)
        print(
            f"{method:12s} {statistics.median(times):8.1f} us/batch  "
            f"(min {min(times):.1f})  exact {exact}"
        )


if __name__ == "__main__":
    main()
