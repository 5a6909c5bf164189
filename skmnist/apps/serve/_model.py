"""The served model: what it takes, what it answers, what it is.

:class:`Predictor` turns the two kinds of input the server accepts into the
features the model's classifier takes, and predicts whole batches at once:

- *images*, (n, 28, 28) pixel values in [0, 255], white digit on black (the
  JSON ``pixels`` of ``POST /predict``, the converted pictures, the V2
  ``images`` input): a pipeline that starts with :class:`MNISTPreprocessor`
  scales them with it, any other model gets them flattened and divided by
  255, as ``skmnist predict`` gives them;
- *pixels*, (n, 784) float32 values in [0, 1] (the V2 ``pixels`` input, the
  Keras tutorial's ``x.reshape(-1, 784).astype("float32") / 255``): what the
  preprocessor makes, so they go to the steps after it unchanged.

Either way the probabilities are exactly those of ``model.predict_proba`` on
the same batch: a pipeline computes its steps one after the other, and the
server runs the same steps.
"""

import numpy as np

from ..._version import __version__
from ...data._images import SIZE
from ...data._preprocessing import MNISTPreprocessor
from ...networks._base import BaseNetworkClassifier
from .._model_input import model_input
from ._labels import Labels

__all__ = ["Predictor", "describe_model"]

N_PIXELS = SIZE * SIZE
PIXEL_MAX = 255


class Predictor:
    """Pixels in, probabilities out, for one fitted model.

    Parameters
    ----------
    model : classifier or Pipeline
        A fitted model of 784 pixels with ``predict_proba`` and ``classes_``.

    Raises
    ------
    ValueError
        If ``model`` is not such a model, its classes cannot be served (see
        :class:`~skmnist.apps.serve._labels.Labels`), or it fails to classify
        a blank image (tried once, as a warm-up).

    Examples
    --------
    >>> import numpy as np
    >>> from skmnist import make_mnist_pipeline
    >>> from skmnist.apps.serve._model import Predictor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8)
    >>> model = make_mnist_pipeline(hidden_layer_sizes=(8,), epochs=1, random_state=0)
    >>> model = model.fit(X, np.arange(40) % 4)
    >>> predictor = Predictor(model)
    >>> proba = predictor.predict(predictor.features_of_images(X[:3]))
    >>> bool(np.array_equal(proba, model.predict_proba(X[:3])))
    True
    >>> predictor.labels.names
    ['0', '1', '2', '3']
    """

    def __init__(self, model):
        _check_model(model)
        self.model = model
        self.labels = Labels(model.classes_)
        self._images_to_features, self._predict = _split(model)
        try:
            proba = self.predict(
                self.features_of_images(np.zeros((1, SIZE, SIZE), dtype=np.uint8))
            )
        except Exception as exc:  # a model that cannot predict: say so at start-up
            raise ValueError(
                f"the model fails to classify a blank image "
                f"({type(exc).__name__}: {exc})"
            ) from exc
        proba = np.asarray(proba)
        if proba.shape != (1, len(self.labels)) or proba.dtype.kind != "f":
            raise ValueError(
                f"the model's predict_proba gives {proba.dtype} of shape "
                f"{proba.shape} for one image, not one float per class "
                f"({len(self.labels)})"
            )
        self.proba_dtype = proba.dtype

    def features_of_images(self, images):
        """The classifier's features for (n, 28, 28) images in [0, 255]."""
        return self._images_to_features(images)

    def predict(self, features):
        """``predict_proba`` of the model, given its classifier's features."""
        return self._predict(features)


def _check_model(model):
    if not hasattr(model, "predict_proba") or not hasattr(model, "classes_"):
        raise ValueError(
            f"the model ({type(model).__name__}) is not a fitted classifier: it "
            "needs predict_proba and classes_"
        )
    n_features = getattr(model, "n_features_in_", N_PIXELS)
    if n_features != N_PIXELS:
        raise ValueError(
            f"the model expects {n_features} features per sample, not the "
            f"{N_PIXELS} pixels of a 28x28 image"
        )


def _split(model):
    """``(images -> features, features -> probabilities)`` for ``model``."""
    # A search (GridSearchCV...) predicts with its best estimator.
    estimator = getattr(model, "best_estimator_", model)
    steps = getattr(estimator, "steps", None)
    if steps:
        index, first = next(
            (
                (i, step)
                for i, (_, step) in enumerate(steps)
                if step not in (None, "passthrough")
            ),
            (None, None),
        )
        if isinstance(first, MNISTPreprocessor) and index + 1 < len(steps):
            rest = [s for _, s in steps[index + 1 :] if s not in (None, "passthrough")]
            # The steps after the preprocessor share its fitted estimators;
            # one step alone is called without the pipeline's dispatch.
            predict = (
                _proba_of_checked_features(rest[0])
                if len(rest) == 1
                else estimator[index + 1 :].predict_proba
            )
            # MNISTPreprocessor.transform is x / 255 in float32 once it has
            # checked the pixels, which the server has checked already (a
            # subclass may do more: its own transform then).
            scale = _scale if type(first) is MNISTPreprocessor else first.transform
            return scale, predict
    return (
        (lambda images: model_input(model, images)),
        _proba_of_checked_features(estimator),
    )


def _proba_of_checked_features(classifier):
    """``classifier.predict_proba``, for features the server has checked.

    For skmnist's networks (unless a subclass has its own ``predict_proba``)
    the same products without scikit-learn's checks of ``X``: the features
    are (n, 784) arrays the server made, or checked (finite, in range), and
    for a batch of single images the checks would cost more than the products.
    """
    if (
        isinstance(classifier, BaseNetworkClassifier)
        and type(classifier).predict_proba is BaseNetworkClassifier.predict_proba
    ):
        return classifier._proba_of_valid
    return classifier.predict_proba


def _scale(images):
    return np.divide(images.reshape(len(images), -1), PIXEL_MAX, dtype=np.float32)


def describe_model(model, *, name=None, labels=None):
    """The ``GET /model`` answer: what ``model`` is, as plain data.

    ``network`` is the classifier's ``architecture_`` (every fitted skmnist
    network has one), or None for another kind of classifier.
    """
    labels = labels if labels is not None else Labels(model.classes_)
    estimator = getattr(model, "best_estimator_", model)
    steps = getattr(estimator, "steps", None)
    classifier = steps[-1][1] if steps else estimator
    architecture = getattr(classifier, "architecture_", None)
    return {
        "name": name,
        "model": type(model).__name__,
        "steps": (
            [[step_name, type(step).__name__] for step_name, step in steps]
            if steps
            else None
        ),
        "classifier": type(classifier).__name__,
        "network": _plain(architecture) if architecture is not None else None,
        "classes": labels.values,
        "class_names": labels.names,
        "input": {
            "shape": [SIZE, SIZE],
            "n_features": N_PIXELS,
            "pixel_range": [0, PIXEL_MAX],
            "format": "white digit on black, as in MNIST",
        },
        "skmnist_version": __version__,
    }


def _plain(value):
    """``value`` with NumPy scalars and arrays, and tuples, as JSON data."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value
