"""pytest set-up for the doctests: ``pytest --doctest-modules skmnist``.

The examples in skmnist's docstrings run as doctests (``.ci/run`` runs them),
each in a fresh temporary folder as its working directory, so that examples
which save files can use plain names. Those that load MNIST find it through
``SKMNIST_DATA``; when that is unset, this project's checkout layout is tried,
as in ``tests/conftest.py``: ``../shared/data/mnist.npz`` next to the
repository.
"""

import os
from pathlib import Path

import pytest

_SHARED_MNIST = Path(__file__).resolve().parent.parent / "shared/data/mnist.npz"


@pytest.fixture(autouse=True)
def _doctest_environment(request, monkeypatch):
    if type(request.node).__name__ != "DoctestItem":
        return
    monkeypatch.chdir(request.getfixturevalue("tmp_path"))
    if not os.environ.get("SKMNIST_DATA") and _SHARED_MNIST.exists():
        monkeypatch.setenv("SKMNIST_DATA", str(_SHARED_MNIST))
    # Figures drawn by the examples go to no screen.
    import matplotlib

    matplotlib.use("Agg")
