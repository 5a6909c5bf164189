"""Shared fixtures: the real MNIST data set.

It is found as ``load_mnist()`` finds it (``tests/_helpers.find_mnist``):
``SKMNIST_DATA``, this project's checkout copy ``../shared/data/mnist.npz``,
the Keras cache, then one download into that cache. Tests that need MNIST
fail (they are never skipped) only when all of these fail, so a green run
always means they ran.
"""

import os

# scikit-learn's array API check runs only when SciPy is imported with this
# set; without it the check is skipped rather than run.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import pytest
from _helpers import find_mnist, small_split


@pytest.fixture(scope="session")
def mnist_path(tmp_path_factory):
    """Path of the local ``mnist.npz`` (or of a folder of IDX files)."""
    return find_mnist(lambda: tmp_path_factory.mktemp("mnist"))


@pytest.fixture(scope="session")
def mnist(mnist_path):
    """``(X_train, y_train), (X_test, y_test)`` of the real MNIST, read-only."""
    from skmnist import load_mnist

    (X_train, y_train), (X_test, y_test) = load_mnist(mnist_path)
    for array in (X_train, y_train, X_test, y_test):
        array.setflags(write=False)
    return (X_train, y_train), (X_test, y_test)


@pytest.fixture(scope="session")
def mnist_small(mnist):
    """A random 6,000/1,000 subset, flattened and scaled, for quick fits."""
    (X_train, y_train), (X_test, y_test) = mnist
    return small_split(X_train, y_train, X_test, y_test)


TUTORIAL_SEEDS = (1, 2, 3)


@pytest.fixture(scope="session")
def tutorial_pipelines(mnist):
    """The default pipeline fitted on all of MNIST, once per seed.

    Training the tutorial model costs tens of seconds, so the accuracy test
    and the persistence tests share these fits.
    """
    from skmnist import make_mnist_pipeline

    (X_train, y_train), _ = mnist
    return {
        seed: make_mnist_pipeline(random_state=seed).fit(X_train, y_train)
        for seed in TUTORIAL_SEEDS
    }


@pytest.fixture(scope="session")
def serve_model_path(mnist, tmp_path_factory):
    """A small pipeline (64 hidden units, one epoch on 5,000 digits) saved with
    ``skmnist.save``, for the ``skmnist serve`` tests, trained once."""
    import skmnist
    from skmnist import make_mnist_pipeline

    (X_train, y_train), _ = mnist
    pipeline = make_mnist_pipeline(hidden_layer_sizes=(64,), epochs=1, random_state=0)
    pipeline.fit(X_train[:5000], y_train[:5000])
    return skmnist.save(pipeline, tmp_path_factory.mktemp("serve") / "tiny.skmnist")
