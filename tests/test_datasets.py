"""Tests of ``load_mnist``: real MNIST in both formats, lookup order, bad files."""

import gzip
import io
import os
import re
import shutil
import struct
import subprocess
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from skmnist.data import _mnist as _datasets
from skmnist.data._mnist import MNISTUnavailableError, load_mnist

IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
DOTTED_NAMES = {
    "x_train": "train-images.idx3-ubyte",
    "y_train": "train-labels.idx1-ubyte",
    "x_test": "t10k-images.idx3-ubyte",
    "y_test": "t10k-labels.idx1-ubyte",
}
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049


# --- helpers -------------------------------------------------------------


def fake_arrays(n_train=6, n_test=4, size=28, seed=0):
    """Small random MNIST-like arrays, keyed like the Keras npz."""
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (n_train, size, size), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (n_test, size, size), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test, dtype=np.uint8),
    }


def idx_bytes(array, magic=None, shape=None):
    """An IDX file of unsigned bytes; ``magic``/``shape`` override the header."""
    array = np.asarray(array, dtype=np.uint8)
    shape = array.shape if shape is None else shape
    magic = 0x0800 + len(shape) if magic is None else magic
    header = struct.pack(f">{1 + len(shape)}i", magic, *shape)
    return header + array.tobytes()


def write_idx(path, array, magic=None, shape=None, extra=b"", gz=None):
    """Write an IDX file, gzipped when ``path`` ends in ``.gz`` (or ``gz``)."""
    data = idx_bytes(array, magic, shape) + extra
    gz = path.suffix == ".gz" if gz is None else gz
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_idx_folder(folder, arrays, names=IDX_NAMES, suffix=".gz"):
    """Write the four arrays as IDX files into ``folder``."""
    folder.mkdir(exist_ok=True)
    for key, name in names.items():
        write_idx(folder / f"{name}{suffix}", arrays[key])
    return folder


def write_npz(path, arrays):
    np.savez_compressed(path, **arrays)
    return path


def assert_same(loaded, arrays):
    """``loaded`` is ``((X_train, y_train), (X_test, y_test))`` equal to arrays."""
    (X_train, y_train), (X_test, y_test) = loaded
    expected = [arrays[key] for key in ("x_train", "y_train", "x_test", "y_test")]
    for got, want in zip([X_train, y_train, X_test, y_test], expected, strict=True):
        assert got.dtype == np.uint8
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def as_dict(loaded):
    (X_train, y_train), (X_test, y_test) = loaded
    return {"x_train": X_train, "y_train": y_train, "x_test": X_test, "y_test": y_test}


@pytest.fixture
def no_local_data(monkeypatch, tmp_path):
    """No SKMNIST_DATA and an empty Keras home, so only a download is left."""
    monkeypatch.delenv("SKMNIST_DATA", raising=False)
    keras_home = tmp_path / "keras_home"
    keras_home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    return keras_home


@pytest.fixture
def forbid_download(monkeypatch):
    def download():
        pytest.fail("_download_with_keras must not be called here")

    monkeypatch.setattr(_datasets, "_download_with_keras", download)


@pytest.fixture(scope="module")
def idx_folder(mnist_path, mnist, tmp_path_factory):
    """The original gzipped IDX files: the copy beside ``mnist.npz`` in this
    project's checkout, else (a user's machine, the Keras cache) written from
    the arrays."""
    folder = mnist_path.parent / "mnist-idx"
    if folder.is_dir():
        return folder
    return write_idx_folder(tmp_path_factory.mktemp("mnist") / "idx", as_dict(mnist))


# --- the real MNIST --------------------------------------------------------


def test_npz_shapes_and_dtypes(mnist):
    (X_train, y_train), (X_test, y_test) = mnist
    assert X_train.shape == (60000, 28, 28)
    assert y_train.shape == (60000,)
    assert X_test.shape == (10000, 28, 28)
    assert y_test.shape == (10000,)
    for array in (X_train, y_train, X_test, y_test):
        assert array.dtype == np.uint8
        assert array.flags.c_contiguous


def test_canonical_mnist(mnist):
    # The checks of the shared data's README (../shared/data/README.md).
    (X_train, y_train), (_, y_test) = mnist
    assert np.bincount(y_train).tolist() == [
        5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949,
    ]  # fmt: skip
    assert np.bincount(y_test).tolist() == [
        980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009,
    ]  # fmt: skip
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert round(X_train.mean(dtype=np.float64) / 255.0, 4) == 0.1307
    assert round(X_train.std(dtype=np.float64) / 255.0, 4) == 0.3081


def test_returns_fresh_writable_arrays(mnist_path, mnist):
    first = load_mnist(mnist_path)
    second = load_mnist(str(mnist_path))  # a str works as well as a Path
    for a, b in zip(as_dict(first).values(), as_dict(second).values(), strict=True):
        assert a.flags.writeable and a.flags.c_contiguous and a.flags.owndata
        assert not np.shares_memory(a, b)
    first[0][0][0, 0, 0] = 255 - mnist[0][0][0, 0, 0]  # callers may modify
    assert first[0][0][0, 0, 0] != second[0][0][0, 0, 0]


def test_gzipped_idx_folder_matches_npz(idx_folder, mnist):
    assert_same(load_mnist(idx_folder), as_dict(mnist))


def test_uncompressed_idx_folder_matches_npz(idx_folder, mnist, tmp_path):
    for name in IDX_NAMES.values():
        with gzip.open(idx_folder / f"{name}.gz") as src:
            with open(tmp_path / name, "wb") as dst:
                shutil.copyfileobj(src, dst, length=1 << 22)
    assert_same(load_mnist(tmp_path), as_dict(mnist))


def test_dotted_idx_names_of_some_mirrors(idx_folder, mnist, tmp_path):
    for key, name in IDX_NAMES.items():
        (tmp_path / f"{DOTTED_NAMES[key]}.gz").symlink_to(idx_folder / f"{name}.gz")
    assert_same(load_mnist(tmp_path), as_dict(mnist))


# --- lookup order: path, SKMNIST_DATA, Keras cache, download ---------------


def test_path_that_does_not_exist(tmp_path):
    missing = tmp_path / "nowhere" / "mnist.npz"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        load_mnist(missing)


def test_folder_with_mnist_npz_and_no_idx_files(tmp_path, forbid_download):
    arrays = fake_arrays()
    write_npz(tmp_path / "mnist.npz", arrays)
    assert_same(load_mnist(tmp_path), arrays)


@pytest.mark.parametrize("layout", ["npz", "idx"])
def test_skmnist_data_is_honoured(
    layout, monkeypatch, tmp_path, no_local_data, forbid_download
):
    arrays = fake_arrays(seed=1)
    if layout == "npz":
        target = write_npz(tmp_path / "digits.npz", arrays)
    else:
        target = write_idx_folder(tmp_path / "idx", arrays, suffix="")
    monkeypatch.setenv("SKMNIST_DATA", str(target))
    assert_same(load_mnist(), arrays)


def test_path_argument_wins_over_skmnist_data(monkeypatch, tmp_path):
    arrays = fake_arrays(seed=2)
    monkeypatch.setenv("SKMNIST_DATA", str(tmp_path / "missing.npz"))
    assert_same(load_mnist(write_npz(tmp_path / "given.npz", arrays)), arrays)


def test_skmnist_data_set_but_missing(monkeypatch, tmp_path, forbid_download):
    missing = tmp_path / "no-such-mnist.npz"
    monkeypatch.setenv("SKMNIST_DATA", str(missing))
    with pytest.raises(FileNotFoundError, match="SKMNIST_DATA") as info:
        load_mnist()
    assert str(missing) in str(info.value)


def test_keras_cache_is_honoured(
    monkeypatch, tmp_path, mnist_path, mnist, forbid_download
):
    if not mnist_path.is_file():  # SKMNIST_DATA may name an IDX folder
        mnist_path = tmp_path / "real.npz"
        np.savez(mnist_path, **as_dict(mnist))
    monkeypatch.delenv("SKMNIST_DATA", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "mnist.npz").symlink_to(mnist_path)
    assert_same(load_mnist(), as_dict(mnist))


def test_keras_home_defaults_to_dot_keras(monkeypatch, tmp_path):
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    expected = tmp_path / ".keras" / "datasets" / "mnist.npz"
    assert _datasets._keras_cache_path() == expected


def test_download_when_nothing_is_local(monkeypatch, no_local_data):
    arrays = fake_arrays(n_train=3, n_test=2, seed=3)
    calls = []

    def download():
        calls.append(1)
        return (arrays["x_train"], arrays["y_train"]), (
            arrays["x_test"],
            arrays["y_test"],
        )

    monkeypatch.setattr(_datasets, "_download_with_keras", download)
    loaded = load_mnist()
    assert calls == [1]
    assert_same(loaded, arrays)
    assert not np.shares_memory(loaded[0][0], arrays["x_train"])


def test_offline_explains_how_to_fix(monkeypatch, no_local_data):
    def download():
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(_datasets, "_download_with_keras", download)
    with pytest.raises(MNISTUnavailableError) as info:
        load_mnist()
    error = info.value
    assert isinstance(error, OSError)
    assert isinstance(error.__cause__, urllib.error.URLError)
    message = str(error)
    assert "SKMNIST_DATA" in message
    assert "--data" in message
    assert "load_mnist(path=" in message
    assert "offline" in message
    assert str(no_local_data / "datasets" / "mnist.npz") in message


def test_import_does_not_import_keras_or_tensorflow():
    code = (
        "import skmnist.data._mnist, sys; "
        "print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    )
    repo_root = str(Path(__file__).resolve().parents[1])
    pythonpath = [repo_root, os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, pythonpath))}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    assert result.stdout.strip() == "False"


# --- bad files ---------------------------------------------------------------


def _truncated_npz(tmp_path):
    data = io.BytesIO()
    np.savez_compressed(data, **fake_arrays())
    raw = data.getvalue()
    path = tmp_path / "truncated.npz"
    path.write_bytes(raw[: len(raw) // 2])
    return path


def _random_bytes_npz(tmp_path):
    path = tmp_path / "random.npz"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    return path


def _empty_npz(tmp_path):
    path = tmp_path / "empty.npz"
    path.write_bytes(b"")
    return path


def _npy_named_npz(tmp_path):
    path = tmp_path / "single.npz"
    with open(path, "wb") as f:
        np.save(f, fake_arrays()["x_train"])
    return path


def _corrupt_member_npz(tmp_path):
    arrays = fake_arrays(n_train=200, n_test=50)
    data = io.BytesIO()
    np.savez_compressed(data, **arrays)
    raw = bytearray(data.getvalue())
    middle = len(raw) // 3  # inside x_train's compressed data
    raw[middle : middle + 64] = bytes(64)
    path = tmp_path / "corrupt.npz"
    path.write_bytes(bytes(raw))
    return path


def _npz_missing_key(tmp_path):
    arrays = fake_arrays()
    del arrays["y_test"]
    return write_npz(tmp_path / "no_y_test.npz", arrays)


def _npz_with(name, key, value):
    def make(tmp_path):
        arrays = fake_arrays()
        arrays[key] = value(arrays[key])
        return write_npz(tmp_path / name, arrays)

    return make


def _idx_folder_with(name, write_bad):
    """A valid fake IDX folder in which ``write_bad`` rewrites file ``name``."""

    def make(tmp_path):
        arrays = fake_arrays()
        folder = write_idx_folder(tmp_path / "idx", arrays)
        write_bad(folder / name, arrays)
        return folder

    return make


def _truncate_gz(path, arrays):
    raw = gzip.compress(idx_bytes(arrays["x_train"]))
    path.write_bytes(raw[: len(raw) // 2])


def _not_gzip(path, arrays):
    path.write_bytes(idx_bytes(arrays["y_train"]))  # valid IDX, but not gzipped


BAD_FILES = {
    "truncated npz": (_truncated_npz, "truncated.npz"),
    "random bytes npz": (_random_bytes_npz, "random.npz"),
    "empty npz": (_empty_npz, "empty.npz"),
    "npy, not npz": (_npy_named_npz, "single.npz"),
    "corrupt npz member": (_corrupt_member_npz, "corrupt.npz"),
    "npz missing key": (_npz_missing_key, "no_y_test.npz"),
    "float images": (
        _npz_with("float.npz", "x_train", lambda x: x / 255.0),
        "float.npz",
    ),
    "pickled labels": (
        _npz_with("object.npz", "y_train", lambda y: y.astype(object)),
        "object.npz",
    ),
    "2-D labels": (
        _npz_with("labels2d.npz", "y_train", lambda y: y.reshape(-1, 1)),
        "labels2d.npz",
    ),
    "flat images": (
        _npz_with("flat.npz", "x_test", lambda x: x.reshape(len(x), -1)),
        "flat.npz",
    ),
    "labels of 10": (
        _npz_with("ten.npz", "y_test", lambda y: np.full_like(y, 10)),
        "ten.npz",
    ),
    "negative labels": (
        _npz_with("negative.npz", "y_train", lambda y: y.astype(np.int64) - 1),
        "negative.npz",
    ),
    "pixels over 255": (
        _npz_with("bright.npz", "x_train", lambda x: x.astype(np.int32) + 256),
        "bright.npz",
    ),
    "fewer labels than images": (
        _npz_with("short.npz", "y_train", lambda y: y[:-1]),
        "short.npz",
    ),
    "truncated gz idx": (
        _idx_folder_with("train-images-idx3-ubyte.gz", _truncate_gz),
        "train-images-idx3-ubyte.gz",
    ),
    "not gzip idx": (
        _idx_folder_with("train-labels-idx1-ubyte.gz", _not_gzip),
        "train-labels-idx1-ubyte.gz",
    ),
    "wrong magic": (
        _idx_folder_with(
            "t10k-labels-idx1-ubyte.gz",
            lambda p, a: write_idx(p, a["y_test"], magic=IMAGES_MAGIC, shape=(4,)),
        ),
        "t10k-labels-idx1-ubyte.gz",
    ),
    "images magic on labels": (
        _idx_folder_with(
            "t10k-images-idx3-ubyte.gz",
            lambda p, a: write_idx(p, a["y_test"], magic=LABELS_MAGIC),
        ),
        "t10k-images-idx3-ubyte.gz",
    ),
    "idx trailing bytes": (
        _idx_folder_with(
            "train-images-idx3-ubyte.gz",
            lambda p, a: write_idx(p, a["x_train"], extra=b"\0" * 7),
        ),
        "train-images-idx3-ubyte.gz",
    ),
    "idx short payload": (
        _idx_folder_with(
            "t10k-images-idx3-ubyte.gz",
            lambda p, a: write_idx(p, a["x_test"], shape=(5, 28, 28)),
        ),
        "t10k-images-idx3-ubyte.gz",
    ),
    "idx header only": (
        _idx_folder_with(
            "train-labels-idx1-ubyte.gz",
            lambda p, a: p.write_bytes(gzip.compress(struct.pack(">i", 2049))),
        ),
        "train-labels-idx1-ubyte.gz",
    ),
    "idx labels 10+": (
        _idx_folder_with(
            "train-labels-idx1-ubyte.gz",
            lambda p, a: write_idx(p, a["y_train"] + 10),
        ),
        "train-labels-idx1-ubyte.gz",
    ),
    "idx count mismatch": (
        _idx_folder_with(
            "t10k-labels-idx1-ubyte.gz",
            lambda p, a: write_idx(p, a["y_test"][:-1]),
        ),
        "t10k-labels-idx1-ubyte.gz",
    ),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_bad_file_raises_value_error_naming_it(case, tmp_path):
    make, name = BAD_FILES[case]
    path = make(tmp_path)
    with pytest.raises(ValueError, match=re.escape(name)):
        load_mnist(path)


def test_gzipped_idx_without_gz_suffix_gets_a_hint(tmp_path):
    folder = write_idx_folder(tmp_path, fake_arrays(), suffix="")
    name = IDX_NAMES["x_train"]
    raw = (folder / name).read_bytes()
    (folder / name).write_bytes(gzip.compress(raw))
    with pytest.raises(ValueError, match=r"wrong IDX magic.*'\.gz'"):
        load_mnist(folder)


def test_missing_idx_file_names_it_and_the_folder(tmp_path):
    folder = write_idx_folder(tmp_path / "idx", fake_arrays())
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(folder)
    message = str(info.value)
    assert "t10k-labels-idx1-ubyte" in message
    assert str(folder) in message
    assert "train-images-idx3-ubyte" not in message  # only what is missing


def test_empty_folder_is_missing_all_idx_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_mnist(tmp_path)


def test_integer_arrays_in_range_are_cast_to_uint8(tmp_path):
    arrays = fake_arrays()
    wide = {key: value.astype(np.int64) for key, value in arrays.items()}
    loaded = load_mnist(write_npz(tmp_path / "wide.npz", wide))
    assert_same(loaded, arrays)


def test_small_square_images_are_accepted(tmp_path):
    arrays = fake_arrays(size=8)
    assert_same(load_mnist(write_idx_folder(tmp_path, arrays)), arrays)


# --- regular files only, of bounded size ---------------------------------------


def test_a_fifo_or_a_device_is_refused_without_blocking(tmp_path):
    """The finding: `skmnist evaluate --data` on a FIFO waited for a writer
    until killed."""
    from _helpers import within

    fifo = tmp_path / "mnist.npz"
    os.mkfifo(fifo)
    with within(20), pytest.raises(ValueError, match="not a regular file but a FIFO"):
        load_mnist(fifo)
    with within(20), pytest.raises(ValueError, match="character device"):
        load_mnist("/dev/zero")
    # In a folder of IDX files, a FIFO is not a file: reported missing, unread.
    folder = write_idx_folder(tmp_path / "idx", fake_arrays())
    name = "t10k-labels-idx1-ubyte"
    (folder / f"{name}.gz").unlink()
    os.mkfifo(folder / name)
    with within(20), pytest.raises(FileNotFoundError, match=name):
        load_mnist(folder)


def test_files_and_decompressed_idx_are_bounded(tmp_path, monkeypatch):
    arrays = fake_arrays()
    npz = write_npz(tmp_path / "small.npz", arrays)
    folder = write_idx_folder(tmp_path / "idx", arrays)
    size = npz.stat().st_size
    monkeypatch.setattr(_datasets, "MAX_DATA_BYTES", size - 1)
    with pytest.raises(ValueError, match=f"{size} bytes, more than the {size - 1}"):
        load_mnist(npz)
    # A gzip bomb: 2,000 blank images, a few KB on disk, refused once more
    # than the bound has come out of it.
    header = struct.pack(">iiii", 2051, 2000, 28, 28)
    bomb = gzip.compress(header + bytes(2000 * 28 * 28))
    (folder / "train-images-idx3-ubyte.gz").write_bytes(bomb)
    monkeypatch.setattr(_datasets, "MAX_DATA_BYTES", 100_000)
    assert len(bomb) < 100_000 < len(header) + 2000 * 28 * 28
    with pytest.raises(ValueError, match="decompresses to more than 100000 bytes"):
        load_mnist(folder)


MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"


def test_offline_the_error_is_all_that_is_printed(tmp_path):
    """The finding: TensorFlow's start-up lines (oneDNN, CUDA, CPU features)
    came before the offline error. A proxy on a closed port makes the download
    fail at once."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("SKMNIST_DATA", "TF_CPP_MIN_LOG_LEVEL")
    }
    import skmnist

    env.update(
        # The skmnist under test, wherever the process starts.
        PYTHONPATH=str(Path(skmnist.__file__).parents[1]),
        KERAS_HOME=str(tmp_path / "keras"),
        HTTPS_PROXY="http://127.0.0.1:9",
        https_proxy="http://127.0.0.1:9",
    )
    done = subprocess.run(
        [sys.executable, "-m", "skmnist", "train", "--output", str(tmp_path / "m")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("skmnist train: error: MNIST is not available")
    assert done.stderr.count("\n") == 1, done.stderr
    # Keras says what it tried to download, on stdout; nothing else.
    assert done.stdout in ("", f"Downloading data from {MNIST_URL}\n"), done.stdout
