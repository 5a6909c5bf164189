"""The tutorial's sequel, a convolutional network, as a scikit-learn classifier.

A thin network on :class:`~skmnist.networks._base.BaseNetworkClassifier`: its own
parameters (filters, kernel and pool sizes, dense layers, dropout, random
shifts, the learning-rate schedule) and its layers as data.
"""

import math
from numbers import Integral, Real

from sklearn.utils._param_validation import Interval, StrOptions

from ._architecture import HIDDEN_ACTIVATIONS, image_side
from ._base import BaseNetworkClassifier, positive_ints


class MNISTCNNClassifier(BaseNetworkClassifier):
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

    optimizer : {"adam", "adamw", "rmsprop", "sgd"}, default="adam"
        Keras optimizer used for training.

    learning_rate : float > 0, default=0.002
        The optimizer's (initial) learning rate.

    batch_size : int >= 1, default=128
        Number of samples per gradient update.

    epochs : int >= 1, default=10
        Number of passes over the training data.

    shuffle : bool, default=True
        Whether to reshuffle the training data before each epoch.

    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data, stop when the
        validation accuracy has not improved by at least ``tol`` for
        ``n_iter_no_change`` consecutive epochs, and restore the weights of
        the best epoch; when False, stop the same way on the training loss.

    validation_fraction : float in (0, 1), default=0.1
        Share of the training data held out when ``early_stopping`` is True.

    n_iter_no_change : int >= 1, default=10
        Epochs without an improvement of at least ``tol`` before training
        stops.

    tol : float >= 0, default=1e-4
        Smallest improvement of the monitored score that counts.

    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, ``{label: weight}``; ``"balanced"`` weighs
        each class inversely to its frequency. Multiplied with
        ``sample_weight``.

    warm_start : bool, default=False
        When True, :meth:`fit` continues training the current network for
        ``epochs`` more epochs instead of starting from new weights.

    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the dropout masks, the shifts and the
        shuffling; an integer gives the same model, fit after fit and
        process after process, and changes no global random state.

    verbose : int in {0, 1, 2}, default=0
        0 is silent, 1 shows a progress bar per epoch, 2 prints one line per
        epoch.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels, sorted.

    n_features_in_ : int
        Number of features seen during :meth:`fit`.

    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of features seen during :meth:`fit`, only when ``X`` has string
        column names.

    architecture_ : list of dict
        The fitted network as plain data, one description per layer (kind,
        sizes, activation), as :func:`skmnist.save` stores it.

    coefs_ : list of ndarray
        Kernel of each weighted layer, in order, as float64: the convolutions'
        ``(kernel_size, kernel_size, channels, filters)``, then the dense
        layers' ``(n_inputs, n_outputs)``.

    intercepts_ : list of ndarray
        Bias vector of each weighted layer, as float64.

    history_ : dict of str to list of float
        Per-epoch ``"loss"`` and ``"accuracy"`` and, once any epoch had
        early stopping's validation set, ``"val_loss"`` and
        ``"val_accuracy"`` (NaN for epochs without one), ``n_iter_`` values
        each.

    loss_curve_ : list of float
        Training loss after each epoch (``history_["loss"]``).

    validation_scores_ : list of float or None
        ``history_["val_accuracy"]``, or None if no epoch had a validation
        set.

    best_validation_score_ : float or None
        The validation accuracy of the restored weights, set by a
        :meth:`fit` with early stopping; None after any other training.

    best_loss_ : float
        Lowest training loss of any epoch so far.

    n_iter_ : int
        Number of epochs run, over all calls that continued training.

    See Also
    --------
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
        "filters": ["array-like", Interval(Integral, 1, None, closed="left")],
        "kernel_size": [Interval(Integral, 1, None, closed="left")],
        "pool_size": [Interval(Integral, 1, None, closed="left")],
        "dense_units": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(HIDDEN_ACTIVATIONS))],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "max_shift": [Interval(Integral, 0, None, closed="left")],
        "learning_rate_schedule": [StrOptions({"cosine", "constant"})],
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

    def _architecture(self, n_features, n_classes):
        filters = positive_ints(self.filters, "filters", allow_empty=False)
        dense_units = positive_ints(self.dense_units, "dense_units")
        kernel, pool = int(self.kernel_size), int(self.pool_size)
        # The smallest image every convolution and pooling still fits in.
        min_side = 1
        for _ in filters:
            min_side = min_side * pool + kernel - 1
        side, padding = image_side(n_features, min_side)
        layers = [{"kind": "image", "side": side, "padding": padding}]
        if self.max_shift:
            layers.append({"kind": "random_shift", "max_shift": int(self.max_shift)})
        for n_filters in filters:
            layers.append(
                {
                    "kind": "conv2d",
                    "filters": n_filters,
                    "kernel_size": [kernel, kernel],
                    "activation": self.activation,
                }
            )
            layers.append({"kind": "max_pool2d", "pool_size": [pool, pool]})
        layers.append({"kind": "flatten"})
        widths = [*dense_units, n_classes]
        for i, width in enumerate(widths):
            if self.dropout > 0:
                layers.append({"kind": "dropout", "rate": float(self.dropout)})
            activation = "softmax" if i == len(widths) - 1 else self.activation
            layers.append({"kind": "dense", "units": width, "activation": activation})
        return layers

    def _learning_rate(self, progress):
        if self.learning_rate_schedule == "constant":
            return self.learning_rate
        return self.learning_rate * 0.5 * (1 + math.cos(math.pi * progress))
