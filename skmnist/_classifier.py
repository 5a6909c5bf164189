"""The scikit-learn face of the Keras MNIST MLP: parameters, validation, tags.

Training is delegated to :mod:`skmnist._network` (imported only when a model
is trained) and prediction to :mod:`skmnist._inference` (NumPy only), so a
fitted classifier can be unpickled and used without TensorFlow.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state, compute_sample_weight
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from ._inference import forward
from ._random import draw_seed
from ._training_data import training_rows


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

    history_ : dict of str to list of float
        Per-epoch training ``"loss"`` (cross-entropy) and ``"accuracy"``, and
        with early stopping ``"val_loss"`` and ``"val_accuracy"``, as in
        Keras's ``History.history``; continued by ``warm_start`` and
        :meth:`partial_fit`.

    loss_curve_ : list of float
        Training loss after each epoch (``history_["loss"]``).

    validation_scores_ : list of float or None
        Validation accuracy after each epoch when ``early_stopping`` is True,
        else None.

    best_validation_score_ : float or None
        Best validation accuracy seen (the restored weights score it), or
        None without early stopping.

    best_loss_ : float or None
        Lowest training loss seen, or None with early stopping.

    n_iter_ : int
        Number of epochs run, over all calls that continued training.

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
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "warm_start": ["boolean"],
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

    # -- public API ---------------------------------------------------------

    def fit(self, X, y, sample_weight=None):
        """Train the network on ``X`` and ``y`` for up to ``epochs`` epochs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (for MNIST, pixels scaled to [0, 1]).

        y : array-like of shape (n_samples,)
            Class labels: any hashable values, at least two distinct ones.

        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights. Integer weights act as repeated rows (a
            weight of 2 trains on the row twice per epoch, 0 drops it); other
            weights scale each sample's loss, normalised to a mean of 1.

        Returns
        -------
        self : MNISTMLPClassifier
            The fitted classifier.
        """
        return self._fit(X, y, sample_weight, incremental=False)

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train one epoch on ``X`` and ``y``, continuing from the current state.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.

        y : array-like of shape (n_samples,)
            Class labels, all of them in ``classes``.

        classes : array-like of shape (n_classes,), default=None
            Every class that will ever be seen. Required on the first call,
            optional (and checked against ``classes_``) afterwards.

        sample_weight : array-like of shape (n_samples,), default=None
            Weights, as in :meth:`fit`.

        Returns
        -------
        self : MNISTMLPClassifier
            The updated classifier.
        """
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

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

    def _fit(self, X, y, sample_weight, *, incremental, classes=None):
        """The one training engine behind ``fit`` and ``partial_fit``."""
        self._validate_params()
        self._validated_hidden_layer_sizes()  # fail before the data is touched
        if incremental and self.early_stopping:
            raise ValueError(
                "partial_fit does not support early_stopping=True: it has no "
                "validation set to hold out. Use fit, or set early_stopping=False."
            )
        fitted = hasattr(self, "coefs_")
        continuing = fitted and (incremental or self.warm_start)
        X, y = validate_data(
            self, X, y, reset=not continuing, dtype=(np.float32, np.float64)
        )
        check_classification_targets(y)
        # Everything that can reject the input runs before any attribute
        # changes, so a failed call leaves a fitted model as it was.
        weights = self._combined_weights(X, y, sample_weight)
        self._set_classes(y, classes, incremental=incremental, continuing=continuing)
        y_encoded = np.searchsorted(self.classes_, y)

        from . import _network

        if not continuing:
            self._rng = check_random_state(self.random_state)
            self._model = self._build_network(X.shape[1], len(self.classes_), self._rng)
            self._reset_progress()
        model = self._keras_model()

        if not incremental:
            self._no_improvement_count = 0
        validation_data = None
        if self.early_stopping and not incremental:
            X, y_encoded, weights, validation_data = self._hold_out(
                X, y_encoded, weights
            )
            self._start_early_stopping()
        stopping = self.early_stopping and not incremental
        rows, row_weights = training_rows(X, y_encoded, weights)
        batches = _network.Batches(
            X,
            y_encoded,
            row_weights,
            rows,
            self.batch_size,
            self.shuffle,
            seed=draw_seed(self._rng),
        )
        history = _network.train(
            model,
            batches,
            epochs=1 if incremental else self.epochs,
            verbose=self.verbose,
            validation_data=validation_data,
            on_epoch_end=lambda logs: self._after_epoch(logs, model, stopping),
        )
        for name, values in history.items():
            self.history_.setdefault(name, []).extend(values)
        if stopping:
            _network.set_weights(model, self._best_coefs, self._best_intercepts)
            del self._best_coefs, self._best_intercepts
        self.coefs_, self.intercepts_ = _network.get_weights(model)
        return self

    def _set_classes(self, y, classes, *, incremental, continuing):
        """Set ``classes_`` on a first fit; check ``y`` against it afterwards."""
        if incremental and not continuing and classes is None:
            raise ValueError(
                "classes must be passed on the first call to partial_fit: the "
                "network's output layer needs every class up front."
            )
        seen = np.unique(y)
        if continuing:
            if classes is not None and not np.array_equal(
                np.unique(classes), self.classes_
            ):
                raise ValueError(
                    f"classes={np.unique(classes).tolist()!r} is not the same as "
                    f"classes_={self.classes_.tolist()!r} of the earlier call."
                )
            expected = self.classes_
        else:
            expected = np.unique(classes) if classes is not None else seen
        unknown = np.setdiff1d(seen, expected)
        if len(unknown):
            raise ValueError(
                f"y contains labels {unknown.tolist()!r} that are not in "
                f"classes {expected.tolist()!r}."
            )
        if not incremental and continuing and len(seen) != len(expected):
            raise ValueError(
                "warm_start can only continue training when y has the same "
                f"classes as before: {expected.tolist()!r}, got {seen.tolist()!r}."
            )
        if len(expected) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in "
                f"the data, but the data contains only one class: "
                f"{expected[0].item()!r}."
            )
        self.classes_ = expected

    def _combined_weights(self, X, y, sample_weight):
        """``sample_weight`` times the ``class_weight`` of each sample, or None."""
        if sample_weight is None and self.class_weight is None:
            return None
        weights = _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )
        if self.class_weight is not None:
            weights = weights * compute_sample_weight(self.class_weight, y)
        if not np.any(weights > 0):
            raise ValueError(
                "Sample weights must contain at least one non-zero number: all "
                "the weights of sample_weight times class_weight are zero."
            )
        return weights

    def _hold_out(self, X, y_encoded, weights):
        """Split off the stratified validation set used for early stopping."""
        # Imported here: sklearn.model_selection adds tens of milliseconds to
        # ``import skmnist``, and most fits never need it.
        from sklearn.model_selection import train_test_split

        arrays = [X, y_encoded] if weights is None else [X, y_encoded, weights]
        split = train_test_split(
            *arrays,
            test_size=self.validation_fraction,
            stratify=y_encoded,
            random_state=draw_seed(self._rng),
        )
        X_train, X_val, y_train, y_val = split[:4]
        w_train = None if weights is None else split[4]
        return X_train, y_train, w_train, (X_val, y_val)

    def _reset_progress(self):
        self.history_ = {}
        self.loss_curve_ = []
        self.n_iter_ = 0
        self.best_loss_ = np.inf
        self.validation_scores_ = None
        self.best_validation_score_ = None
        self._no_improvement_count = 0

    def _start_early_stopping(self):
        self.validation_scores_ = []
        self.best_validation_score_ = -np.inf
        self.best_loss_ = None
        self._no_improvement_count = 0

    def _after_epoch(self, logs, model, stopping):
        """Record an epoch; return True to stop (scikit-learn's MLP rule)."""
        from . import _network

        self.n_iter_ += 1
        self.loss_curve_.append(float(logs["loss"]))
        if stopping:
            score = float(logs["val_accuracy"])
            self.validation_scores_.append(score)
            improved = score >= self.best_validation_score_ + self.tol
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_coefs, self._best_intercepts = _network.get_weights(model)
        else:
            loss = self.loss_curve_[-1]
            improved = loss <= self.best_loss_ - self.tol
            self.best_loss_ = min(self.best_loss_, loss)
        self._no_improvement_count = 0 if improved else self._no_improvement_count + 1
        return self._no_improvement_count > self.n_iter_no_change

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
        """The Keras model being trained, rebuilt after unpickling.

        Unpickled or loaded estimators carry their weights and, where they
        were saved from a live model, the optimizer and dropout state, so that
        training continues where it stopped.
        """
        model = getattr(self, "_model", None)
        if model is None:
            from . import _network

            rng = np.random.RandomState(0)  # seeds only dropout: state is loaded
            model = self._build_network(self.n_features_in_, len(self.classes_), rng)
            _network.set_weights(model, self.coefs_, self.intercepts_)
            _network.set_training_state(model, getattr(self, "_training_state", {}))
            self._model = model
        return model

    def _get_training_state(self):
        """Optimizer, dropout and shuffling state as a dict of arrays."""
        model = getattr(self, "_model", None)
        if model is None:
            state = dict(getattr(self, "_training_state", {}))
        else:
            from . import _network

            state = _network.get_training_state(model)
        if hasattr(self, "_rng"):
            _, keys, pos, has_gauss, cached = self._rng.get_state()
            state["rng_keys"] = keys
            state["rng_rest"] = np.array([pos, has_gauss, cached], dtype=np.float64)
        return state

    def _set_training_state(self, state):
        """Restore what :meth:`_get_training_state` returned."""
        state = dict(state)
        if "rng_keys" in state:
            keys, rest = state.pop("rng_keys"), state.pop("rng_rest")
            self._rng = np.random.RandomState()
            self._rng.set_state(
                ("MT19937", keys, int(rest[0]), int(rest[1]), float(rest[2]))
            )
        self._training_state = state
        self.__dict__.pop("_model", None)

    def __getstate__(self):
        # The Keras model is TensorFlow state that pickles slowly and needs
        # TensorFlow to load; the weights, the optimizer and dropout state and
        # the random generator are plain arrays that rebuild it on demand.
        state = super().__getstate__()
        model = state.pop("_model", None)
        if model is not None:
            from . import _network

            state["_training_state"] = _network.get_training_state(model)
        return state
