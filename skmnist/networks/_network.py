"""A classifier for any network built from skmnist's layer kinds."""

import math
from numbers import Integral, Real

from sklearn.utils._param_validation import Interval, StrOptions

from .._registry import register_estimator
from ..layers import Dense, Dropout, Layer
from ._base import BaseNetworkClassifier
from ._docs import fill_doc

# The learning rate at ``progress`` (0 to 1) through a fit's epochs, from
# the initial ``rate``.
SCHEDULES = {
    "constant": lambda rate, progress: rate,
    "cosine": lambda rate, progress: rate * 0.5 * (1 + math.cos(math.pi * progress)),
}


@register_estimator
@fill_doc
class NetworkClassifier(BaseNetworkClassifier):
    """A neural network of any layers, as a scikit-learn classifier.

    ``layers`` lists the network's layers (:mod:`skmnist.layers`); the
    classifier adds the softmax output layer for the classes at fit, and
    reads each row as a square image first when the first layer takes images
    (784 values are 28 x 28; see :class:`~skmnist.layers.Image`). The network
    trains with Keras and predicts with NumPy, so it keeps the contract of
    skmnist's two presets, :class:`MNISTMLPClassifier` and
    :class:`MNISTCNNClassifier`: every scikit-learn estimator check,
    :meth:`partial_fit`, ``warm_start``, early stopping, weights, the safe
    file format (:func:`skmnist.save`), prediction without TensorFlow,
    :meth:`to_keras` and :func:`skmnist.to_onnx`.

    Parameters
    ----------
    layers : list of Layer, default=None
        The layers before the output layer, in order. None gives the Keras
        tutorial's: ``[Dense(512, "relu"), Dropout(0.2), Dense(512,
        "relu"), Dropout(0.2)]``.

    learning_rate_schedule : {"constant", "cosine"}, default="constant"
        ``"cosine"`` lowers the learning rate from ``learning_rate`` to 0
        along half a cosine over the epochs of each :meth:`fit`;
        :meth:`partial_fit` always uses ``learning_rate``.

    %(optimizer)s

    learning_rate : float > 0, default=0.001
        The optimizer's (initial) learning rate.

    %(batch_size)s

    epochs : int >= 1, default=5
        Number of passes over the training data.

    %(training_controls)s

    Attributes
    ----------
    %(fitted_attributes)s

    coefs_ : list of ndarray
        The first weight array of each weighted layer, in order, as float64:
        a dense layer's ``(n_inputs, units)`` kernel, a convolution's
        ``(kernel_h, kernel_w, channels, filters)`` kernel, a batch
        normalisation's ``(3, channels)`` gamma, moving mean and moving
        variance.

    intercepts_ : list of ndarray
        The second weight array of each weighted layer: its bias (a batch
        normalisation's beta), as float64.

    See Also
    --------
    MNISTMLPClassifier : The Keras tutorial's network, as a preset.
    MNISTCNNClassifier : A ConvNet for MNIST, as a preset.
    skmnist.layers : The layer kinds.

    Notes
    -----
    A network with parameters of its own is a subclass, as the presets are:
    its ``__init__`` lists its own parameters and the shared ones above (as
    every scikit-learn estimator lists all of its parameters), and its
    ``_layers()`` returns the layers they make. Register it with
    :func:`skmnist.register_estimator` so that :func:`skmnist.save` and
    :func:`skmnist.to_onnx` take it.

    Examples
    --------
    LeNet-5 on scikit-learn's 8 x 8 digits (framed with zeros to the 12 x 12
    its convolutions and poolings need):

    >>> from sklearn.datasets import load_digits
    >>> from skmnist import NetworkClassifier
    >>> from skmnist.layers import AvgPool2D, Conv2D, Dense, Flatten
    >>> X, y = load_digits(return_X_y=True)
    >>> lenet5 = NetworkClassifier(
    ...     layers=[
    ...         Conv2D(6, 5, padding="same", activation="tanh"), AvgPool2D(2),
    ...         Conv2D(16, 5, activation="tanh"), AvgPool2D(2),
    ...         Flatten(), Dense(120, activation="tanh"), Dense(84, activation="tanh"),
    ...     ],
    ...     learning_rate=0.01,
    ...     epochs=20,
    ...     random_state=0,
    ... ).fit(X / 16, y)
    >>> lenet5.architecture_[0]
    {'kind': 'image', 'side': 8, 'padding': 2}
    >>> round(lenet5.score(X / 16, y), 2) > 0.9
    True
    """

    _parameter_constraints: dict = {
        **BaseNetworkClassifier._parameter_constraints,
        "layers": [list, tuple, None],
        "learning_rate_schedule": [StrOptions(set(SCHEDULES))],
    }

    _keras_name = "network"

    def __init__(
        self,
        layers=None,
        learning_rate_schedule="constant",
        optimizer="adam",
        learning_rate=0.001,
        batch_size=128,
        epochs=5,
        shuffle=True,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        class_weight=None,
        warm_start=False,
        random_state=None,
        verbose=0,
    ):
        self.layers = layers
        self.learning_rate_schedule = learning_rate_schedule
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.shuffle = shuffle
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose

    def _layers(self):
        if self.layers is None:
            return tutorial_layers((512, 512), "relu", 0.2)
        for position, layer in enumerate(self.layers):
            if not isinstance(layer, Layer):
                raise ValueError(
                    f"layers[{position}] is {layer!r}, not a layer: give instances "
                    "of skmnist.layers' kinds (Dense(512, activation='relu'), ...)"
                )
        return list(self.layers)

    def _learning_rate(self, progress):
        # A subclass without the parameter (the MLP preset, a user's class)
        # trains at a constant rate.
        schedule = getattr(self, "learning_rate_schedule", "constant")
        return SCHEDULES[schedule](float(self.learning_rate), progress)


def tutorial_layers(widths, activation, dropout):
    """Dense layers of ``widths``, each followed by dropout (when ``dropout > 0``)."""
    layers = []
    for width in widths:
        layers.append(Dense(width, activation=activation))
        if dropout > 0:
            layers.append(Dropout(dropout))
    return layers


# Shared by the presets' parameter constraints.
LAYER_SIZES = ["array-like", Interval(Integral, 1, None, closed="left")]
DROPOUT = [Interval(Real, 0, 1, closed="left")]
