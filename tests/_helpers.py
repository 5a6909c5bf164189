"""Helpers shared by several test modules (fixtures live in conftest.py)."""

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np


@contextlib.contextmanager
def within(seconds):
    """Fail the test, rather than hang it, if the body takes longer.

    For calls that would block forever when broken (reading a FIFO): SIGALRM
    interrupts the blocking system call with TimeoutError. Main thread only.
    """

    def expired(signum, frame):
        raise TimeoutError(f"still running after {seconds} s: it blocks")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def without_modules(monkeypatch, *modules):
    """Make ``modules`` look not installed (and the server, which imports
    them, not imported yet), for the rest of the test."""
    import sys

    # The server's own dependencies go too, whatever ran before: a Starlette
    # already imported would not import anyio again.
    gone = {*modules, "starlette", "uvicorn"}
    for name in list(sys.modules):
        if name.split(".")[0] in gone or name.startswith("skmnist.apps.serve"):
            monkeypatch.delitem(sys.modules, name)
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)


def in_ci():
    """Whether the tests run in CI: the environment variable CI is set (not
    to "", "0", "false" or "no"), as CI services and ``.ci/run`` set it."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_programs(purpose, programs, install):
    """Skip (fail in CI) the test unless each of ``programs`` is executable.

    Outside CI a test that needs programs skmnist does not install (a
    browser, say) is skipped with one line that names what is missing and
    how to install it; in CI, which installs them, their absence fails it.
    """
    import pytest

    missing = [
        name
        for name, path in programs.items()
        if not (os.path.isfile(path) and os.access(path, os.X_OK))
    ]
    if not missing:
        return
    message = (
        f"{purpose} needs {' and '.join(missing)}, not found at "
        f"{', '.join(programs[name] for name in missing)} ({install})"
    )
    if in_ci():
        pytest.fail(f"{message}; CI must have them", pytrace=False)
    pytest.skip(message)


def run_on_backend(backend, script, *args, **environment):
    """``script``'s standard output, run with ``args`` on Keras's ``backend``.

    In a process of its own (a process trains on one backend, and the tests'
    may be another), with ``environment``. Where the backend's package is
    missing the test is skipped; in CI, which installs it, failed.
    """
    import importlib.util

    import pytest

    if not importlib.util.find_spec(backend):
        message = f"{backend} is not installed: pip install 'skmnist[{backend}]'"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": backend, **environment},
        cwd=REPO_ROOT,
    )
    if done.returncode:
        raise AssertionError(
            f"the script on {backend} exited with {done.returncode}:\n"
            f"{done.stderr[-4000:]}"
        )
    return done.stdout


def measure_on_backend(backend, script, *args, **environment):
    """The JSON of the last line :func:`run_on_backend` prints."""
    import json

    output = run_on_backend(backend, script, *args, **environment)
    return json.loads(output.strip().splitlines()[-1])


def small_split(X_train, y_train, X_test, y_test):
    """The ``mnist_small`` subset of the raw arrays (one definition for both)."""
    rng = np.random.RandomState(0)
    train = rng.permutation(len(X_train))[:6000]
    test = rng.permutation(len(X_test))[:1000]

    def flat(X):
        return X.reshape(len(X), -1).astype(np.float32) / 255.0

    return (flat(X_train[train]), y_train[train]), (flat(X_test[test]), y_test[test])


def proba_from_another_process(mnist_path, params, tmp_path, env=None):
    """``predict_proba`` on ``mnist_small``'s test rows of a classifier with
    ``params`` fitted on its training rows, in a fresh Python process."""
    out = tmp_path / "proba.npy"
    script = f"""
import numpy as np
from _helpers import small_split
from skmnist import MNISTMLPClassifier, load_mnist
(X, y), (X_test, y_test) = load_mnist({str(mnist_path)!r})
(X, y), (X_test, _) = small_split(X, y, X_test, y_test)
clf = MNISTMLPClassifier(**{params!r}).fit(X, y)
np.save({str(out)!r}, clf.predict_proba(X_test.astype(np.float64)))
"""
    subprocess.run(
        [sys.executable, "-c", script],
        check=True,
        env={**os.environ, **(env or {})},
        cwd=Path(__file__).parent,
    )
    return np.load(out)


REPO_ROOT = Path(__file__).resolve().parents[1]


def find_mnist(scratch):
    """The MNIST file for the tests, found as ``load_mnist()`` finds it.

    ``SKMNIST_DATA``, then this project's checkout copy
    (``../shared/data/mnist.npz``), then the Keras cache, then one download
    into that cache through ``load_mnist()``. Only when all of them fail
    (offline, no copy) does this fail the test, saying what was tried: the
    tests that need MNIST are never skipped. ``scratch()`` gives a folder for
    the downloaded arrays, should Keras have cached them elsewhere.
    """
    import pytest

    from skmnist.data import _mnist as _datasets

    try:
        found = _datasets._local_mnist(checkout=REPO_ROOT)
    except FileNotFoundError as exc:
        pytest.fail(f"MNIST not found: {exc}", pytrace=False)
    if found is not None:
        return found
    try:
        (x_train, y_train), (x_test, y_test) = _datasets.load_mnist()
    except _datasets.MNISTUnavailableError as exc:
        pytest.fail(
            "MNIST not found: set SKMNIST_DATA to a local mnist.npz (or IDX "
            "folder) to run the tests that use real data. This checkout has "
            f"no copy at {_datasets._checkout_copy(REPO_ROOT)}, and:\n{exc}",
            pytrace=False,
        )
    cache = _datasets._keras_cache_path()
    if cache.is_file():
        return cache
    path = Path(scratch()) / "mnist.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path
