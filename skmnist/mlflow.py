"""MLflow's model format for skmnist models: the ``skmnist`` flavor.

An MLflow model saved here holds the fitted model as a :func:`skmnist.save`
file (``data/model.skmnist``: data, never a pickle) and two flavors:

``skmnist``
    :func:`load_model` gives the skmnist estimator or pipeline back.
``python_function``
    ``mlflow.pyfunc.load_model(uri).predict(X)`` returns what the model's
    ``predict`` returns (or ``predict_proba``: see ``pyfunc_predict_fn``), the
    same values to the bit, computed with NumPy: serving a model never
    imports TensorFlow.

Its signature describes MNIST as the model takes it: ``uint8`` images of
shape ``(n, 28, 28)`` for a pipeline that starts with
:class:`~skmnist.MNISTPreprocessor`, ``float32`` rows of ``n_features_in_``
pixels for a classifier alone, unless an ``input_example`` says otherwise;
the labels (or the probabilities) out; and one inference parameter,
``predict_fn`` (``"predict"`` or ``"predict_proba"``).

Needs the ``mlflow`` extra (``pip install "skmnist[mlflow]"``, from a checkout
``pip install ".[mlflow]"``): MLflow's client, ``mlflow-skinny``, and pandas.
``import skmnist`` does not import this module, nor MLflow.
"""

import os
import shutil
import sys
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

try:
    import mlflow
    import mlflow.artifacts
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model, infer_signature
except ImportError as exc:  # pragma: no cover - what a missing extra says
    raise ImportError(
        f"skmnist.mlflow needs MLflow, which is not installed ({exc}). Install "
        'the mlflow extra: pip install "skmnist[mlflow]" (from a checkout of '
        'skmnist: pip install ".[mlflow]").'
    ) from exc

import numpy as np

from ._version import __version__
from .persistence import load, save

__all__ = [
    "FLAVOR_NAME",
    "PYFUNC_PREDICT_FNS",
    "get_default_pip_requirements",
    "load_model",
    "log_model",
    "save_model",
]

#: The flavor's name in an MLmodel file.
FLAVOR_NAME = "skmnist"

#: What the pyfunc model's ``predict`` may return: the labels or the
#: probabilities of each class.
PYFUNC_PREDICT_FNS = ("predict", "predict_proba")

# The model file inside an MLflow model's folder (MLflow's pyfunc flavor
# copies its data into "data/").
_MODEL_FILE = "model.skmnist"
_DATA = f"data/{_MODEL_FILE}"


def get_default_pip_requirements():
    """The pip requirements an MLflow model of this flavor is saved with.

    skmnist at this version and the NumPy and scikit-learn it runs with,
    pinned as installed here; MLflow adds itself.

    Returns
    -------
    requirements : list of str
        Requirement specifiers, such as ``"numpy==2.4.0"``.

    Examples
    --------
    >>> from skmnist.mlflow import get_default_pip_requirements
    >>> [r.split("==")[0] for r in get_default_pip_requirements()]
    ['skmnist', 'numpy', 'scikit-learn']
    """
    return [
        f"skmnist=={__version__}",
        *(_pinned(name) for name in ("numpy", "scikit-learn")),
    ]


def _pinned(distribution):
    try:
        return f"{distribution}=={version(distribution)}"
    except PackageNotFoundError:
        return distribution


def save_model(
    model,
    path,
    *,
    pyfunc_predict_fn="predict",
    signature=None,
    input_example=None,
    pip_requirements=None,
    extra_pip_requirements=None,
    conda_env=None,
    metadata=None,
    mlflow_model=None,
):
    """Save a fitted skmnist model as an MLflow model in the folder ``path``.

    The folder gets the model as a :func:`skmnist.save` file, the ``skmnist``
    and ``python_function`` flavors, the signature, the input example and
    the environment files MLflow writes. It is written under a temporary name
    beside ``path`` and renamed into place once complete: a failed save
    leaves nothing behind.

    Parameters
    ----------
    model : estimator
        A fitted classifier or pipeline that :func:`skmnist.save` can store
        (such as :func:`~skmnist.make_mnist_pipeline`'s).

    path : str or os.PathLike
        The folder to create. It must not exist, or be empty.

    pyfunc_predict_fn : {"predict", "predict_proba"}, default="predict"
        What the pyfunc model returns by default: the labels, or the
        probabilities (columns in the order of ``classes_``). Each call can
        choose with ``params={"predict_fn": ...}``.

    signature : mlflow.models.ModelSignature, None or False, default=None
        The model's signature. None infers it from ``input_example`` if
        given, otherwise from the model (see the module's description), with
        ``predict_fn`` as its one inference parameter; False saves none.

    input_example : array-like, default=None
        A few inputs to store with the model, as the model takes them (for a
        pipeline, ``uint8`` images). It must match the signature.

    pip_requirements : list of str, default=None
        The model's pip requirements, replacing
        :func:`get_default_pip_requirements`.

    extra_pip_requirements : list of str, default=None
        Requirements added to the default ones.

    conda_env : dict or str, default=None
        A Conda environment (a dict, or the path of a YAML file) to save
        instead of pip requirements.

    metadata : dict, default=None
        Custom metadata for the MLmodel file.

    mlflow_model : mlflow.models.Model, default=None
        The MLmodel configuration to add the flavors to (``log_model`` passes
        one); a new one by default.

    Returns
    -------
    mlflow_model : mlflow.models.Model
        The MLmodel configuration written.

    Raises
    ------
    ValueError
        If ``model`` is not fitted or has no ``pyfunc_predict_fn`` method, or
        ``pyfunc_predict_fn`` is not one of :data:`PYFUNC_PREDICT_FNS`.
    TypeError
        If :func:`skmnist.save` cannot store ``model``.
    mlflow.exceptions.MlflowException
        If ``path`` is a folder that is not empty, or the input example does
        not match the signature.

    See Also
    --------
    log_model : Save into the current MLflow run.
    load_model : Load the skmnist model back.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import mlflow.pyfunc
    >>> from sklearn.datasets import load_digits
    >>> import skmnist
    >>> import skmnist.mlflow
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = skmnist.MNISTMLPClassifier(epochs=20, random_state=0).fit(X / 16, y)
    >>> path = Path(tempfile.mkdtemp()) / "digits"
    >>> _ = skmnist.mlflow.save_model(clf, path)
    >>> pyfunc_model = mlflow.pyfunc.load_model(str(path))
    >>> pyfunc_model.predict((X[:5] / 16).astype("float32"))
    array([0, 1, 2, 3, 4])
    >>> proba = pyfunc_model.predict(
    ...     (X[:5] / 16).astype("float32"), params={"predict_fn": "predict_proba"}
    ... )
    >>> proba.shape
    (5, 10)
    """
    _check_model(model, pyfunc_predict_fn)
    path = Path(os.fspath(path)).absolute()
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise MlflowException.invalid_parameter_value(
            f"Path '{path}' already exists and is not an empty folder."
        )
    if signature is None:
        signature = _default_signature(model, input_example, pyfunc_predict_fn)
    elif signature is False:
        signature = None
    if conda_env is None and pip_requirements is None:
        pip_requirements = [
            *get_default_pip_requirements(),
            *(extra_pip_requirements or []),
        ]
        extra_pip_requirements = None
    if mlflow_model is None:
        mlflow_model = Model()
    mlflow_model.add_flavor(
        FLAVOR_NAME,
        data=_DATA,
        skmnist_version=__version__,
        pyfunc_predict_fn=pyfunc_predict_fn,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        building = scratch / "model"
        mlflow.pyfunc.save_model(
            str(building),
            loader_module=__name__,
            data_path=str(save(model, scratch / _MODEL_FILE)),
            mlflow_model=mlflow_model,
            signature=signature,
            input_example=input_example,
            pip_requirements=pip_requirements,
            extra_pip_requirements=extra_pip_requirements,
            conda_env=conda_env,
            metadata=metadata,
            model_config={"predict_fn": pyfunc_predict_fn},
        )
        if path.is_dir():
            path.rmdir()  # empty, as checked: rename replaces no folder
        building.rename(path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return mlflow_model


def log_model(
    model,
    name=None,
    *,
    pyfunc_predict_fn="predict",
    signature=None,
    input_example=None,
    pip_requirements=None,
    extra_pip_requirements=None,
    conda_env=None,
    **kwargs,
):
    """Log a fitted skmnist model as an MLflow model of the current run.

    A run is started if none is active, as with MLflow's own flavors. The
    model is saved as :func:`save_model` saves it; with an
    ``input_example``, MLflow also checks that the saved model serves it.

    Parameters
    ----------
    model : estimator
        A fitted classifier or pipeline that :func:`skmnist.save` can store.

    name : str, default=None
        The model's name in the run.

    pyfunc_predict_fn : {"predict", "predict_proba"}, default="predict"
        What the pyfunc model returns by default, as in :func:`save_model`.

    signature : mlflow.models.ModelSignature, None or False, default=None
        As in :func:`save_model`.

    input_example : array-like, default=None
        As in :func:`save_model`.

    pip_requirements : list of str, default=None
        As in :func:`save_model`.

    extra_pip_requirements : list of str, default=None
        As in :func:`save_model`.

    conda_env : dict or str, default=None
        As in :func:`save_model`.

    **kwargs : dict
        Passed to :meth:`mlflow.models.Model.log`: ``registered_model_name``,
        ``metadata``, ``params``, ``tags``, ``step``, ``model_id``...

    Returns
    -------
    model_info : mlflow.models.model.ModelInfo
        The logged model: its ``model_uri`` loads it.

    See Also
    --------
    save_model : Save to a local folder.
    load_model : Load the skmnist model back.

    Examples
    --------
    >>> import os, tempfile
    >>> from pathlib import Path
    >>> import mlflow
    >>> from sklearn.datasets import load_digits
    >>> import skmnist
    >>> import skmnist.mlflow
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = skmnist.MNISTMLPClassifier(epochs=20, random_state=0).fit(X / 16, y)

    A tracking store in a new local folder (MLflow 3.13 and later want this
    variable set to use one):

    >>> os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    >>> mlflow.set_tracking_uri((Path(tempfile.mkdtemp()) / "mlruns").as_uri())
    >>> with mlflow.start_run():
    ...     info = skmnist.mlflow.log_model(clf, name="digits")
    >>> loaded = skmnist.mlflow.load_model(info.model_uri)
    >>> bool((loaded.predict_proba(X / 16) == clf.predict_proba(X / 16)).all())
    True
    """
    _check_model(model, pyfunc_predict_fn)
    return Model.log(
        artifact_path=None,
        name=name,
        flavor=sys.modules[__name__],
        model=model,
        pyfunc_predict_fn=pyfunc_predict_fn,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        conda_env=conda_env,
        **kwargs,
    )


def load_model(model_uri, dst_path=None):
    """Load the skmnist model of an MLflow model.

    The model file is read with :func:`skmnist.load`: no pickle, no
    TensorFlow.

    Parameters
    ----------
    model_uri : str or os.PathLike
        Where the MLflow model is: a local folder, ``runs:/<run_id>/<name>``,
        ``models:/<model_id>``, ``models:/<name>/<version>``, or any URI
        MLflow's artifact stores read.

    dst_path : str or os.PathLike, default=None
        The local folder to download the model to; a temporary one by
        default. A local model is read where it is.

    Returns
    -------
    model : estimator
        The fitted skmnist classifier or pipeline.

    Raises
    ------
    ValueError
        If the MLflow model has no ``skmnist`` flavor, or its model file is
        outside its folder or not a valid skmnist file.

    See Also
    --------
    skmnist.load : Load a model file.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from sklearn.datasets import load_digits
    >>> import skmnist
    >>> import skmnist.mlflow
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = skmnist.MNISTMLPClassifier(epochs=20, random_state=0).fit(X / 16, y)
    >>> path = Path(tempfile.mkdtemp()) / "digits"
    >>> _ = skmnist.mlflow.save_model(clf, path)
    >>> skmnist.mlflow.load_model(path).predict(X[:5] / 16)
    array([0, 1, 2, 3, 4])
    """
    uri = os.fspath(model_uri)
    local = Path(uri) if Path(uri).is_dir() else None
    if local is None:
        local = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=uri,
                dst_path=None if dst_path is None else os.fspath(dst_path),
            )
        )
    flavors = Model.load(str(local)).flavors
    if FLAVOR_NAME not in flavors:
        raise ValueError(
            f"The MLflow model at {uri} has no {FLAVOR_NAME!r} flavor (it has "
            f"{', '.join(sorted(flavors)) or 'none'}): it was not saved by "
            "skmnist.mlflow."
        )
    model_file = (local / flavors[FLAVOR_NAME].get("data", _DATA)).resolve()
    if not model_file.is_relative_to(local.resolve()):
        raise ValueError(
            f"The MLflow model at {uri} names a model file outside its folder "
            f"({model_file}); it was not saved by skmnist.mlflow."
        )
    return load(model_file)


def _check_model(model, pyfunc_predict_fn):
    """Reject, before anything is written, what would make no working model."""
    if pyfunc_predict_fn not in PYFUNC_PREDICT_FNS:
        raise ValueError(
            f"pyfunc_predict_fn must be one of {list(PYFUNC_PREDICT_FNS)}, got "
            f"{pyfunc_predict_fn!r}."
        )
    if not callable(getattr(model, pyfunc_predict_fn, None)):
        raise ValueError(
            f"{type(model).__name__} has no {pyfunc_predict_fn}(): the pyfunc "
            "model needs a classifier, or a pipeline that ends with one."
        )
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(model)
    except Exception as exc:  # NotFittedError, and a pipeline's own
        raise ValueError(
            f"Fit the {type(model).__name__} before saving it as an MLflow "
            f"model ({exc})"
        ) from None


def _model_input(model):
    """An input of one sample of the shape and type the model takes."""
    steps = getattr(model, "steps", None)
    first = steps[0][1] if steps else model
    image_shape = getattr(first, "image_shape_", None)
    if image_shape is not None:  # MNISTPreprocessor: raw pixel intensities
        return np.zeros((1, *image_shape), dtype=np.uint8)
    return np.zeros((1, first.n_features_in_), dtype=np.float32)


def _default_signature(model, input_example, pyfunc_predict_fn):
    example = _model_input(model) if input_example is None else input_example
    output = getattr(model, pyfunc_predict_fn)(_as_model_input(model, example))
    return infer_signature(example, output, params={"predict_fn": pyfunc_predict_fn})


def _as_model_input(model, data):
    """``data`` as pyfunc passes it, as the estimator takes it."""
    if hasattr(data, "to_numpy") and getattr(model, "feature_names_in_", None) is None:
        # A data frame (MLflow's "dataframe_split" payload, say) for a model
        # fitted on arrays: its values, without the column names that
        # scikit-learn would warn about.
        return data.to_numpy()
    return data


# -- the python_function flavor ----------------------------------------------


def _load_pyfunc(path, model_config=None):
    """What ``mlflow.pyfunc.load_model`` calls: ``path`` is the model file."""
    predict_fn = (model_config or {}).get("predict_fn", "predict")
    return _PyfuncModel(load(path), predict_fn)


class _PyfuncModel:
    """The skmnist model behind ``mlflow.pyfunc``'s ``PyFuncModel``."""

    def __init__(self, model, predict_fn):
        self._model = model
        self._predict_fn = predict_fn

    def get_raw_model(self):
        """The skmnist estimator or pipeline."""
        return self._model

    def predict(self, model_input, params=None):
        """Labels or probabilities, as ``params["predict_fn"]`` says."""
        predict_fn = (params or {}).get("predict_fn") or self._predict_fn
        if predict_fn not in PYFUNC_PREDICT_FNS:
            raise ValueError(
                f"predict_fn must be one of {list(PYFUNC_PREDICT_FNS)}, got "
                f"{predict_fn!r}."
            )
        method = getattr(self._model, predict_fn)
        return method(_as_model_input(self._model, model_input))
