"""pytest set-up for the doctests: ``pytest --doctest-modules skmnist``.

The examples in skmnist's docstrings run as doctests (``.ci/run`` runs them),
each in a fresh temporary folder as its working directory, so that examples
which save files can use plain names. Those that load MNIST call
``load_mnist()``, which finds it as it does for users (``SKMNIST_DATA``, the
Keras cache, a download); in this project's checkout, the copy
``../shared/data/mnist.npz`` beside the repository is used first, as in
``tests/conftest.py``.
"""

import os
from pathlib import Path

import pytest

_CHECKOUT = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _doctest_environment(request, monkeypatch):
    if type(request.node).__name__ != "DoctestItem":
        return
    monkeypatch.chdir(request.getfixturevalue("tmp_path"))
    if not os.environ.get("SKMNIST_DATA"):
        from skmnist.data._mnist import _local_mnist

        local = _local_mnist(checkout=_CHECKOUT)
        if local is not None:
            monkeypatch.setenv("SKMNIST_DATA", str(local))
    # Figures drawn by the examples go to no screen.
    import matplotlib

    matplotlib.use("Agg")
