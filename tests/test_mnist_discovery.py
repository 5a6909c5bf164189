"""How the tests find MNIST: as ``load_mnist()`` does, never skipping.

``tests/_helpers.find_mnist`` (behind the ``mnist_path`` fixture) tries
``SKMNIST_DATA``, this project's checkout copy, the Keras cache, then one
download into that cache; it fails, with what was tried, only when all fail.
These tests fake the places and the download: nothing is fetched.
"""

import urllib.error

import _helpers
import numpy as np
import pytest
from _helpers import find_mnist

from skmnist.data import _mnist as _datasets


def _arrays():
    rng = np.random.RandomState(0)
    return {
        "x_train": rng.randint(0, 256, (6, 28, 28)).astype(np.uint8),
        "y_train": np.arange(6, dtype=np.uint8),
        "x_test": rng.randint(0, 256, (2, 28, 28)).astype(np.uint8),
        "y_test": np.arange(2, dtype=np.uint8),
    }


@pytest.fixture
def places(monkeypatch, tmp_path):
    """No SKMNIST_DATA, a checkout without a copy, an empty Keras home."""
    monkeypatch.delenv("SKMNIST_DATA", raising=False)
    checkout = tmp_path / "work" / "repo"
    checkout.mkdir(parents=True)
    monkeypatch.setattr(_helpers, "REPO_ROOT", checkout)
    keras_home = tmp_path / "keras"
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    downloads = []

    def download():
        pytest.fail("downloaded although a local copy exists")

    monkeypatch.setattr(_datasets, "_download_with_keras", download)
    return {
        "checkout copy": tmp_path / "work" / "shared" / "data" / "mnist.npz",
        "cache": keras_home / "datasets" / "mnist.npz",
        "scratch": tmp_path / "scratch",
        "downloads": downloads,
    }


def _put(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **_arrays())
    return path


def _scratch(places):
    def make():
        places["scratch"].mkdir()
        return places["scratch"]

    return make


def test_skmnist_data_comes_first(places, monkeypatch, tmp_path):
    _put(places["checkout copy"])
    _put(places["cache"])
    mine = _put(tmp_path / "mine.npz")
    monkeypatch.setenv("SKMNIST_DATA", str(mine))
    assert find_mnist(_scratch(places)) == mine


def test_skmnist_data_naming_nothing_fails_clearly(places, monkeypatch, tmp_path):
    _put(places["checkout copy"])
    monkeypatch.setenv("SKMNIST_DATA", str(tmp_path / "typo.npz"))
    with pytest.raises(pytest.fail.Exception, match=r"MNIST not found: .*SKMNIST_DATA"):
        find_mnist(_scratch(places))


def test_then_the_checkout_copy(places):
    _put(places["cache"])
    copy = _put(places["checkout copy"])
    assert find_mnist(_scratch(places)) == copy


def test_then_the_keras_cache(places):
    cache = _put(places["cache"])
    assert find_mnist(_scratch(places)) == cache


def _keras_like_download(places, monkeypatch, *, writes_cache=True):
    def download():
        places["downloads"].append(1)
        if writes_cache:
            _put(places["cache"])
        a = _arrays()
        return (a["x_train"], a["y_train"]), (a["x_test"], a["y_test"])

    monkeypatch.setattr(_datasets, "_download_with_keras", download)


def test_then_one_download_into_the_keras_cache(places, monkeypatch):
    """The finding: on a fresh machine with internet, the tests failed with
    "MNIST not found" although load_mnist() would have downloaded it."""
    _keras_like_download(places, monkeypatch)
    assert find_mnist(_scratch(places)) == places["cache"]
    assert find_mnist(_scratch(places)) == places["cache"]
    assert places["downloads"] == [1]  # the second time, the cache answers
    assert not places["scratch"].exists()


def test_a_download_cached_elsewhere_is_kept_for_the_session(places, monkeypatch):
    _keras_like_download(places, monkeypatch, writes_cache=False)
    path = find_mnist(_scratch(places))
    assert path == places["scratch"] / "mnist.npz"
    (X_train, y_train), _ = _datasets.load_mnist(path)
    np.testing.assert_array_equal(X_train, _arrays()["x_train"])
    np.testing.assert_array_equal(y_train, _arrays()["y_train"])


def test_offline_without_a_copy_fails_never_skips(places, monkeypatch):
    def offline():
        places["downloads"].append(1)
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(_datasets, "_download_with_keras", offline)
    with pytest.raises(BaseException) as info:
        find_mnist(_scratch(places))
    assert isinstance(info.value, pytest.fail.Exception)
    assert not isinstance(info.value, pytest.skip.Exception)
    message = str(info.value)
    assert message.startswith("MNIST not found: set SKMNIST_DATA")
    assert str(places["checkout copy"]) in message
    assert str(places["cache"]) in message and "no network" in message
    assert places["downloads"] == [1]


def test_load_mnist_and_the_tests_share_one_lookup(places, monkeypatch):
    """Without a checkout, the lookup is load_mnist()'s own."""
    assert _datasets._local_mnist() is None
    cache = _put(places["cache"])
    assert _datasets._local_mnist() == cache
    copy = _put(places["checkout copy"])
    assert _datasets._local_mnist() == cache  # users have no checkout copy
    assert _datasets._local_mnist(checkout=_helpers.REPO_ROOT) == copy
