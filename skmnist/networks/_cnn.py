"""The tutorial's sequel, a convolutional network, as a scikit-learn classifier.

A preset of :class:`~skmnist.NetworkClassifier`: its own parameters
(filters, kernel and pool sizes, dense layers, dropout, random shifts, the
learning-rate schedule) and the layers they make.
"""

from numbers import Integral

from sklearn.utils._param_validation import Interval, StrOptions

from .._registry import register_estimator
from ..layers import (
    HIDDEN_ACTIVATIONS,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    RandomShift,
)
from ._base import BaseNetworkClassifier, positive_ints
from ._docs import fill_doc
from ._network import DROPOUT, LAYER_SIZES, SCHEDULES, NetworkClassifier


@register_estimator
@fill_doc
class MNISTCNNClassifier(NetworkClassifier):
    """A convolutional network for MNIST as a scikit-learn classifier.

    The network is ``(Conv2D(f, kernel_size, relu) -> MaxPool(pool_size))``
    for each ``f`` in ``filters``, then ``Flatten``, then ``Dropout ->
    Dense(units, relu)`` for each width in ``dense_units``, then ``Dropout ->
    Dense(n_classes, softmax)``: the layout of Keras's "simple MNIST convnet"
    example, with fewer filters (24 and 48 rather than 32 and 64) and a
    hidden dense layer. During training each image is shifted at random
    by up to ``max_shift`` pixels, and the learning rate follows a cosine from
    ``learning_rate`` down to zero over the epochs of each :meth:`fit`. The
    defaults were chosen by measurement on MNIST (see the performance page of
    the documentation).

    It takes the same 2-D input as any scikit-learn classifier, such as the
    rows of 784 pixels that :class:`MNISTPreprocessor` makes: a row of
    ``n_features`` values is read as a square image, ``n_features = side *
    side`` (784 is 28 x 28); a width that is not a square number is padded
    with zeros to the next one, and an image smaller than the layers need is
    framed with zeros. So any tabular data fits too, as in scikit-learn's
    estimator checks.

    A preset of :class:`NetworkClassifier`: ``MNISTCNNClassifier()`` trains
    what ``NetworkClassifier(layers=[RandomShift(2), Conv2D(24, 3,
    activation="relu"), MaxPool2D(2), Conv2D(48, 3, activation="relu"),
    MaxPool2D(2), Flatten(), Dropout(0.5), Dense(128, activation="relu"),
    Dropout(0.5)], learning_rate_schedule="cosine", learning_rate=0.002,
    epochs=10)`` trains, with the same results for the same
    ``random_state``.

    Parameters
    ----------
    filters : int or tuple of int, default=(24, 48)
        Number of filters of each convolution; one convolution and one
        max-pooling per element.

    kernel_size : int, default=3
        Height and width of every convolution's kernel.

    pool_size : int, default=2
        Height and width of every max-pooling window (its stride too).

    dense_units : int or tuple of int, default=(128,)
        Width of each hidden dense layer after the convolutions; ``()`` for
        none (Keras's example).

    activation : {"relu", "tanh", "logistic", "identity"}, default="relu"
        Activation of the convolutions and hidden dense layers.

    dropout : float in [0, 1), default=0.5
        Fraction of units dropped before each dense layer during training.

    max_shift : int >= 0, default=2
        Largest random shift of a training image, in pixels, up, down, left
        or right (a light data augmentation); 0 for none.

    learning_rate_schedule : {"cosine", "constant"}, default="cosine"
        ``"cosine"`` lowers the learning rate from ``learning_rate`` to 0
        along half a cosine over the epochs of each :meth:`fit`; ``"constant"``
        keeps it. :meth:`partial_fit` always uses ``learning_rate``.

    %(optimizer)s

    learning_rate : float > 0, default=0.002
        The optimizer's (initial) learning rate.

    %(batch_size)s

    epochs : int >= 1, default=10
        Number of passes over the training data.

    %(training_controls)s

    Attributes
    ----------
    %(fitted_attributes)s

    coefs_ : list of ndarray
        Kernel of each weighted layer, in order, as float64: the convolutions'
        ``(kernel_size, kernel_size, channels, filters)``, then the dense
        layers' ``(n_inputs, n_outputs)``.

    intercepts_ : list of ndarray
        Bias vector of each weighted layer, as float64.

    See Also
    --------
    NetworkClassifier : Any network of skmnist's layer kinds.
    MNISTMLPClassifier : The Keras tutorial's multi-layer perceptron.
    make_mnist_pipeline : This classifier behind :class:`MNISTPreprocessor`,
        with ``network="cnn"``.

    Notes
    -----
    Predictions are computed with NumPy (convolutions as matrix products of
    unfolded patches, in chunks of rows so memory stays bounded), in float32
    for float32 input and float64 otherwise; they agree with the Keras
    model's output to about 1e-6.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skmnist import MNISTCNNClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = MNISTCNNClassifier(filters=(8,), dense_units=(), max_shift=0,
    ...                          learning_rate=0.01, epochs=20, random_state=0)
    >>> clf = clf.fit(X / 16, y)
    >>> clf.architecture_[0]  # 64 features: 8 x 8 images
    {'kind': 'image', 'side': 8, 'padding': 0}
    >>> round(clf.score(X / 16, y), 2) > 0.9
    True
    """

    _parameter_constraints: dict = {
        **BaseNetworkClassifier._parameter_constraints,
        "filters": LAYER_SIZES,
        "kernel_size": [Interval(Integral, 1, None, closed="left")],
        "pool_size": [Interval(Integral, 1, None, closed="left")],
        "dense_units": LAYER_SIZES,
        "activation": [StrOptions(set(HIDDEN_ACTIVATIONS))],
        "dropout": DROPOUT,
        "max_shift": [Interval(Integral, 0, None, closed="left")],
        "learning_rate_schedule": [StrOptions(set(SCHEDULES))],
    }

    _keras_name = "mnist_cnn"

    def __init__(
        self,
        filters=(24, 48),
        kernel_size=3,
        pool_size=2,
        dense_units=(128,),
        activation="relu",
        dropout=0.5,
        max_shift=2,
        learning_rate_schedule="cosine",
        optimizer="adam",
        learning_rate=0.002,
        batch_size=128,
        epochs=10,
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
        self.filters = filters
        self.kernel_size = kernel_size
        self.pool_size = pool_size
        self.dense_units = dense_units
        self.activation = activation
        self.dropout = dropout
        self.max_shift = max_shift
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
        filters = positive_ints(self.filters, "filters", allow_empty=False)
        dense_units = positive_ints(self.dense_units, "dense_units")
        kernel, pool = int(self.kernel_size), int(self.pool_size)
        layers = [RandomShift(self.max_shift)] if self.max_shift else []
        for n_filters in filters:
            layers.append(Conv2D(n_filters, kernel, activation=self.activation))
            layers.append(MaxPool2D(pool))
        layers.append(Flatten())
        for width in dense_units:
            if self.dropout > 0:
                layers.append(Dropout(self.dropout))
            layers.append(Dense(width, activation=self.activation))
        if self.dropout > 0:  # before the output layer, which the core adds
            layers.append(Dropout(self.dropout))
        return layers
