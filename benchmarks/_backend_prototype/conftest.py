"""Fixtures of the prototype's tests: real MNIST rows, as skmnist prepares them."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import _backend_prototype  # noqa: F401  (thread pools before Keras)


@pytest.fixture(scope="session")
def mnist_rows():
    """3,000 training and 1,000 test rows of real MNIST, aligned float32."""
    from _backend_prototype._data import mnist

    x, y, x_test, y_test = mnist()
    return x[:3000], y[:3000], x_test[:1000], y_test[:1000]
