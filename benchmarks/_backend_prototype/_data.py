"""Real MNIST rows, prepared as skmnist's preprocessor prepares them."""

import os

import numpy as np

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def mnist_file():
    """``SKMNIST_DATA``, or the checkout's ``../shared/data/mnist.npz``."""
    path = os.environ.get("SKMNIST_DATA") or os.path.join(
        _ROOT, "..", "shared", "data", "mnist.npz"
    )
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no MNIST at {path}: set SKMNIST_DATA")
    return path


def aligned_rows(images):
    """Images as 64-byte aligned float32 rows in [0, 1] (shareable without copy)."""
    n = len(images)
    nbytes = n * images[0].size * 4
    buffer = np.empty(nbytes + 64, np.uint8)
    start = -buffer.ctypes.data % 64
    out = buffer[start : start + nbytes].view(np.float32).reshape(n, -1)
    np.divide(images.reshape(n, -1), 255, out=out, dtype=np.float32)
    return out


def mnist(path=None):
    """``x_train, y_train, x_test, y_test``: aligned float32 rows, int32 labels."""
    with np.load(path or mnist_file()) as f:
        x_train, y_train = f["x_train"], f["y_train"]
        x_test, y_test = f["x_test"], f["y_test"]
    return (
        aligned_rows(x_train),
        y_train.astype(np.int32),
        aligned_rows(x_test),
        y_test.astype(np.int32),
    )
