"""The scikit-learn face of the Keras MNIST MLP: parameters, validation, tags.

Training is delegated to :mod:`skmnist._network` (imported only when a model
is trained) and prediction to :mod:`skmnist._inference` (NumPy only), so a
fitted classifier can be unpickled and used without TensorFlow.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._inference import forward


class MNISTMLPClassifier(ClassifierMixin, BaseEstimator):
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
    hidden_layer_sizes : array-like of int, default=(512, 512)
        Width of each hidden ``Dense`` layer; the i-th element is the i-th
        layer. An empty tuple gives softmax (multinomial logistic) regression.

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

    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during :meth:`fit`, only when ``X`` has string
        column names.

    coefs_ : list of ndarray
        Weight matrix of each dense layer, as float64; ``coefs_[i]`` has shape
        ``(n_inputs_i, n_outputs_i)``. As in
        :class:`~sklearn.neural_network.MLPClassifier`.

    intercepts_ : list of ndarray
        Bias vector of each dense layer, as float64.

    history_ : dict of str to list of float
        Per-epoch training ``"loss"`` (cross-entropy) and ``"accuracy"``, as in
        Keras's ``History.history``.

    n_iter_ : int
        Number of epochs run.

    See Also
    --------
    MNISTPreprocessor : Flattens and scales images for this classifier.
    make_mnist_pipeline : The two composed in a pipeline.
    sklearn.neural_network.MLPClassifier : scikit-learn's own MLP.

    Notes
    -----
    Predictions are computed with NumPy in float64 from ``coefs_`` and
    ``intercepts_``; they agree with the Keras model's float32 output to about
    1e-6 and do not depend on a sample's position in the batch.

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
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "activation": [StrOptions({"identity", "logistic", "tanh", "relu"})],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "optimizer": [StrOptions({"adam", "adamw", "rmsprop", "sgd"})],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "verbose": [Interval(Integral, 0, 2, closed="both")],
    }

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
        self.random_state = random_state
        self.verbose = verbose

    # -- public API ---------------------------------------------------------

    def fit(self, X, y):
        """Train a new network on ``X`` and ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (for MNIST, pixels scaled to [0, 1]).

        y : array-like of shape (n_samples,)
            Class labels: any hashable values, at least two distinct ones.

        Returns
        -------
        self : MNISTMLPClassifier
            The fitted classifier.
        """
        return self._fit(X, y)

    def predict_proba(self, X):
        """Probability of each class for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples, with the features seen in :meth:`fit`.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Softmax outputs; columns follow ``classes_``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        return forward(X, self.coefs_, self.intercepts_, self.activation)

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples, with the features seen in :meth:`fit`.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probabilities; columns follow ``classes_``.
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """Most probable class of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples, with the features seen in :meth:`fit`.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predicted labels, taken from ``classes_``.
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def summary(self):
        """The Keras model summary of the fitted network, as text.

        Returns
        -------
        summary : str
            What ``keras.Model.summary()`` prints: layers, output shapes and
            parameter counts.
        """
        check_is_fitted(self)
        from . import _network

        return _network.summary_text(self._keras_model())

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.classifier_tags.multi_class = True
        return tags

    # -- engine ---------------------------------------------------------------

    def _fit(self, X, y):
        self._validate_params()
        self._validated_hidden_layer_sizes()  # fail before the data is touched
        X, y = validate_data(self, X, y, dtype=(np.float32, np.float64))
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        if len(encoder.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in "
                f"the data, but the data contains only one class: "
                f"{encoder.classes_[0].item()!r}."
            )
        self.classes_ = encoder.classes_
        y_encoded = encoder.transform(y)

        from . import _network

        rng = check_random_state(self.random_state)
        model = self._build_network(X.shape[1], len(self.classes_), rng)
        self.history_ = _network.train(
            model,
            X,
            y_encoded,
            epochs=self.epochs,
            batch_size=self.batch_size,
            shuffle=self.shuffle,
            rng=rng,
            verbose=self.verbose,
        )
        self.n_iter_ = len(self.history_["loss"])
        self.coefs_, self.intercepts_ = _network.get_weights(model)
        self._model = model
        return self

    def _validated_hidden_layer_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, Integral) else list(sizes)
        if not all(isinstance(s, Integral) and s > 0 for s in sizes):
            raise ValueError(
                "hidden_layer_sizes must contain only positive integers, got "
                f"{self.hidden_layer_sizes!r}."
            )
        return tuple(int(s) for s in sizes)

    def _build_network(self, n_features, n_classes, rng):
        """A new compiled Keras network for these parameters."""
        from . import _network

        model = _network.build_mlp(
            n_features=n_features,
            n_classes=n_classes,
            hidden_layer_sizes=self._validated_hidden_layer_sizes(),
            activation=self.activation,
            dropout=self.dropout,
            rng=rng,
        )
        return _network.compile_model(model, self.optimizer, self.learning_rate)

    def _untrained_summary(self, n_features, n_classes):
        """The summary of the network ``fit`` would train, before training."""
        from . import _network

        self._validate_params()
        model = self._build_network(n_features, n_classes, np.random.RandomState(0))
        return _network.summary_text(model)

    def _keras_model(self):
        """The trained Keras model, rebuilt from the weights after unpickling."""
        model = getattr(self, "_model", None)
        if model is None:
            from . import _network

            rng = np.random.RandomState(0)  # seeds only dropout: weights are loaded
            model = self._build_network(self.n_features_in_, len(self.classes_), rng)
            _network.set_weights(model, self.coefs_, self.intercepts_)
            self._model = model
        return model

    def __getstate__(self):
        # The Keras model is TensorFlow state that pickles slowly and needs
        # TensorFlow to load; coefs_ and intercepts_ hold all it knows.
        state = super().__getstate__()
        state.pop("_model", None)
        return state
