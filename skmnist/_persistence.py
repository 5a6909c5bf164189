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
"""

import io
import json
import math
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ._classifier import MNISTMLPClassifier
from ._io import atomic_path
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
_ESTIMATORS = {cls.__name__: cls for cls in (MNISTMLPClassifier, MNISTPreprocessor)}
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


def load(path):
    """Load a model saved by :func:`save`.

    No code is read from the file: only skmnist's own estimators (and
    scikit-learn's Pipeline) are created, from the stored parameters, weights
    and fitted attributes. TensorFlow is not imported; a loaded classifier
    predicts with NumPy.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save`.

    Returns
    -------
    model : MNISTMLPClassifier, MNISTPreprocessor or Pipeline
        The model, as it was saved.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not an skmnist model file (another format, a joblib or
        pickle file, a truncated or corrupt file), was written in a newer
        format version than this skmnist reads (the message says which
        versions and to upgrade skmnist), or names a class or parameter this
        skmnist does not know.

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
    """
    path = Path(os.fspath(path))
    with open(path, "rb") as file:  # FileNotFoundError, IsADirectoryError
        head = file.read(4)
    if not zipfile.is_zipfile(path):
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
    try:
        archive = zipfile.ZipFile(path)
    except _ZIP_ERRORS as exc:
        raise _corrupt(path, exc) from exc
    with archive:
        manifest = _read_manifest(archive, path)
        return _build(manifest["model"], _ArrayReader(archive, path), path)


def _corrupt(path, exc):
    return ValueError(
        f"{path}: corrupt or truncated skmnist model file ({type(exc).__name__}: {exc})"
    )


def _read_member(archive, name, path):
    """The bytes of one member (CRC-checked), or None if there is none."""
    try:
        return archive.read(name)
    except KeyError:
        return None
    except _ZIP_ERRORS as exc:
        raise _corrupt(path, exc) from exc


def _read_manifest(archive, path):
    raw = _read_member(archive, _MANIFEST, path)
    if raw is None:
        raise ValueError(
            f"{path}: not an skmnist model file (a zip archive without {_MANIFEST})"
        )
    try:
        manifest = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"{path}: not an skmnist model file ({_MANIFEST} is not valid JSON: {exc})"
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise ValueError(
            f"{path}: not an skmnist model file ({_MANIFEST} does not declare "
            f'the format "{FORMAT_NAME}")'
        )
    version = manifest.get("format_version")
    if type(version) is not int or version < 1:
        raise ValueError(
            f"{path}: corrupt skmnist model file: format_version {version!r}"
        )
    if version > FORMAT_VERSION:
        written_by = manifest.get("skmnist_version", "an unknown version")
        raise ValueError(
            f"{path}: this model file has format version {version} (written by "
            f"skmnist {written_by}), but skmnist {__version__} reads format "
            f"versions up to {FORMAT_VERSION}. Upgrade skmnist to load it "
            "(pip install --upgrade skmnist)."
        )
    if not isinstance(manifest.get("model"), dict):
        raise ValueError(f"{path}: corrupt skmnist model file: no model description")
    return manifest


class _ArrayReader:
    """Reads ``arrays/<i>.npy`` members, never unpickling."""

    def __init__(self, archive, path):
        self.archive = archive
        self.path = path

    def __call__(self, name):
        if not isinstance(name, str) or not name.startswith(_ARRAY_DIR):
            raise ValueError(
                f"{self.path}: corrupt skmnist model file: bad array {name!r}"
            )
        data = _read_member(self.archive, name, self.path)
        if data is None:
            raise ValueError(
                f"{self.path}: corrupt skmnist model file: array {name} is missing"
            )
        try:
            return np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
        except ValueError as exc:
            raise ValueError(
                f"{self.path}: corrupt skmnist model file: cannot read {name} ({exc})"
            ) from None


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
            f"{path}: unknown estimator class {name!r} in the model file; this "
            f"skmnist ({__version__}) loads {', '.join(sorted(_ESTIMATORS))} and "
            "Pipelines of them"
        )
    estimator = _instantiate(cls, description, read_array, path)
    state = description.get("training_state")
    if state is not None:
        set_state = getattr(estimator, "_set_training_state", None)
        if callable(set_state):
            set_state(_decode_mapping(state, read_array, path))
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
    return _instantiate(Pipeline, description, read_array, path, steps=built)


def _instantiate(cls, description, read_array, path, **extra):
    params = _decode_mapping(description.get("params", {}), read_array, path)
    attributes = _decode_mapping(description.get("attributes", {}), read_array, path)
    try:
        estimator = cls(**params, **extra)
    except TypeError as exc:
        raise ValueError(
            f"{path}: the model file gives {cls.__name__} parameters that skmnist "
            f"{__version__} does not know ({exc}); it was probably written by a "
            "newer skmnist: upgrade skmnist to load it."
        ) from None
    bad = [name for name in attributes if not name.endswith("_") or name[0] == "_"]
    if bad:
        raise ValueError(
            f"{path}: corrupt skmnist model file: {cls.__name__} attributes "
            f"{bad} are not fitted attributes"
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
            return float(value["__float__"])
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
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        if isinstance(exc, ValueError) and str(path) in str(exc):
            raise
        raise ValueError(
            f"{path}: corrupt skmnist model file: bad value {_short(value)} "
            f"({type(exc).__name__}: {exc})"
        ) from None
    raise ValueError(
        f"{path}: corrupt skmnist model file: unknown value {_short(value)}"
    )


def _hashable(key):
    if isinstance(key, list | dict | np.ndarray):
        raise TypeError(f"unhashable dict key of type {type(key).__name__}")
    return key


def _decode_scalar(value, read_array, path):
    dtype = np.dtype(value["__scalar__"])
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


def _short(value, limit=80):
    text = json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
