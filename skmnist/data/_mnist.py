"""Load the MNIST digits from a local file, the Keras cache or a download.

Only numpy and the standard library are imported here: Keras (and with it
TensorFlow, seconds of start-up) is imported only when a download is needed.
"""

import errno
import gzip
import math
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .._utils.files import open_regular

__all__ = ["MNISTUnavailableError", "load_mnist"]

_ENV_VAR = "SKMNIST_DATA"

_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")

# Standard IDX names, and the dotted spelling some mirrors use instead.
_IDX_NAMES = {
    "x_train": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "y_train": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "x_test": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "y_test": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}

# IDX magic numbers: 0x08 (unsigned byte) in the third byte, then the rank.
_IDX_IMAGES_MAGIC = 2051
_IDX_LABELS_MAGIC = 2049
_GZIP_MAGIC = b"\x1f\x8b"
_NPY_MAGIC = b"\x93NUMPY"

# The largest data file read (an npz, or an IDX file once decompressed): about
# four times EMNIST's largest split (550 MB of images), so that MNIST-like
# sets load while a gzip bomb is refused before memory runs out.
MAX_DATA_BYTES = 2 * 1024**3

_N_CLASSES = 10
_MAX_PIXEL = 255

# What np.load and reading npz members raise on a truncated or foreign file.
_NPZ_READ_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error)
_GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


class MNISTUnavailableError(OSError):
    """MNIST is neither available locally nor could it be downloaded.

    Raised by :func:`load_mnist` when it is called without a path, finds no
    local copy and cannot download one; ``skmnist train`` without ``--data``
    prints its message and exits with status 1. A subclass of
    :class:`OSError`, so ``except OSError`` catches it too; the exception the
    download raised is its ``__cause__``.

    Parameters
    ----------
    message : str
        What was tried (``SKMNIST_DATA``, the Keras cache path, the download
        and its error) and the three ways to use a local copy:
        ``export SKMNIST_DATA=...``, ``load_mnist(path=...)`` and
        ``skmnist train --data ...``.

    Attributes
    ----------
    args : tuple of str
        ``(message,)``, as for any exception.

    See Also
    --------
    load_mnist : Where the data is looked for.

    Examples
    --------
    >>> from skmnist import MNISTUnavailableError, load_mnist
    >>> issubclass(MNISTUnavailableError, OSError)
    True
    >>> try:
    ...     (X_train, y_train), (X_test, y_test) = load_mnist()
    ... except MNISTUnavailableError as exc:
    ...     print(exc)  # what was tried, and how to use a local copy
    >>> X_train.shape
    (60000, 28, 28)
    """


def load_mnist(path=None):
    """Load the MNIST digits, like ``keras.datasets.mnist.load_data()``.

    Parameters
    ----------
    path : str, os.PathLike or None, default=None
        Either a Keras-style ``.npz`` file with the arrays ``x_train``,
        ``y_train``, ``x_test`` and ``y_test``, or a folder holding the four
        original IDX files (``train-images-idx3-ubyte``,
        ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
        ``t10k-labels-idx1-ubyte``), each gzipped (``.gz``) or not; the dotted
        names of some mirrors (``train-images.idx3-ubyte``, ...) work too. A
        folder without IDX files but with a ``mnist.npz`` loads that file.
        If None, the data is looked for, in order, at the path in the
        ``SKMNIST_DATA`` environment variable (same rules; an empty value
        counts as unset), in the Keras cache
        ``$KERAS_HOME/datasets/mnist.npz`` (``KERAS_HOME`` defaults to
        ``~/.keras``), and finally downloaded through Keras, which caches it.

    Returns
    -------
    (X_train, y_train), (X_test, y_test) : tuple of tuples of ndarray
        Images of shape (n_samples, height, width) and labels of shape
        (n_samples,), all uint8: 60,000 training and 10,000 test digits of
        28x28 pixels (0-255) for the real MNIST. The arrays are fresh,
        writable and C-contiguous.

    Raises
    ------
    FileNotFoundError
        If ``path`` or ``SKMNIST_DATA`` does not exist, or a folder lacks one
        of the four IDX files.
    ValueError
        If a file is truncated, corrupt or not MNIST: not an npz archive, a
        missing array, non-integer or out-of-range values, inconsistent
        shapes, a wrong IDX magic number or an IDX size that does not match
        its header; or if a path is not a regular file (a FIFO or a device,
        refused unread) or holds more than 2 GiB (``MAX_DATA_BYTES``, an IDX
        file once decompressed). Integer arrays with values within 0-255
        (labels 0-9) are accepted and cast to uint8.
    MNISTUnavailableError
        If ``path`` is None, nothing is found locally and the download fails;
        a subclass of OSError whose message says how to use a local copy.

    See Also
    --------
    MNISTUnavailableError : Raised when there is no local copy and no download.

    Examples
    --------
    With ``SKMNIST_DATA`` set to a local copy (offline, or to skip the
    download), or with ``load_mnist(path="/path/to/mnist.npz")``:

    >>> from skmnist import load_mnist
    >>> (X_train, y_train), (X_test, y_test) = load_mnist()
    >>> X_train.shape, y_train.shape, X_test.shape, y_test.shape
    ((60000, 28, 28), (60000,), (10000, 28, 28), (10000,))
    >>> X_train.dtype, int(X_train.max()), y_train[:10].tolist()
    (dtype('uint8'), 255, [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])
    """
    if path is not None:
        return _load_from(Path(os.fspath(path)).expanduser())
    local = _local_mnist()
    if local is not None:
        return _load_from(local)
    return _download(_keras_cache_path())


def _local_mnist(checkout=None):
    """The local copy that ``load_mnist()`` reads, or None if it would download.

    The one definition of the lookup order, for ``load_mnist`` and the tests:
    ``SKMNIST_DATA`` (an error if it names nothing), then, only when
    ``checkout`` (a source checkout's root) is given, the copy that this
    project's layout keeps beside it, ``../shared/data/mnist.npz``, then the
    Keras cache.
    """
    env_value = os.environ.get(_ENV_VAR)
    if env_value:
        env_path = Path(env_value).expanduser()
        if not env_path.exists():
            raise FileNotFoundError(
                errno.ENOENT,
                f"the {_ENV_VAR} environment variable names a path that does not exist",
                env_value,
            )
        return env_path
    if checkout is not None:
        shared = _checkout_copy(checkout)
        if shared.is_file():
            return shared
    cache_path = _keras_cache_path()
    return cache_path if cache_path.is_file() else None


def _checkout_copy(checkout):
    """Where this project's checkout layout keeps MNIST, beside the repository."""
    return Path(checkout).resolve().parent / "shared" / "data" / "mnist.npz"


def _keras_cache_path():
    """Where ``keras.datasets.mnist.load_data()`` caches its file."""
    # Computed here rather than asked of Keras, which would import TensorFlow.
    keras_home = os.environ.get("KERAS_HOME") or os.path.join("~", ".keras")
    return Path(keras_home).expanduser() / "datasets" / "mnist.npz"


def _download(cache_path):
    """Download MNIST through Keras, or explain how to work offline."""
    try:
        # Looked up at call time, so that tests can monkeypatch it.
        downloaded = _download_with_keras()
    except Exception as exc:
        raise MNISTUnavailableError(_unavailable_message(cache_path, exc)) from exc

    source = "the arrays returned by keras.datasets.mnist.load_data()"
    try:
        (x_train, y_train), (x_test, y_test) = downloaded
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{source}: expected ((x_train, y_train), (x_test, y_test))"
        ) from exc
    # Copies, so the caller owns what it gets whatever the downloader keeps.
    arrays = {
        "x_train": np.array(x_train, copy=True),
        "y_train": np.array(y_train, copy=True),
        "x_test": np.array(x_test, copy=True),
        "y_test": np.array(y_test, copy=True),
    }
    where = {key: f"{source} ({key})" for key in _NPZ_KEYS}
    return _checked_splits(arrays, where)


def _download_with_keras():
    """Download MNIST into the Keras cache and return its four arrays."""
    # Imported only here: Keras imports TensorFlow, which local loads never
    # need. Through skmnist's one Keras module, which keeps TensorFlow's native
    # start-up lines off stderr; the download loads more of TensorFlow's native
    # libraries, which print them again, so it runs silenced too. Its errors
    # are Python exceptions, shown after: offline, the error is all one sees.
    from ..training import _keras

    with _keras._native_stderr_silenced():
        return _keras.keras.datasets.mnist.load_data()


def _unavailable_message(cache_path, exc):
    """Say what was tried and how to point skmnist at a local copy."""
    return (
        "MNIST is not available: no local copy was found and the download "
        "failed.\n"
        "Tried, in order:\n"
        f"  1. the {_ENV_VAR} environment variable: not set\n"
        f"  2. the Keras cache: {cache_path} does not exist\n"
        "  3. downloading through keras.datasets.mnist.load_data(): failed: "
        f"{type(exc).__name__}: {exc}\n"
        "To use a local copy (a Keras-style mnist.npz, or a folder holding the "
        "four IDX files, gzipped or not), do one of:\n"
        f"  export {_ENV_VAR}=/path/to/mnist.npz   # or a folder of IDX files\n"
        '  load_mnist(path="/path/to/mnist.npz")\n'
        "  skmnist train --data /path/to/mnist.npz"
    )


def _load_from(path):
    """Load an npz file or an IDX folder, whichever ``path`` is."""
    if path.is_dir():
        return _load_idx_folder(path)
    if not path.exists():
        raise FileNotFoundError(
            errno.ENOENT, "MNIST data file or folder not found", str(path)
        )
    return _load_npz(path)


def _load_npz(path):
    """Read the four arrays of a Keras-style ``mnist.npz``."""
    with open_regular(path, max_bytes=MAX_DATA_BYTES, what="MNIST data file") as f:
        return _read_npz(f, path)


def _read_npz(file, path):
    _check_is_zip(file, path)
    try:
        # allow_pickle=False: a data file must never run code when loaded.
        archive = np.load(file, allow_pickle=False)
    except _NPZ_READ_ERRORS as exc:
        raise ValueError(
            f"{path}: not a valid .npz file ({type(exc).__name__}: {exc})"
        ) from exc

    with archive:
        missing = [key for key in _NPZ_KEYS if key not in archive.files]
        if missing:
            raise ValueError(
                f"{path}: missing array(s) {', '.join(missing)}; a Keras-style "
                f"MNIST .npz holds {', '.join(_NPZ_KEYS)} "
                f"(found: {', '.join(archive.files) or 'nothing'})"
            )
        arrays = {}
        for key in _NPZ_KEYS:
            try:
                arrays[key] = archive[key]
            except _NPZ_READ_ERRORS as exc:
                raise ValueError(
                    f"{path}: cannot read array {key!r} ({type(exc).__name__}: {exc})"
                ) from exc

    where = {key: f"{path} (array {key!r})" for key in _NPZ_KEYS}
    return _checked_splits(arrays, where)


def _check_is_zip(file, path):
    """Reject what is not a zip archive before np.load guesses at it."""
    # Otherwise np.load takes any other bytes for a pickle, and its error
    # suggests loading the file unsafely.
    head = file.read(len(_NPY_MAGIC))
    file.seek(0)
    if head == _NPY_MAGIC:
        raise ValueError(
            f"{path}: holds a single .npy array, not an .npz archive of "
            f"{', '.join(_NPZ_KEYS)}"
        )
    is_zip = zipfile.is_zipfile(file)
    file.seek(0)
    if not is_zip:
        raise ValueError(
            f"{path}: not a valid .npz file: not a zip archive "
            f"({os.fstat(file.fileno()).st_size} bytes; truncated, or another "
            "format)"
        )


def _load_idx_folder(folder):
    """Read the four IDX files of a folder, gzipped or not."""
    files = {key: _find_idx_file(folder, names) for key, names in _IDX_NAMES.items()}
    missing = [names[0] for key, names in _IDX_NAMES.items() if files[key] is None]
    if len(missing) == len(_IDX_NAMES) and (folder / "mnist.npz").is_file():
        return _load_npz(folder / "mnist.npz")
    if missing:
        raise FileNotFoundError(
            errno.ENOENT,
            f"MNIST IDX file(s) missing: {', '.join(missing)} "
            "(each may also be gzipped, '.gz') in folder",
            str(folder),
        )

    arrays = {
        key: _read_idx(path, _IDX_LABELS_MAGIC if key[0] == "y" else _IDX_IMAGES_MAGIC)
        for key, path in files.items()
    }
    return _checked_splits(arrays, {key: str(path) for key, path in files.items()})


def _find_idx_file(folder, names):
    """The first existing spelling of one IDX file, or None."""
    # Uncompressed first: when both exist, it skips the decompression.
    for name in names:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _read_idx(path, magic):
    """Parse one IDX file of unsigned bytes, checking its header."""
    raw = _read_maybe_gzipped(path)
    if len(raw) < 4:
        raise ValueError(f"{path}: truncated IDX file: {len(raw)} bytes, no header")

    found_magic = int(np.frombuffer(raw, dtype=">i4", count=1)[0])
    if found_magic != magic:
        kind = "images" if magic == _IDX_IMAGES_MAGIC else "labels"
        hint = ""
        if raw[:2] == _GZIP_MAGIC:
            hint = "; the file looks gzipped: give it a '.gz' suffix"
        raise ValueError(
            f"{path}: wrong IDX magic number {found_magic} "
            f"(expected {magic} for MNIST {kind}){hint}"
        )

    rank = magic & 0xFF
    header_size = 4 * (1 + rank)
    if len(raw) < header_size:
        raise ValueError(
            f"{path}: truncated IDX file: {len(raw)} bytes, shorter than its "
            f"{header_size}-byte header"
        )

    shape = tuple(int(d) for d in np.frombuffer(raw, ">i4", count=rank, offset=4))
    if min(shape) < 0:
        raise ValueError(f"{path}: negative dimension in IDX header {shape}")
    expected = math.prod(shape)
    found = len(raw) - header_size
    if found != expected:
        problem = "truncated" if found < expected else "trailing bytes"
        raise ValueError(
            f"{path}: {problem}: the IDX header declares shape {shape}, "
            f"{expected} bytes of data, but the file holds {found}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)


def _read_maybe_gzipped(path):
    """The bytes of a file, decompressed when its name ends in ``.gz``.

    At most ``MAX_DATA_BYTES``, compressed or not: a gzip bomb is refused
    once that much has come out of it.
    """
    with open_regular(path, max_bytes=MAX_DATA_BYTES, what="MNIST IDX file") as f:
        if path.suffix != ".gz":
            return f.read()
        try:
            with gzip.GzipFile(fileobj=f) as unzipped:
                data = unzipped.read(MAX_DATA_BYTES + 1)
        except _GZIP_ERRORS as exc:
            raise ValueError(
                f"{path}: corrupt or truncated gzip file ({type(exc).__name__}: {exc})"
            ) from exc
    if len(data) > MAX_DATA_BYTES:
        raise ValueError(
            f"{path}: decompresses to more than {MAX_DATA_BYTES} bytes, the "
            "limit for an MNIST IDX file"
        )
    return data


def _checked_splits(arrays, where):
    """Validate the four arrays and return them as Keras does."""
    train = _checked_split(arrays, where, "x_train", "y_train")
    test = _checked_split(arrays, where, "x_test", "y_test")
    return train, test


def _checked_split(arrays, where, images_key, labels_key):
    """One (images, labels) pair, validated, as owned uint8 arrays."""
    images = _checked_images(arrays[images_key], where[images_key])
    labels = _checked_labels(arrays[labels_key], where[labels_key])
    if len(images) != len(labels):
        raise ValueError(
            f"{where[images_key]} holds {len(images)} images but "
            f"{where[labels_key]} holds {len(labels)} labels"
        )
    return images, labels


def _checked_images(images, where):
    """Images of shape (n, h, w), square, pixel values within 0-255."""
    images = _integer_array(images, where, "images")
    if images.ndim != 3 or images.shape[1] != images.shape[2] or images.shape[1] == 0:
        raise ValueError(
            f"{where}: images must have shape (n_samples, size, size) with "
            f"square, non-empty images; got shape {images.shape}"
        )
    return _as_owned_uint8(images, where, "pixel values", _MAX_PIXEL)


def _checked_labels(labels, where):
    """Labels of shape (n,), digits 0-9."""
    labels = _integer_array(labels, where, "labels")
    if labels.ndim != 1:
        raise ValueError(
            f"{where}: labels must have shape (n_samples,); got shape {labels.shape}"
        )
    return _as_owned_uint8(labels, where, "labels", _N_CLASSES - 1)


def _integer_array(values, where, what):
    """Reject what is not a non-empty integer array."""
    if not isinstance(values, np.ndarray):
        raise ValueError(f"{where}: {what} must be a numpy array, not {type(values)}")
    if values.dtype.kind not in "ui":
        raise ValueError(
            f"{where}: {what} must be integers (uint8); got dtype {values.dtype}"
        )
    if values.size == 0:
        raise ValueError(f"{where}: no {what} (shape {values.shape})")
    return values


def _as_owned_uint8(values, where, what, max_value):
    """Cast to uint8 after checking the range, as a writable C array."""
    # uint8 cannot leave the pixel range; checking it would cost a full pass.
    if values.dtype != np.uint8 or max_value < _MAX_PIXEL:
        low, high = int(values.min()), int(values.max())
        if low < 0 or high > max_value:
            raise ValueError(
                f"{where}: {what} must be within 0-{max_value}; "
                f"found values from {low} to {high}"
            )
    # "O" copies views (of a file's bytes, say), so callers own what they get.
    return np.require(values, dtype=np.uint8, requirements=["C", "W", "O"])
