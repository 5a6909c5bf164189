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

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from .._registry import estimator_name, registered_estimators
from .._utils.files import atomic_path
from .._version import __version__
from ._archive import (
    MANIFEST,
    MAX_MANIFEST_BYTES,
    ZIP_ERRORS,
    ArrayReader,
    open_archive,
    open_member,
    open_regular_file,
    parse_json,
    write_member,
)
from ._checks import PASSTHROUGH, check_works, fitted_attributes, is_pipeline
from ._codec import DECODE_ERRORS, array_name, decode_mapping, encode_mapping, short

FORMAT_NAME = "skmnist-model"
FORMAT_VERSION = 1

# The only classes a file may name. Pipelines are handled on their own, and
# sklearn.pipeline is imported only when a file holds one.
_PIPELINE = "Pipeline"


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
            write_member(archive, MANIFEST, text.encode(), zipfile.ZIP_DEFLATED)
            for i, array in enumerate(arrays):
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, array, allow_pickle=False)
                # Stored, not deflated: float weights barely compress, and
                # inflating them would slow every load.
                write_member(
                    archive, array_name(i), buffer.getvalue(), zipfile.ZIP_STORED
                )
    return path


def _sklearn_version():
    import sklearn

    return sklearn.__version__


def _describe(estimator, arrays, where):
    """The JSON description of one estimator; its arrays go to ``arrays``."""
    cls = type(estimator)
    if is_pipeline(estimator):
        return _describe_pipeline(estimator, arrays, where)
    name = estimator_name(cls)
    if name is None:
        raise TypeError(
            f"skmnist.save stores {', '.join(sorted(registered_estimators()))} "
            "(and classes registered with skmnist.register_estimator) and "
            f"Pipelines of them; got {cls.__module__}.{cls.__qualname__} at "
            f"{where}. Save other estimators with skops.io or joblib."
        )
    description = {
        "class": name,
        "params": encode_mapping(estimator.get_params(deep=False), arrays, where),
        "attributes": encode_mapping(fitted_attributes(estimator), arrays, where),
    }
    get_state = getattr(estimator, "_get_training_state", None)
    if callable(get_state):
        state = get_state()
        if state is not None:
            description["training_state"] = encode_mapping(
                dict(state), arrays, f"{where} (training state)"
            )
    return description


def _describe_pipeline(pipeline, arrays, where):
    steps = []
    for name, step in pipeline.steps:
        if step is None or (isinstance(step, str) and step == PASSTHROUGH):
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
        "params": encode_mapping(params, arrays, where),
        "attributes": encode_mapping(fitted_attributes(pipeline), arrays, where),
    }


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
    with open_regular_file(path) as file:
        try:
            return _load(file, path)
        except ValueError as exc:
            if str(exc).startswith(f"{path}: "):
                raise
            raise _corrupt(path, exc) from exc
        except (*ZIP_ERRORS, *DECODE_ERRORS) as exc:
            raise _corrupt(path, exc) from exc


def _load(file, path):
    with open_archive(file, path) as (archive, members, budget):
        manifest = _read_manifest(archive, members, budget, path)
        model = _build(
            manifest["model"], ArrayReader(archive, members, budget, path), path
        )
    check_works(model, path)
    return model


def _corrupt(path, exc):
    return ValueError(
        f"{path}: corrupt or truncated skmnist model file ({type(exc).__name__}: {exc})"
    )


def _read_manifest(archive, members, budget, path):
    info = members.get(MANIFEST)
    if info is None:
        raise ValueError(
            f"{path}: not an skmnist model file (a zip archive without {MANIFEST})"
        )
    if info.file_size > MAX_MANIFEST_BYTES:
        raise ValueError(
            f"{path}: not a plausible skmnist model file: {MANIFEST} takes "
            f"{info.file_size} bytes; skmnist reads at most {MAX_MANIFEST_BYTES}"
        )
    budget.take(info.file_size, MANIFEST)
    with open_member(archive, info, path) as member:
        raw = member.read(info.file_size)  # zipfile checks the CRC at the end
    manifest = parse_json(raw, path)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise ValueError(
            f"{path}: not an skmnist model file ({MANIFEST} does not declare "
            f'the format "{FORMAT_NAME}")'
        )
    version = manifest.get("format_version")
    if type(version) is not int or version < 1:
        raise ValueError(
            f"{path}: corrupt skmnist model file: format_version {short(version)}"
        )
    if version > FORMAT_VERSION:
        written_by = manifest.get("skmnist_version")
        if not isinstance(written_by, str):
            written_by = "an unknown version"
        raise ValueError(
            f"{path}: this model file has format version {version} (written by "
            f"skmnist {short(written_by, quote=False)}), but skmnist "
            f"{__version__} reads format versions up to {FORMAT_VERSION}. "
            "Upgrade skmnist to load it (pip install --upgrade skmnist)."
        )
    if not isinstance(manifest.get("model"), dict):
        raise ValueError(f"{path}: corrupt skmnist model file: no model description")
    return manifest


def _build(description, read_array, path):
    """The estimator that ``description`` describes."""
    if not isinstance(description, dict):
        raise ValueError(f"{path}: corrupt skmnist model file: bad estimator entry")
    name = description.get("class")
    if name == _PIPELINE:
        return _build_pipeline(description, read_array, path)
    cls = registered_estimators().get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(
            f"{path}: unknown estimator class {short(name)} in the model file; "
            f"this skmnist ({__version__}) loads "
            f"{', '.join(sorted(registered_estimators()))} and Pipelines of "
            "them; for a class of your own, import the module that registers it "
            "(skmnist.register_estimator) first"
        )
    estimator = _instantiate(cls, description, read_array, path)
    state = description.get("training_state")
    if state is not None:
        set_state = getattr(estimator, "_set_training_state", None)
        if callable(set_state):
            decoded = decode_mapping(state, read_array, path)
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
        if entry is None or entry == PASSTHROUGH:
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
    params = decode_mapping(description.get("params", {}), read_array, path)
    attributes = decode_mapping(description.get("attributes", {}), read_array, path)
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
            f"{short(bad)} are not fitted attributes"
        )
    estimator.__dict__.update(attributes)
    return estimator
