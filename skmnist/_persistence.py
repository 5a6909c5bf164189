"""Save and load fitted skmnist models in a format that holds data, not code.

A model file is a zip archive:

``skmnist.json``
    What the model is: the format name (``"skmnist-model"``) and version, the
    versions of skmnist, scikit-learn and NumPy that wrote it, and the
    estimator: its class name (one of an allow-list), its parameters, its
    fitted attributes (those whose name ends in ``_``) and, where the
    estimator offers it, the private state needed to continue training. A
    :class:`~sklearn.pipeline.Pipeline` is stored as its named steps.
``arrays/<i>.npy``
    Each NumPy array the JSON refers to (weights, biases, class labels...),
    in NumPy's ``.npy`` format, read back with ``allow_pickle=False``.

Values that JSON does not tell apart are tagged: a tuple is
``{"__tuple__": [...]}``, a dict ``{"__dict__": [[key, value], ...]}``, an
array ``{"__ndarray__": "arrays/0.npy"}``, an array of Python objects (string
class labels, feature names) ``{"__object_array__": [...], "shape": [...]}``,
a NumPy scalar ``{"__scalar__": dtype, "value": ...}``, a non-finite float
``{"__float__": "nan"}`` and a ``RandomState`` its state. Anything else, such
as a callable, cannot be saved: :func:`save` says which attribute holds it.

Loading never unpickles and never imports TensorFlow: only the allow-listed
classes are created, from their parameters, and given their attributes back.
It reads within bounds (the member count, the directory and manifest sizes,
the JSON nesting depth, and in all a few times the file's size: each array's
``.npy`` header is checked against its member's size and that budget before
its data is read), checks the weights against the network's description, and
runs one row of zeros through a fitted model, so that whatever the file, it
either gives a working model or raises one ``ValueError`` naming the file.
"""

import errno
import io
import json
import math
import os
import re
import stat
import struct
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ._cnn import MNISTCNNClassifier
from ._io import atomic_path, file_kind
from ._mlp import MNISTMLPClassifier
from ._preprocessing import MNISTPreprocessor
from ._version import __version__

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "load", "save"]

FORMAT_NAME = "skmnist-model"
FORMAT_VERSION = 1

_MANIFEST = "skmnist.json"
_ARRAY_DIR = "arrays/"
# A fixed timestamp, so that saving the same model twice gives the same bytes.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)

# The only classes a file may name. Pipelines are handled on their own, and
# sklearn.pipeline is imported only when a file holds one.
_ESTIMATORS = {
    cls.__name__: cls
    for cls in (MNISTMLPClassifier, MNISTCNNClassifier, MNISTPreprocessor)
}
_PIPELINE = "Pipeline"
_PASSTHROUGH = "passthrough"

# What reading a damaged (or crafted) zip archive or one of its members can
# raise: bad CRCs and headers, unsupported compression, encrypted members.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    NotImplementedError,
    RuntimeError,
)
# Pickle protocol 2+ starts with b"\x80"; joblib files are such pickles.
_PICKLE_MAGIC = b"\x80"


class _NotStorable(ValueError):
    """A value that the format cannot hold without pickling code."""


# -- save ---------------------------------------------------------------------


def save(model, path):
    """Save a fitted skmnist model to ``path`` as data, without pickle.

    The file holds the weights and configuration only; :func:`load` rebuilds
    the model from them without running any code from the file, so a model
    file from an untrusted source is safe to load (unlike a pickle or joblib
    file). The write is atomic: if it fails, an existing file at ``path`` is
    left as it was.

    Parameters
    ----------
    model : MNISTMLPClassifier, MNISTPreprocessor or Pipeline
        The model to save: one of skmnist's estimators, or a
        :class:`~sklearn.pipeline.Pipeline` whose steps are (such as the one
        :func:`make_mnist_pipeline` makes). Unfitted estimators are saved too,
        as their parameters only.

    path : str or os.PathLike
        Where to write. The suffix ``.skmnist`` is a good choice, but any name
        works.

    Returns
    -------
    path : pathlib.Path
        The path written.

    Raises
    ------
    TypeError
        If ``model`` is not one of the estimators above (subclasses included:
        they would load as their base class).
    ValueError
        If a parameter or fitted attribute is not plain data (numbers,
        strings, lists, tuples, dicts, NumPy arrays and scalars, object
        arrays of such values, a ``RandomState``), such as a callable; the
        message names the attribute.

    See Also
    --------
    load : Read the file back.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> import skmnist
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = skmnist.MNISTMLPClassifier(epochs=20, random_state=0).fit(X / 16, y)
    >>> skmnist.save(clf, "digits.skmnist")
    PosixPath('digits.skmnist')
    >>> loaded = skmnist.load("digits.skmnist")
    >>> loaded.predict(X[:5] / 16)
    array([0, 1, 2, 3, 4])
    >>> bool((loaded.predict_proba(X / 16) == clf.predict_proba(X / 16)).all())
    True
    """
    path = Path(os.fspath(path))
    arrays = []
    description = _describe(model, arrays, where=type(model).__name__)
    manifest = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "skmnist_version": __version__,
        "sklearn_version": _sklearn_version(),
        "numpy_version": np.__version__,
        "model": description,
    }
    text = json.dumps(manifest, indent=1, allow_nan=False, ensure_ascii=False)
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w") as archive:
            _write_member(archive, _MANIFEST, text.encode(), zipfile.ZIP_DEFLATED)
            for i, array in enumerate(arrays):
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, array, allow_pickle=False)
                # Stored, not deflated: float weights barely compress, and
                # inflating them would slow every load.
                _write_member(
                    archive, _array_name(i), buffer.getvalue(), zipfile.ZIP_STORED
                )
    return path


def _sklearn_version():
    import sklearn

    return sklearn.__version__


def _write_member(archive, name, data, compression):
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
    info.compress_type = compression
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


def _array_name(i):
    return f"{_ARRAY_DIR}{i}.npy"


def _describe(estimator, arrays, where):
    """The JSON description of one estimator; its arrays go to ``arrays``."""
    cls = type(estimator)
    if _is_pipeline(estimator):
        return _describe_pipeline(estimator, arrays, where)
    if _ESTIMATORS.get(cls.__name__) is not cls:
        raise TypeError(
            f"skmnist.save stores {', '.join(sorted(_ESTIMATORS))} and "
            f"Pipelines of them; got {cls.__module__}.{cls.__qualname__} at "
            f"{where}. Save other estimators with skops.io or joblib."
        )
    description = {
        "class": cls.__name__,
        "params": _encode_mapping(estimator.get_params(deep=False), arrays, where),
        "attributes": _encode_mapping(_fitted_attributes(estimator), arrays, where),
    }
    get_state = getattr(estimator, "_get_training_state", None)
    if callable(get_state):
        state = get_state()
        if state is not None:
            description["training_state"] = _encode_mapping(
                dict(state), arrays, f"{where} (training state)"
            )
    return description


def _is_pipeline(estimator):
    from sklearn.pipeline import Pipeline

    return type(estimator) is Pipeline


def _describe_pipeline(pipeline, arrays, where):
    steps = []
    for name, step in pipeline.steps:
        if step is None or (isinstance(step, str) and step == _PASSTHROUGH):
            steps.append([name, step])
        else:
            steps.append([name, _describe(step, arrays, f"{where} step {name!r}")])
    params = pipeline.get_params(deep=False)
    params.pop("steps")
    # A cache folder is a place on this machine, not part of the model: a
    # loaded pipeline must not write there.
    params.pop("memory", None)
    return {
        "class": _PIPELINE,
        "steps": steps,
        "params": _encode_mapping(params, arrays, where),
        "attributes": _encode_mapping(_fitted_attributes(pipeline), arrays, where),
    }


def _fitted_attributes(estimator):
    """Public attributes set by fitting: names that end, but do not start, in _."""
    return {
        name: value
        for name, value in vars(estimator).items()
        if name.endswith("_") and not name.startswith("_")
    }


def _encode_mapping(mapping, arrays, where):
    encoded = {}
    for name, value in mapping.items():
        try:
            encoded[name] = _encode(value, arrays)
        except _NotStorable as exc:
            raise ValueError(
                f"cannot save {where}: {name} holds {exc}; skmnist.save stores "
                "plain data only (numbers, strings, lists, dicts, tuples and "
                "NumPy arrays). Use joblib or skops.io to save such a model."
            ) from None
    return encoded


def _encode(value, arrays):
    """``value`` as JSON, with tags for what JSON cannot say by itself."""
    # Exact types: subclasses (NumPy scalars, enums...) need their own tags.
    if value is None or type(value) in (bool, int, str):
        return value
    if type(value) is float:
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, np.generic):
        return _encode_scalar(value)
    if isinstance(value, np.ndarray):
        return _encode_array(value, arrays)
    if type(value) is list:
        return [_encode(item, arrays) for item in value]
    if type(value) is tuple:
        return {"__tuple__": [_encode(item, arrays) for item in value]}
    if type(value) is dict:
        return {
            "__dict__": [
                [_encode(k, arrays), _encode(v, arrays)] for k, v in value.items()
            ]
        }
    if type(value) is np.random.RandomState:
        return _encode_random_state(value, arrays)
    raise _NotStorable(f"a {type(value).__module__}.{type(value).__qualname__}")


def _encode_scalar(value):
    if value.dtype.hasobject or value.dtype.kind not in "biufcUS":
        raise _NotStorable(f"a NumPy scalar of dtype {value.dtype}")
    item = value.item()
    if isinstance(item, complex):
        item = {"__complex__": [_float_json(item.real), _float_json(item.imag)]}
    elif isinstance(item, bytes):
        item = item.decode("latin-1")
    elif isinstance(item, float):
        item = _float_json(item)
    return {"__scalar__": value.dtype.str, "value": item}


def _float_json(x):
    return x if math.isfinite(x) else {"__float__": repr(x)}


def _encode_array(array, arrays):
    if array.dtype.hasobject:
        if array.dtype != object:
            raise _NotStorable(f"an array of dtype {array.dtype} with Python objects")
        # String labels and feature names: each element must be plain data
        # itself (a str, an int...), stored in the JSON rather than pickled.
        try:
            items = [_encode(item, arrays) for item in array.ravel().tolist()]
        except _NotStorable as exc:
            raise _NotStorable(f"an object array containing {exc}") from None
        return {"__object_array__": items, "shape": list(array.shape)}
    arrays.append(np.ascontiguousarray(array) if array.ndim else array)
    return {"__ndarray__": _array_name(len(arrays) - 1)}


def _encode_random_state(rng, arrays):
    bit_generator, keys, pos, has_gauss, cached_gaussian = rng.get_state()
    return {
        "__random_state__": {
            "bit_generator": bit_generator,
            "keys": _encode_array(np.asarray(keys), arrays),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": _float_json(float(cached_gaussian)),
        }
    }


# -- load ---------------------------------------------------------------------

# Bounds on what load reads, so that a damaged or crafted file costs little
# memory and time. The tutorial pipeline's file, for scale: 21 members, a
# 2,237-byte directory, a 5 KB manifest and 10.7 MB of arrays, stored as they
# are in memory.
_MAX_MEMBERS = 4096
_MAX_DIRECTORY_BYTES = 1 << 20  # the zip's central directory
_MAX_MANIFEST_BYTES = 2 << 20
_MAX_JSON_DEPTH = 64
# All members together may inflate to at most this many times the file's size,
# plus a little: save stores the arrays uncompressed, so its files need 1x.
_MAX_EXPANSION = 4
_EXPANSION_SLACK = 1 << 20
_READ_CHUNK = 1 << 20
# Fitted estimators load only with at most this many input features, and with
# networks that take at most this many values per layer for one row (a 28 x 28
# image through 64 filters takes 50,176).
_MAX_FEATURES = 1 << 20
_MAX_ACTIVATIONS = 1 << 24
# Array members hold numbers and strings: never objects, records or void.
_ARRAY_KINDS = "biufcUS"
_ARRAY_MEMBER = re.compile(r"arrays/[0-9]{1,9}\.npy")
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
# The zip records that locate the central directory, as zipfile reads them.
_END_RECORD = b"PK\x05\x06"
_END_RECORD_SIZE = 22
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_LOCATOR_SIZE = 20
_ZIP64_END_RECORD = b"PK\x06\x06"
_ZIP64_END_RECORD_SIZE = 56
# What decoding a crafted manifest or member can raise besides ValueError and
# the zip errors: each becomes a ValueError that names the file.
_DECODE_ERRORS = (
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
    RecursionError,
    MemoryError,
    SyntaxError,
    struct.error,
    OSError,
)


def load(path):
    """Load a model saved by :func:`save`.

    No code is read from the file: only skmnist's own estimators (and
    scikit-learn's Pipeline) are created, from the stored parameters, weights
    and fitted attributes. TensorFlow is not imported; a loaded classifier
    predicts with NumPy. Any file, however damaged or crafted, either loads as
    a working model or raises :class:`ValueError`, in bounded memory (a few
    times the file's size; see :doc:`/persistence` for the limits) and time;
    loading never writes anywhere.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save`.

    Returns
    -------
    model : MNISTMLPClassifier, MNISTCNNClassifier, MNISTPreprocessor or Pipeline
        The model, as it was saved; a fitted one has been checked to predict
        finite probabilities (or to transform to finite values). A Pipeline
        comes back without a ``memory`` (cache folder): set one again if
        wanted.

    Raises
    ------
    OSError
        If ``path`` cannot be opened: it does not exist
        (:class:`FileNotFoundError`), is a folder (:class:`IsADirectoryError`)
        or cannot be read (:class:`PermissionError`).
    ValueError
        For any file that is not a working skmnist model, with one message
        that starts with ``path``: not a regular file (a FIFO, a device...),
        another format (a joblib or pickle file: the message suggests
        ``joblib.load``, for trusted files only), a truncated or corrupt file,
        a newer format version than this skmnist reads (the message says
        which versions and to upgrade skmnist), an unknown class or parameter,
        members larger than the bounds (such as a zip bomb), weights that do
        not fit the architecture or are not finite, or a model that does not
        predict.

    See Also
    --------
    save : Write such a file.

    Examples
    --------
    Save a fitted pipeline and load it back; the copy predicts the same
    probabilities, bit for bit:

    >>> import skmnist
    >>> (X_train, y_train), (X_test, y_test) = skmnist.load_mnist()
    >>> pipe = skmnist.make_mnist_pipeline(
    ...     hidden_layer_sizes=(32,), epochs=1, random_state=0
    ... ).fit(X_train[:2000], y_train[:2000])
    >>> path = skmnist.save(pipe, "mnist.skmnist")
    >>> loaded = skmnist.load(path)
    >>> [name for name, _ in loaded.steps]
    ['preprocess', 'classifier']
    >>> bool((loaded.predict_proba(X_test) == pipe.predict_proba(X_test)).all())
    True
    >>> loaded.predict(X_test[:5]).tolist() == pipe.predict(X_test[:5]).tolist()
    True

    Anything else is refused with one message:

    >>> with open("notes.skmnist", "w") as file:
    ...     _ = file.write("not a model")
    >>> skmnist.load("notes.skmnist")
    Traceback (most recent call last):
    ...
    ValueError: notes.skmnist: not an skmnist model file (not a zip archive: ...)
    """
    path = Path(os.fspath(path))
    with _open_regular_file(path) as file:
        try:
            return _load(file, path)
        except ValueError as exc:
            if str(exc).startswith(f"{path}: "):
                raise
            raise _corrupt(path, exc) from exc
        except (*_ZIP_ERRORS, *_DECODE_ERRORS) as exc:
            raise _corrupt(path, exc) from exc


def _open_regular_file(path):
    """``path`` opened for reading; a FIFO or a device is refused unread."""
    # O_NONBLOCK: opening a FIFO would otherwise wait for a writer.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
        if not stat.S_ISREG(mode):
            raise ValueError(
                f"{path}: not an skmnist model file (not a regular file but a "
                f"{file_kind(mode)})"
            )
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _load(file, path):
    size = os.fstat(file.fileno()).st_size
    head = file.read(4)
    if not zipfile.is_zipfile(file):
        hint = ""
        if head[:1] == _PICKLE_MAGIC:
            hint = (
                "; it looks like a pickle or joblib file: load such files with "
                "joblib.load, and only if you trust their source, since they "
                "run code when loaded"
            )
        raise ValueError(
            f"{path}: not an skmnist model file (not a zip archive: truncated, "
            f"or another format){hint}"
        )
    directory = _directory_size(file, size)
    if directory > _MAX_DIRECTORY_BYTES:
        raise ValueError(
            f"{path}: not an skmnist model file (its zip directory claims "
            f"{directory} bytes; skmnist files have a few kilobytes)"
        )
    archive = zipfile.ZipFile(_BoundedReader(file, size))
    with archive:
        members = _members(archive, path)
        budget = _Budget(_MAX_EXPANSION * size + _EXPANSION_SLACK, size, path)
        manifest = _read_manifest(archive, members, budget, path)
        model = _build(
            manifest["model"], _ArrayReader(archive, members, budget, path), path
        )
    _check_works(model, path)
    return model


def _corrupt(path, exc):
    return ValueError(
        f"{path}: corrupt or truncated skmnist model file ({type(exc).__name__}: {exc})"
    )


class _BoundedReader:
    """A file whose reads never ask for more bytes than it holds.

    zipfile reads the central directory with one ``read(size)`` of the size
    that the file itself claims; a crafted claim would allocate that much.
    """

    def __init__(self, file, size):
        self._file = file
        self._size = size

    def read(self, n=-1):
        left = max(self._size - self._file.tell(), 0)
        return self._file.read(left if n is None or n < 0 else min(n, left))

    def seek(self, offset, whence=os.SEEK_SET):
        return self._file.seek(offset, whence)

    def tell(self):
        return self._file.tell()

    def seekable(self):
        return True


def _directory_size(file, size):
    """The central directory's size as the end records give it to zipfile."""
    # zipfile takes the last 22 bytes when they are an end record without a
    # comment, else the last end record in the 64 KB before the end.
    file.seek(max(size - _END_RECORD_SIZE, 0))
    record = file.read(_END_RECORD_SIZE)
    where = size - _END_RECORD_SIZE
    if not (record[:4] == _END_RECORD and record[-2:] == b"\0\0"):
        start = max(size - _END_RECORD_SIZE - 0xFFFF, 0)
        file.seek(start)
        tail = file.read(size - start)
        found = tail.rfind(_END_RECORD)
        record = tail[found : found + _END_RECORD_SIZE]
        where = start + found
    if len(record) < _END_RECORD_SIZE:
        return 0  # zipfile refuses the archive itself
    (directory,) = struct.unpack("<L", record[12:16])
    # A ZIP64 locator just before the end record makes zipfile read the size
    # from the ZIP64 end record before that.
    locator_at = where - _ZIP64_LOCATOR_SIZE
    if locator_at >= 0:
        file.seek(locator_at)
        if file.read(4) == _ZIP64_LOCATOR:
            record_at = locator_at - _ZIP64_END_RECORD_SIZE
            if record_at >= 0:
                file.seek(record_at)
                record64 = file.read(_ZIP64_END_RECORD_SIZE)
                if record64[:4] == _ZIP64_END_RECORD:
                    (directory64,) = struct.unpack("<q", record64[40:48])
                    directory = max(directory, abs(directory64))
    return directory


def _members(archive, path):
    """The archive's members by name, refusing archives no save writes."""
    infos = archive.infolist()
    if len(infos) > _MAX_MEMBERS:
        raise ValueError(
            f"{path}: not an skmnist model file ({len(infos)} members; at most "
            f"{_MAX_MEMBERS} are read)"
        )
    members = {}
    for info in infos:
        if info.filename in members:
            raise ValueError(
                f"{path}: corrupt skmnist model file: member {info.filename!r} "
                "appears twice"
            )
        members[info.filename] = info
    return members


class _Budget:
    """The bytes that members may still inflate to."""

    def __init__(self, limit, file_size, path):
        self.limit = self.left = limit
        self.file_size = file_size
        self.path = path

    def take(self, nbytes, what):
        if nbytes > self.left:
            raise ValueError(
                f"{self.path}: not a plausible skmnist model file: {what} would "
                f"take {nbytes} bytes in memory, and the members of a "
                f"{self.file_size}-byte file may take {self.limit} in all (a "
                "zip bomb, or a damaged size)"
            )
        self.left -= nbytes


def _open_member(archive, info, path):
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ValueError(
            f"{path}: corrupt skmnist model file: {info.filename} uses "
            f"compression method {info.compress_type}; skmnist files store or "
            "deflate their members"
        )
    if info.flag_bits & 0x1:
        raise ValueError(
            f"{path}: corrupt skmnist model file: {info.filename} is encrypted"
        )
    return archive.open(info)


def _read_manifest(archive, members, budget, path):
    info = members.get(_MANIFEST)
    if info is None:
        raise ValueError(
            f"{path}: not an skmnist model file (a zip archive without {_MANIFEST})"
        )
    if info.file_size > _MAX_MANIFEST_BYTES:
        raise ValueError(
            f"{path}: not a plausible skmnist model file: {_MANIFEST} takes "
            f"{info.file_size} bytes; skmnist reads at most {_MAX_MANIFEST_BYTES}"
        )
    budget.take(info.file_size, _MANIFEST)
    with _open_member(archive, info, path) as member:
        raw = member.read(info.file_size)  # zipfile checks the CRC at the end
    manifest = _parse_json(raw, path)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise ValueError(
            f"{path}: not an skmnist model file ({_MANIFEST} does not declare "
            f'the format "{FORMAT_NAME}")'
        )
    version = manifest.get("format_version")
    if type(version) is not int or version < 1:
        raise ValueError(
            f"{path}: corrupt skmnist model file: format_version {_short(version)}"
        )
    if version > FORMAT_VERSION:
        written_by = manifest.get("skmnist_version")
        if not isinstance(written_by, str):
            written_by = "an unknown version"
        raise ValueError(
            f"{path}: this model file has format version {version} (written by "
            f"skmnist {_short(written_by, quote=False)}), but skmnist "
            f"{__version__} reads format versions up to {FORMAT_VERSION}. "
            "Upgrade skmnist to load it (pip install --upgrade skmnist)."
        )
    if not isinstance(manifest.get("model"), dict):
        raise ValueError(f"{path}: corrupt skmnist model file: no model description")
    return manifest


def _parse_json(raw, path):
    """The manifest's JSON, refused before parsing when it nests too deep."""
    problem = None
    try:
        text = raw.decode("utf-8")
        depth = _json_depth(text)
        if depth > _MAX_JSON_DEPTH:
            problem = f"it nests {depth} levels deep; skmnist reads {_MAX_JSON_DEPTH}"
        else:
            return json.loads(text, parse_constant=_refuse_constant)
    except ValueError as exc:  # UnicodeDecodeError, JSONDecodeError, huge ints
        problem = f"{type(exc).__name__}: {exc}"
    raise ValueError(
        f"{path}: not an skmnist model file ({_MANIFEST} is not valid JSON: {problem})"
    )


def _json_depth(text):
    """How deep arrays and objects nest in ``text``, strings aside."""
    skeleton = np.frombuffer(_JSON_STRING.sub("", text).encode(), dtype=np.uint8)
    opens = (skeleton == ord("[")) | (skeleton == ord("{"))
    closes = (skeleton == ord("]")) | (skeleton == ord("}"))
    steps = opens.view(np.int8) - closes.view(np.int8)
    return int(np.cumsum(steps, dtype=np.int32).max(initial=0))


def _refuse_constant(name):
    # save writes non-finite floats as tagged strings, never as bare NaN.
    raise ValueError(f"{name} is not JSON")


class _ArrayReader:
    """Reads ``arrays/<i>.npy`` members, within the budget, never unpickling."""

    def __init__(self, archive, members, budget, path):
        self.archive = archive
        self.members = members
        self.budget = budget
        self.path = path

    def __call__(self, name):
        if not isinstance(name, str) or not _ARRAY_MEMBER.fullmatch(name):
            raise ValueError(
                f"{self.path}: corrupt skmnist model file: bad array {_short(name)}"
            )
        info = self.members.get(name)
        if info is None:
            raise ValueError(
                f"{self.path}: corrupt skmnist model file: array {name} is missing"
            )
        with _open_member(self.archive, info, self.path) as member:
            return self._read(member, info)

    def _read(self, member, info):
        name = info.filename
        # The header first: what it claims is checked against the member's
        # size and the budget before any data is read.
        try:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                header = np.lib.format.read_array_header_1_0(member)
            elif version == (2, 0):
                header = np.lib.format.read_array_header_2_0(member)
            else:
                raise ValueError(f".npy format version {version} is not read")
        except Exception as exc:  # a header's parser raises many kinds
            raise ValueError(
                f"{self.path}: corrupt or truncated skmnist model file: {name} "
                f"is not a .npy array ({exc})"
            ) from None
        shape, fortran_order, dtype = header
        if (
            dtype.hasobject
            or dtype.fields is not None
            or dtype.subdtype is not None
            or dtype.kind not in _ARRAY_KINDS
            or dtype.itemsize == 0
        ):
            raise ValueError(
                f"{self.path}: corrupt skmnist model file: {name} holds dtype "
                f"{dtype}; skmnist files hold arrays of numbers and strings only"
            )
        count = math.prod(shape)
        nbytes = count * dtype.itemsize
        data_size = info.file_size - member.tell()
        if nbytes != data_size:
            raise ValueError(
                f"{self.path}: corrupt or truncated skmnist model file: the "
                f"header of {name} "
                f"claims shape {shape} of {dtype} ({nbytes} bytes), but the member "
                f"holds {data_size} bytes of data"
            )
        self.budget.take(nbytes, name)
        flat = np.empty(count, dtype=dtype)
        buffer = flat.view(np.uint8)
        done = 0
        while done < nbytes:  # in chunks: a lying member cannot inflate more
            got = member.readinto(buffer[done : done + _READ_CHUNK])
            if not got:
                raise EOFError(f"{name} ends after {done} of {nbytes} bytes")
            done += got
        if fortran_order:
            return flat.reshape(shape[::-1]).transpose()
        return flat.reshape(shape)


def _build(description, read_array, path):
    """The estimator that ``description`` describes."""
    if not isinstance(description, dict):
        raise ValueError(f"{path}: corrupt skmnist model file: bad estimator entry")
    name = description.get("class")
    if name == _PIPELINE:
        return _build_pipeline(description, read_array, path)
    cls = _ESTIMATORS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(
            f"{path}: unknown estimator class {_short(name)} in the model file; "
            f"this skmnist ({__version__}) loads {', '.join(sorted(_ESTIMATORS))} "
            "and Pipelines of them"
        )
    estimator = _instantiate(cls, description, read_array, path)
    state = description.get("training_state")
    if state is not None:
        set_state = getattr(estimator, "_set_training_state", None)
        if callable(set_state):
            decoded = _decode_mapping(state, read_array, path)
            try:
                set_state(decoded)
            except Exception as exc:  # whatever an edited state makes it raise
                raise ValueError(
                    f"{path}: corrupt skmnist model file: bad training state "
                    f"({type(exc).__name__}: {exc})"
                ) from None
    validate = getattr(estimator, "_validate_fitted_state", None)
    if callable(validate):
        try:
            validate()  # also upgrades what older skmnist versions saved
        except Exception as exc:  # ValueError, or what odd attributes raise
            detail = str(exc) if isinstance(exc, ValueError) else repr(exc)
            raise ValueError(f"{path}: corrupt skmnist model file: {detail}") from None
    return estimator


def _build_pipeline(description, read_array, path):
    from sklearn.pipeline import Pipeline

    steps = description.get("steps")
    if not isinstance(steps, list) or not steps:
        raise ValueError(
            f"{path}: corrupt skmnist model file: a pipeline without steps"
        )
    built = []
    for step in steps:
        if not (isinstance(step, list) and len(step) == 2 and isinstance(step[0], str)):
            raise ValueError(f"{path}: corrupt skmnist model file: bad pipeline step")
        name, entry = step
        if entry is None or entry == _PASSTHROUGH:
            built.append((name, entry))
        else:
            built.append((name, _build(entry, read_array, path)))
    pipeline = _instantiate(Pipeline, description, read_array, path, steps=built)
    try:
        pipeline._validate_steps()  # unique names, transformers before the end
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: corrupt skmnist model file: {exc}") from None
    return pipeline


def _instantiate(cls, description, read_array, path, **extra):
    params = _decode_mapping(description.get("params", {}), read_array, path)
    attributes = _decode_mapping(description.get("attributes", {}), read_array, path)
    if "steps" in extra:
        # A cache folder names a place on the machine that saved the model;
        # a loaded pipeline must not write there (save does not store it).
        params.pop("memory", None)
    try:
        estimator = cls(**params, **extra)
    except TypeError as exc:
        raise ValueError(
            f"{path}: the model file gives {cls.__name__} parameters that skmnist "
            f"{__version__} does not know ({exc}); it was probably written by a "
            "newer skmnist: upgrade skmnist to load it."
        ) from None
    try:
        estimator._validate_params()
    except ValueError as exc:  # InvalidParameterError
        raise ValueError(f"{path}: bad parameter in the model file: {exc}") from None
    bad = [
        name
        for name in attributes
        if not (name.isidentifier() and name.endswith("_") and name[0] != "_")
    ]
    if bad:
        raise ValueError(
            f"{path}: corrupt skmnist model file: {cls.__name__} attributes "
            f"{_short(bad)} are not fitted attributes"
        )
    estimator.__dict__.update(attributes)
    return estimator


def _decode_mapping(mapping, read_array, path):
    if not isinstance(mapping, dict):
        raise ValueError(f"{path}: corrupt skmnist model file: expected a mapping")
    return {name: _decode(value, read_array, path) for name, value in mapping.items()}


def _decode(value, read_array, path):
    if isinstance(value, list):
        return [_decode(item, read_array, path) for item in value]
    if not isinstance(value, dict):
        return value  # None, bool, int, float, str
    try:
        if "__ndarray__" in value:
            return read_array(value["__ndarray__"])
        if "__tuple__" in value:
            return tuple(_decode(item, read_array, path) for item in value["__tuple__"])
        if "__dict__" in value:
            return {
                _hashable(_decode(k, read_array, path)): _decode(v, read_array, path)
                for k, v in value["__dict__"]
            }
        if "__float__" in value:
            text = value["__float__"]
            if not isinstance(text, str):
                raise TypeError(f"a float tag holds {type(text).__name__}")
            return float(text)
        if "__object_array__" in value:
            items = [
                _decode(item, read_array, path) for item in value["__object_array__"]
            ]
            array = np.empty(len(items), dtype=object)
            array[:] = items
            return array.reshape(value["shape"])
        if "__scalar__" in value:
            return _decode_scalar(value, read_array, path)
        if "__random_state__" in value:
            return _decode_random_state(value["__random_state__"], read_array, path)
    except ValueError as exc:
        if str(exc).startswith(f"{path}: "):
            raise
        raise _bad_value(path, value, exc) from None
    except _DECODE_ERRORS as exc:
        raise _bad_value(path, value, exc) from None
    raise ValueError(
        f"{path}: corrupt skmnist model file: unknown value {_short(value)}"
    )


def _bad_value(path, value, exc):
    return ValueError(
        f"{path}: corrupt skmnist model file: bad value {_short(value)} "
        f"({type(exc).__name__}: {exc})"
    )


def _hashable(key):
    if isinstance(key, list | dict | np.ndarray):
        raise TypeError(f"unhashable dict key of type {type(key).__name__}")
    return key


def _decode_scalar(value, read_array, path):
    code = value["__scalar__"]
    if not isinstance(code, str) or len(code) > 16:
        raise TypeError(f"scalar dtype {_short(code)} is not a dtype code")
    dtype = np.dtype(code)
    if dtype.hasobject or dtype.kind not in "biufcUS":
        raise ValueError(f"scalar dtype {dtype} is not allowed")
    raw = value["value"]
    if isinstance(raw, dict) and "__complex__" in raw:
        real, imag = (_decode(part, read_array, path) for part in raw["__complex__"])
        return dtype.type(complex(real, imag))
    item = _decode(raw, read_array, path)
    if dtype.kind == "S":
        item = item.encode("latin-1")
    return dtype.type(item)


def _decode_random_state(state, read_array, path):
    rng = np.random.RandomState()
    rng.set_state(
        (
            state["bit_generator"],
            read_array(state["keys"]["__ndarray__"]),
            int(state["pos"]),
            int(state["has_gauss"]),
            float(_decode(state["cached_gaussian"], read_array, path)),
        )
    )
    return rng


# -- the loaded model works ---------------------------------------------------


def _check_works(model, path):
    """Refuse a loaded model that cannot predict: one row of zeros through it.

    The estimators' own checks (``_validate_fitted_state``) come first; this
    catches what they do not cover, such as a pipeline whose steps do not fit
    together, before a user's data reaches the model.
    """
    if _is_pipeline(model):
        steps = [step for _, step in model.steps if not _is_passthrough(step)]
        for step in steps:
            _check_works(step, path)
        fitted = [_is_fitted(step) for step in steps]
        if any(fitted) and not all(fitted):
            raise ValueError(
                f"{path}: the model in the file does not work: a pipeline with "
                "fitted and unfitted steps"
            )
        if steps and all(fitted):
            _check_predicts(model, _sample_inputs(steps[0], path), path)
        return
    if _is_fitted(model):
        _check_network_size(model, path)
        _check_predicts(model, _sample_inputs(model, path), path)


def _is_passthrough(step):
    return step is None or (isinstance(step, str) and step == _PASSTHROUGH)


def _is_fitted(estimator):
    if _is_pipeline(estimator):
        return all(
            _is_fitted(step) for _, step in estimator.steps if not _is_passthrough(step)
        )
    return bool(_fitted_attributes(estimator))


def _sample_inputs(estimator, path):
    """Zero inputs of the shapes the fitted ``estimator`` takes."""
    if _is_pipeline(estimator):
        first = next(s for _, s in estimator.steps if not _is_passthrough(s))
        return _sample_inputs(first, path)
    n_features = vars(estimator).get("n_features_in_")
    if not (
        isinstance(n_features, int | np.integer)
        and not isinstance(n_features, bool)
        and 1 <= n_features <= _MAX_FEATURES
    ):
        raise ValueError(
            f"{path}: corrupt skmnist model file: a fitted "
            f"{type(estimator).__name__} with n_features_in_ {_short(n_features)} "
            f"(skmnist loads models of 1 to {_MAX_FEATURES} features)"
        )
    inputs = [np.zeros((1, int(n_features)))]
    shape = vars(estimator).get("image_shape_")
    if shape is not None:  # the preprocessor also takes images of that shape
        if not (
            isinstance(shape, tuple)
            and len(shape) == 2
            and all(isinstance(side, int) and side > 0 for side in shape)
            and math.prod(shape) == n_features
        ):
            raise ValueError(
                f"{path}: corrupt skmnist model file: image_shape_ "
                f"{_short(shape)} does not fit {n_features} features"
            )
        inputs.append(np.zeros((1, *shape)))
    return inputs


def _check_network_size(estimator, path):
    """Refuse a network that would take huge memory per row to run."""
    architecture = vars(estimator).get("architecture_")
    if not isinstance(architecture, list):
        return
    pixels, filters = 0, 1
    for layer in architecture:
        if not isinstance(layer, dict):
            return  # the estimator's own check refuses it
        values = [layer.get(key) for key in ("side", "padding", "filters")]
        if not all(v is None or type(v) is int for v in values):
            return
        side, padding, count = values
        if layer.get("kind") == "image" and side is not None:
            pixels = max(pixels, (side + 2 * (padding or 0)) ** 2)
        if layer.get("kind") == "conv2d" and count is not None:
            filters = max(filters, count)
    if pixels * filters > _MAX_ACTIVATIONS:
        raise ValueError(
            f"{path}: not a plausible skmnist model file: its network takes "
            f"{pixels} pixels through {filters} filters per image, more than "
            f"the {_MAX_ACTIVATIONS} values skmnist loads"
        )


def _check_predicts(model, inputs, path):
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # such as a feature names warning
            for X in inputs:
                if hasattr(model, "predict_proba"):
                    _check_probabilities(model, X)
                elif hasattr(model, "transform"):
                    if not np.isfinite(np.asarray(model.transform(X), float)).all():
                        raise ValueError("it transforms zeros to NaN or infinity")
    except Exception as exc:
        detail = str(exc) if isinstance(exc, ValueError) else repr(exc)
        raise ValueError(
            f"{path}: the model in the file does not work: {detail}"
        ) from None


def _check_probabilities(model, X):
    proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    n_classes = len(model.classes_)
    if proba.shape != (len(X), n_classes):
        raise ValueError(
            f"it predicts probabilities of shape {proba.shape} for {n_classes} classes"
        )
    if not np.isfinite(proba).all():
        raise ValueError("it predicts NaN or infinite probabilities")
    if proba.min() < 0 or np.abs(proba.sum(axis=1) - 1).max() > 1e-3:
        raise ValueError("its probabilities do not sum to 1")
    model.predict(X)


def _short(value, limit=80, quote=True):
    try:
        text = json.dumps(value) if quote else str(value)
    except (TypeError, ValueError, RecursionError):
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."
