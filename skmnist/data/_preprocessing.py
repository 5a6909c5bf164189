"""The tutorial's reshape-and-scale step as a scikit-learn transformer."""

import math

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import (
    _check_feature_names_in,
    check_is_fitted,
    validate_data,
)

from .._registry import register_estimator
from .._utils import callbacks
from .._utils.memory import aligned_empty

PIXEL_MAX = 255


@register_estimator
class MNISTPreprocessor(
    TransformerMixin, callbacks.CallbackSupportMixin, BaseEstimator
):
    """Flatten images to rows and scale pixel values from [0, 255] to [0, 1].

    This is the Keras tutorial's ``x.reshape(-1, 784).astype("float32") / 255``
    as a transformer, so that it can stand first in a
    :class:`~sklearn.pipeline.Pipeline`. Images of shape ``(n, h, w)`` become
    ``h * w`` features; rows that are already flat pass through the scaling
    only. Input may be ``uint8`` or float, but must hold pixel intensities in
    [0, 255]: anything outside is an error, not silently clipped.

    Attributes
    ----------
    n_features_in_ : int
        Number of pixels per image (784 for MNIST).

    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Column names of ``X``, set only when ``X`` has string column names.

    image_shape_ : tuple of (int, int) or None
        ``(h, w)`` of the images seen in :meth:`fit`: the shape of 3-D input,
        or the square that a perfect-square number of features makes (28 x 28
        for 784); None otherwise.

    See Also
    --------
    MNISTMLPClassifier : The classifier this transformer feeds.
    make_mnist_pipeline : Both steps composed in a pipeline.

    Examples
    --------
    >>> import numpy as np
    >>> from skmnist import MNISTPreprocessor
    >>> images = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    >>> MNISTPreprocessor().fit_transform(images)
    array([[0. , 1. , 0.2, 0.4]], dtype=float32)
    """

    _parameter_constraints: dict = {}

    def fit(self, X, y=None):
        """Record the number of pixels (and image shape) of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, h, w) or (n_samples, n_features)
            Images, with pixel values in [0, 255].

        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : MNISTPreprocessor
            The fitted transformer.
        """
        self._validate_params()
        X, image_shape = self._validate_pixels(X, reset=True)
        # One task for scikit-learn's callbacks, so that a pipeline passes
        # them on (a ProgressBar) without warning that this step takes none.
        with callbacks.fit_callbacks(self, X, y, max_epochs=0, task_name="fit"):
            self.image_shape_ = image_shape or _square_shape(self.n_features_in_)
        return self

    def transform(self, X):
        """Flatten ``X`` and scale it to float32 values in [0, 1].

        Parameters
        ----------
        X : array-like of shape (n_samples, h, w) or (n_samples, n_features)
            Images with the same number of pixels as in :meth:`fit`.

        Returns
        -------
        X_scaled : ndarray of shape (n_samples, ``n_features_in_``), dtype float32
            Pixel values divided by 255.
        """
        check_is_fitted(self)
        X, image_shape = self._validate_pixels(X, reset=False)
        if image_shape is not None and self.image_shape_ not in (None, image_shape):
            raise ValueError(
                f"X has images of shape {image_shape}, but {type(self).__name__} "
                f"was fitted on images of shape {self.image_shape_}."
            )
        scaled = aligned_empty(X.shape, np.float32)
        return np.divide(X, PIXEL_MAX, out=scaled, dtype=np.float32)

    def get_feature_names_out(self, input_features=None):
        """Names of the output features: one per pixel.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input feature names; must match ``feature_names_in_`` if that is
            set.

        Returns
        -------
        feature_names_out : ndarray of str objects
            The input names when ``X`` had column names, otherwise
            ``pixel_<row>_<col>`` for images and ``pixel_<i>`` for flat rows
            of no square size.
        """
        check_is_fitted(self)
        names = _check_feature_names_in(self, input_features, generate_names=False)
        if names is not None:
            return names
        if self.image_shape_ is not None:
            rows, cols = self.image_shape_
            return np.asarray(
                [f"pixel_{r}_{c}" for r in range(rows) for c in range(cols)],
                dtype=object,
            )
        return np.asarray(
            [f"pixel_{i}" for i in range(self.n_features_in_)], dtype=object
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    def _validate_pixels(self, X, *, reset):
        """Flatten 3-D images, validate, and check the [0, 255] range.

        Returns the 2-D array and the ``(h, w)`` of 3-D input (None for 2-D).
        """
        X, image_shape = _flatten_images(X)
        X = validate_data(self, X, reset=reset, dtype="numeric")
        if X.size and X.min() < 0:
            raise ValueError(
                f"Negative values in data passed to {type(self).__name__}: pixel "
                f"values must lie in [0, {PIXEL_MAX}], got a minimum of {X.min()}."
            )
        if X.size and X.max() > PIXEL_MAX:
            raise ValueError(
                f"Pixel values passed to {type(self).__name__} must lie in "
                f"[0, {PIXEL_MAX}], got a maximum of {X.max()}. Pass raw pixel "
                "intensities, not already-scaled or unnormalised data."
            )
        return X, image_shape


def _flatten_images(X):
    """Reshape ``(n, h, w)`` images to ``(n, h * w)``; leave anything else."""
    if hasattr(X, "iloc") or hasattr(X, "tocsr"):
        return X, None  # data frames and sparse matrices are 2-D already
    array = np.asarray(X)
    if array.ndim != 3:
        return X, None
    n, h, w = array.shape
    return array.reshape(n, h * w), (h, w)


def _square_shape(n_features):
    side = math.isqrt(n_features)
    return (side, side) if side * side == n_features else None
