"""The Keras MNIST tutorial's multi-layer perceptron as a scikit-learn classifier.

A thin network on :class:`~skmnist.networks._base.BaseNetworkClassifier`: its own
parameters (layer sizes, activation, dropout) and its layers as data.
"""

from numbers import Integral, Real

from sklearn.utils._param_validation import Interval, StrOptions

from ._architecture import HIDDEN_ACTIVATIONS
from ._base import BaseNetworkClassifier, positive_ints


class MNISTMLPClassifier(BaseNetworkClassifier):
    """The Keras MNIST multi-layer perceptron as a scikit-learn classifier.

    The defaults reproduce the Keras tutorial: ``Dense(512, relu) ->
    Dropout(0.2) -> Dense(512, relu) -> Dropout(0.2) -> Dense(n_classes,
    softmax)``, trained with Adam on the categorical cross-entropy for 5
    epochs in mini-batches of 128. The input width and the classes come from
    the data, so the same estimator fits any tabular classification problem;
    for raw MNIST images put :class:`MNISTPreprocessor` in front of it (see
    :func:`make_mnist_pipeline`).

    Parameters
    ----------
    hidden_layer_sizes : int or array-like of int, default=(512, 512)
        Width of each hidden ``Dense`` layer; the i-th element is the i-th
        layer, and a single int is one layer. An empty tuple gives softmax
        (multinomial logistic) regression.

    activation : {"relu", "tanh", "logistic", "identity"}, default="relu"
        Activation of the hidden layers, with scikit-learn's names
        (``"logistic"`` is Keras's ``"sigmoid"``, ``"identity"`` its
        ``"linear"``).

    dropout : float in [0, 1), default=0.2
        Fraction of units dropped after each hidden layer during training.

    optimizer : {"adam", "adamw", "rmsprop", "sgd"}, default="adam"
        Keras optimizer used for training.

    learning_rate : float > 0, default=0.001
        The optimizer's learning rate.

    batch_size : int >= 1, default=128
        Number of samples per gradient update.

    epochs : int >= 1, default=5
        Number of passes over the training data.

    shuffle : bool, default=True
        Whether to reshuffle the training data before each epoch.

    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified,
        drawn with ``random_state``), score it after each epoch, stop when the
        validation accuracy has not improved by at least ``tol`` for
        ``n_iter_no_change`` consecutive epochs, and restore the weights of
        the best epoch. When False, training stops the same way on the
        training loss, as in :class:`~sklearn.neural_network.MLPClassifier`.

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
        Seeds the initial weights, the dropout masks and the shuffling. An
        integer gives the same model, and the same predictions, fit after fit
        and process after process; it changes no global random state.

    verbose : int in {0, 1, 2}, default=0
        0 is silent, 1 shows a progress bar per epoch, 2 prints one line per
        epoch (as Keras's ``fit``).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels, sorted.

    n_features_in_ : int
        Number of features seen during :meth:`fit`.

    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of features seen during :meth:`fit`, only when ``X`` has string
        column names.

    coefs_ : list of ndarray
        Weight matrix of each dense layer, as float64; ``coefs_[i]`` has shape
        ``(n_inputs_i, n_outputs_i)``. As in
        :class:`~sklearn.neural_network.MLPClassifier`.

    intercepts_ : list of ndarray
        Bias vector of each dense layer, as float64.

    architecture_ : list of dict
        The fitted network as plain data, one description per layer (kind,
        sizes, activation), as :func:`skmnist.save` stores it.

    history_ : dict of str to list of float
        Per-epoch training ``"loss"`` (cross-entropy) and ``"accuracy"``, and
        once any epoch had early stopping's validation set, ``"val_loss"`` and
        ``"val_accuracy"``, as in Keras's ``History.history``; continued by
        ``warm_start`` and :meth:`partial_fit`. Every list has ``n_iter_``
        values: NaN for the epochs that had no validation set.

    loss_curve_ : list of float
        Training loss after each epoch (``history_["loss"]``).

    validation_scores_ : list of float or None
        Validation accuracy after each epoch (``history_["val_accuracy"]``,
        NaN where an epoch had none), or None if no epoch had a validation
        set.

    best_validation_score_ : float or None
        The validation accuracy of the restored weights, set by a
        :meth:`fit` with early stopping; None after any other training,
        whose weights it no longer describes.

    best_loss_ : float
        Lowest training loss of any epoch so far (in every mode: the
        training-loss stopping rule compares against it).

    n_iter_ : int
        Number of epochs run, over all calls that continued training.

    See Also
    --------
    MNISTCNNClassifier : The tutorial's sequel, a convolutional network.
    MNISTPreprocessor : Flattens and scales images for this classifier.
    make_mnist_pipeline : The two composed in a pipeline.
    sklearn.neural_network.MLPClassifier : scikit-learn's own MLP.

    Notes
    -----
    Predictions are computed with NumPy from ``coefs_`` and ``intercepts_``,
    in float32 for float32 input and in float64 otherwise (as
    :class:`~sklearn.neural_network.MLPClassifier` does); they agree with the
    Keras model's output to about 1e-6, and in float64 they do not depend on
    a sample's position in the batch.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skmnist import MNISTMLPClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = MNISTMLPClassifier(epochs=20, random_state=0).fit(X / 16, y)
    >>> clf.predict(X[:5] / 16)
    array([0, 1, 2, 3, 4])
    >>> round(clf.score(X / 16, y), 2) > 0.95
    True
    """

    _parameter_constraints: dict = {
        **BaseNetworkClassifier._parameter_constraints,
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "activation": [StrOptions(set(HIDDEN_ACTIVATIONS))],
        "dropout": [Interval(Real, 0, 1, closed="left")],
    }

    _keras_name = "mnist_mlp"

    def __init__(
        self,
        hidden_layer_sizes=(512, 512),
        activation="relu",
        dropout=0.2,
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
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
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
        widths = positive_ints(self.hidden_layer_sizes, "hidden_layer_sizes")
        return self._layers(widths, n_classes)

    def _layers(self, hidden_widths, n_classes):
        """Dense (and dropout) layers of these widths, then the softmax output."""
        layers = []
        for width in hidden_widths:
            layers.append(
                {"kind": "dense", "units": width, "activation": self.activation}
            )
            if self.dropout > 0:
                layers.append({"kind": "dropout", "rate": float(self.dropout)})
        layers.append({"kind": "dense", "units": n_classes, "activation": "softmax"})
        return layers

    def _upgrade_fitted_state(self):
        """Files and pickles from skmnist 0.2 and earlier have no ``architecture_``.

        Their network is the one the parameters describe, with the layer
        widths that ``coefs_`` has (``skmnist.load`` then checks the weights
        against it).
        """
        super()._upgrade_fitted_state()
        if "architecture_" in self.__dict__ or not isinstance(self.coefs_, list):
            return
        widths = [getattr(coef, "shape", (0, 0))[-1] for coef in self.coefs_]
        if widths and isinstance(self.dropout, Real) and 0 <= self.dropout < 1:
            self.architecture_ = self._layers(widths[:-1], widths[-1])
