"""The Keras MNIST tutorial's multi-layer perceptron as a scikit-learn classifier.

A preset of :class:`~skmnist.NetworkClassifier`: its own parameters (layer
sizes, activation, dropout) and the layers they make.
"""

from numbers import Real

from sklearn.utils._param_validation import StrOptions

from .._registry import register_estimator
from ..layers import HIDDEN_ACTIVATIONS
from ._architecture import network_configs
from ._base import BaseNetworkClassifier, positive_ints
from ._docs import fill_doc
from ._network import DROPOUT, LAYER_SIZES, NetworkClassifier, tutorial_layers


@register_estimator
@fill_doc
class MNISTMLPClassifier(NetworkClassifier):
    """The Keras MNIST multi-layer perceptron as a scikit-learn classifier.

    The defaults reproduce the Keras tutorial: ``Dense(512, relu) ->
    Dropout(0.2) -> Dense(512, relu) -> Dropout(0.2) -> Dense(n_classes,
    softmax)``, trained with Adam on the categorical cross-entropy for 5
    epochs in mini-batches of 128. The input width and the classes come from
    the data, so the same estimator fits any tabular classification problem;
    for raw MNIST images put :class:`MNISTPreprocessor` in front of it (see
    :func:`make_mnist_pipeline`).

    A preset of :class:`NetworkClassifier`: ``MNISTMLPClassifier()`` trains
    the network ``NetworkClassifier(layers=[Dense(512, activation="relu"),
    Dropout(0.2), Dense(512, activation="relu"), Dropout(0.2)])`` trains,
    with the same results for the same ``random_state``.

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

    %(optimizer)s

    learning_rate : float > 0, default=0.001
        The optimizer's learning rate.

    %(batch_size)s

    epochs : int >= 1, default=5
        Number of passes over the training data.

    %(training_controls)s

    Attributes
    ----------
    %(fitted_attributes)s

    coefs_ : list of ndarray
        Weight matrix of each dense layer, as float64; ``coefs_[i]`` has shape
        ``(n_inputs_i, n_outputs_i)``. As in
        :class:`~sklearn.neural_network.MLPClassifier`.

    intercepts_ : list of ndarray
        Bias vector of each dense layer, as float64.

    See Also
    --------
    NetworkClassifier : Any network of skmnist's layer kinds.
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
        "hidden_layer_sizes": LAYER_SIZES,
        "activation": [StrOptions(set(HIDDEN_ACTIVATIONS))],
        "dropout": DROPOUT,
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

    def _layers(self):
        widths = positive_ints(self.hidden_layer_sizes, "hidden_layer_sizes")
        return tutorial_layers(widths, self.activation, self.dropout)

    def _upgrade_fitted_state(self):
        """Files and pickles from skmnist 0.2 and earlier have no ``architecture_``.

        Their network is the one the parameters describe, with the layer
        widths that ``coefs_`` has (``skmnist.load`` then checks the weights
        against it).
        """
        if "architecture_" not in self.__dict__ and isinstance(
            getattr(self, "coefs_", None), list
        ):
            shapes = [getattr(coef, "shape", ()) for coef in self.coefs_]
            dropout = self.dropout
            if (
                shapes
                and all(len(shape) == 2 for shape in shapes)
                and isinstance(dropout, Real)
                and 0 <= dropout < 1
            ):
                widths = [shape[1] for shape in shapes]
                try:
                    self.architecture_ = network_configs(
                        tutorial_layers(widths[:-1], self.activation, dropout),
                        shapes[0][0],
                        widths[-1],
                    )
                except ValueError:
                    pass  # _validate_fitted_state refuses it
        super()._upgrade_fitted_state()
