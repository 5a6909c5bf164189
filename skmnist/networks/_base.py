"""The estimator core every skmnist network shares.

:class:`BaseNetworkClassifier` holds what does not depend on the network: the
shared parameters and their validation, ``fit``/``partial_fit``/``predict*``,
sample and class weights, early stopping and the epoch bookkeeping, pickling
and the training state. A network is a thin subclass that declares its own
parameters and gives its layers (:meth:`_layers`, instances of the kinds in
:mod:`skmnist.layers`); a :class:`~skmnist.training.Trainer` builds and trains
them in Keras (imported only to train) and NumPy predicts with them
(:class:`~skmnist.networks._architecture.Architecture`).

A fit runs as a short list of named steps, each overridable: validate the call
(nothing changes yet), set up the network (:meth:`_initialize`), hold out the
early-stopping set, train (:meth:`_train`), record each epoch
(:meth:`_after_epoch`) and keep the weights.
"""

import copy
import math
import weakref
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state, compute_sample_weight
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    Options,
    StrOptions,
)
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from .._utils import callbacks
from .._utils.random import draw_seed
from ._architecture import Architecture, compute_dtype, network_configs
from ._training_data import training_rows

# Each fitted classifier's network and weights as its last prediction's
# precision needs them, dropped with the classifier.
_INFERENCE_PLANS = weakref.WeakKeyDictionary()


class BaseNetworkClassifier(
    ClassifierMixin, callbacks.CallbackSupportMixin, BaseEstimator, metaclass=ABCMeta
):
    """Base class of skmnist's Keras networks as scikit-learn classifiers.

    Do not use it directly: use :class:`NetworkClassifier` or one of its
    presets. A subclass declares its parameters (in ``__init__`` and
    ``_parameter_constraints``, merged with this class's) and implements
    :meth:`_layers`.
    """

    _parameter_constraints: dict = {
        "optimizer": [StrOptions({"adam", "adamw", "rmsprop", "sgd"})],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        # scikit-learn's MLP: np.inf never stops on the no-improvement rule.
        "n_iter_no_change": [
            Interval(Integral, 1, None, closed="left"),
            Options(Real, {np.inf}),
        ],
        "tol": [Interval(Real, 0, None, closed="left")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
        # Any non-negative integer, as in scikit-learn; above 2 is as 2.
        "verbose": ["verbose"],
    }

    # The Keras model's name, as summary() shows it.
    _keras_name = "network"

    # -- what a network defines ---------------------------------------------

    @abstractmethod
    def _layers(self):
        """The network's layers (:mod:`skmnist.layers`), before the output layer.

        Called with validated parameters; raises ``ValueError`` for a
        combination of them that makes no network. Rows become images before
        the first layer when it takes images, and the softmax output layer
        for the classes is added after the last.
        """

    def _learning_rate(self, progress):
        """The learning rate at ``progress`` (0 to 1) through a ``fit``'s epochs."""
        return float(self.learning_rate)

    def _architecture(self, n_features, n_classes):
        """``architecture_``, the layer configurations, for this data."""
        return network_configs(self._layers(), n_features, n_classes)

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
            Non-negative weights. Integer weights that add up to at most ten
            times the number of samples act as repeated rows (a weight of 2
            trains on the row twice per epoch, 0 drops it); other weights
            scale each sample's loss, normalised to a mean of 1.

        Returns
        -------
        self : object
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
        self : object
            The updated classifier.
        """
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def predict_proba(self, X):
        """Probability of each class for each sample.

        Computed with NumPy, in float32 for float32 ``X`` (as
        :class:`MNISTPreprocessor` makes it) and in float64 otherwise.

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
        return self._proba_of_valid(X)

    def _proba_of_valid(self, X):
        """:meth:`predict_proba` of ``X`` already validated: a float32 or
        float64 array of ``n_features_in_`` columns (the server's features)."""
        network, weights = self._inference_plan(X)
        return network.forward(X, weights)

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
        return self._trainer().summary()

    def to_keras(self):
        """A new Keras model with the fitted weights, to use with Keras's tools.

        It takes the same ``X`` as :meth:`predict_proba` (rows of
        ``n_features_in_`` values, float32) and gives the same probabilities
        to within float32 rounding. It is compiled with this classifier's
        optimizer and the sparse categorical cross-entropy, for fine-tuning on
        integer labels ``0 .. n_classes - 1`` (positions in ``classes_``);
        training it leaves this classifier unchanged. Built on the backend Keras
        is configured with (TensorFlow, JAX or PyTorch).

        Returns
        -------
        model : keras.Model
            The network, with its training-only layers (dropout,
            augmentation) in place and inactive at prediction time. It saves
            with ``model.save("model.keras")``; a ConvNet with random shifts
            holds skmnist's ``RandomShift`` layer, registered with Keras when
            ``skmnist.training`` is imported, so import it before
            ``keras.saving.load_model``.
        """
        check_is_fitted(self)
        from ..training import Trainer

        trainer = Trainer(
            self.architecture_,
            self.n_features_in_,
            np.random.RandomState(0),
            self._keras_name,
            self.optimizer,
            self.learning_rate,
            stock=True,
        )
        trainer.set_weights(self.coefs_, self.intercepts_)
        return trainer.model

    def _untrained_summary(self, n_features, n_classes):
        """The summary of the network ``fit`` would train, before training."""
        from ..training import Trainer

        self._validate_params()
        return Trainer(
            self._architecture(n_features, n_classes),
            n_features,
            np.random.RandomState(0),
            self._keras_name,
            self.optimizer,
            self.learning_rate,
        ).summary()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.classifier_tags.multi_class = True
        return tags

    # -- the fit, step by step ----------------------------------------------

    def _fit(self, X, y, sample_weight, *, incremental, classes=None):
        """The one training engine behind ``fit`` and ``partial_fit``.

        A call that raises, whether it rejects its input or is interrupted
        while training, leaves the estimator as it was: every attribute, the
        training state and the random generator.
        """
        before = self._snapshot()
        try:
            call = self._validate_call(X, y, sample_weight, classes, incremental)
            # scikit-learn's callbacks (set_callbacks): this fit and its epochs.
            with callbacks.fit_callbacks(
                self,
                call["X"],
                call["classes"][call["y"]],
                sample_weight,
                max_epochs=1 if incremental else self.epochs,
                task_name="partial_fit" if incremental else "fit",
            ):
                self._run(call, before)
        except BaseException:
            self._restore(before)
            raise
        return self

    def _validate_call(self, X, y, sample_weight, classes, incremental):
        """Everything that can reject a call, before anything is changed.

        ``validate_data`` sets ``n_features_in_`` (and ``feature_names_in_``)
        as it goes; ``_fit`` puts them back if anything later rejects the call.
        """
        self._validate_params()
        self._validate_class_weight()
        if incremental and self.early_stopping:
            raise ValueError(
                "partial_fit does not support early_stopping=True: it has no "
                "validation set to hold out. Use fit, or set early_stopping=False."
            )
        continuing = self._is_trained() and (incremental or self.warm_start)
        X, y = validate_data(
            self, X, y, reset=not continuing, dtype=(np.float32, np.float64)
        )
        check_classification_targets(y)
        _check_float32_range(X)
        weights = self._combined_weights(X, y, sample_weight)
        classes_ = self._checked_classes(y, classes, incremental, continuing)
        if self.early_stopping:
            self._check_validation_split(y)
        architecture = self._architecture(X.shape[1], len(classes_))
        if continuing and architecture != self.architecture_:
            raise ValueError(
                f"{'partial_fit' if incremental else 'warm_start'} continues the "
                "fitted network, but the parameters now describe another one "
                f"({_first_difference(self.architecture_, architecture)}). Set "
                "warm_start=False (or start a new estimator) to train it."
            )
        return {
            "X": X,
            "y": np.searchsorted(classes_, y),
            "weights": weights,
            "classes": classes_,
            "architecture": architecture,
            "continuing": continuing,
            "incremental": incremental,
        }

    def _run(self, call, before):
        self.classes_ = call["classes"]
        if not call["continuing"]:
            self._initialize(call["architecture"])
        trainer = self._trainer()
        if call["continuing"] and "_keras_trainer" in before:
            # If this call fails, the network is rebuilt from the weights as
            # they were and this state, rather than trusted half-trained.
            before["_training_state"] = trainer.state()
            del before["_keras_trainer"]
        if call["continuing"] and not trainer.uses(self.optimizer):
            # set_params(optimizer=...) between calls: continue with the new one.
            trainer.compile(self.optimizer, self.learning_rate)
        X, y, weights = call["X"], call["y"], call["weights"]
        stopping = self.early_stopping and not call["incremental"]
        validation_data = None
        if stopping:
            X, y, weights, validation_data = self._hold_out(X, y, weights)
        if not call["incremental"] or not hasattr(self, "_no_improvement_count"):
            # Each fit starts the count; a loaded model (files keep no private
            # counters) starts it at its first call.
            self._no_improvement_count = 0
        self._best_weights = None
        self._best_score = -np.inf
        history = self._train(
            trainer, X, y, weights, call["incremental"], validation_data, stopping
        )
        restored = self._best_weights is not None
        if restored:
            trainer.set_weights(*self._best_weights)
        coefs, intercepts = trainer.weights()
        self._check_converged(history, coefs, intercepts, restored)
        self._record(history, stopping)
        del self._best_weights, self._best_score
        self.coefs_, self.intercepts_ = coefs, intercepts

    def _initialize(self, architecture):
        """A new network with new weights, and no training recorded yet."""
        self._rng = check_random_state(self.random_state)
        self.architecture_ = architecture
        self._keras_trainer = self._new_trainer(self._rng)
        self._training_state = {}
        self.history_ = {"loss": [], "accuracy": []}
        self.loss_curve_ = []
        self.n_iter_ = 0
        self.best_loss_ = np.inf
        self.validation_scores_ = None
        self.best_validation_score_ = None
        self._no_improvement_count = 0

    def _train(self, trainer, X, y, weights, incremental, validation_data, stopping):
        """Run the epochs of one call; return their history."""
        rows, row_weights = training_rows(X, y, weights)
        # partial_fit trains one epoch at a time: no schedule spans its calls.
        learning_rate = (
            (lambda progress: float(self.learning_rate))
            if incremental
            else self._learning_rate
        )
        return trainer.train(
            X,
            y,
            row_weights,
            rows,
            batch_size=self.batch_size,
            shuffle=self.shuffle,
            seed=draw_seed(self._rng),
            epochs=1 if incremental else self.epochs,
            verbose=min(int(self.verbose), 2),  # Keras knows 0, 1 and 2
            learning_rate=learning_rate,
            validation_data=validation_data,
            on_epoch_end=lambda logs: self._after_epoch(logs, trainer, stopping),
        )

    def _after_epoch(self, logs, trainer, stopping):
        """Apply the no-improvement rule after an epoch; return True to stop.

        scikit-learn's MLP rule: stop when the monitored score has not
        improved by at least ``tol`` for more than ``n_iter_no_change``
        epochs in a row. With early stopping the score is this call's
        validation accuracy, and the best epoch's weights are kept to restore;
        otherwise it is the training loss against the lowest seen so far.
        An epoch whose loss is not finite stops training: its weights are
        NaN or about to be, and never become finite again
        (:meth:`_check_converged` then raises, unless early stopping kept a
        finite epoch); such an epoch never counts as the best.
        """
        if not all(math.isfinite(value) for value in logs.values()):
            return True
        if stopping:
            score = float(logs["val_accuracy"])
            improved = score >= self._best_score + self.tol
            if score > self._best_score:
                weights = trainer.weights()
                if _all_finite(weights):
                    self._best_score = score
                    self._best_weights = weights
        else:
            loss = float(logs["loss"])
            improved = loss <= self.best_loss_ - self.tol
            self.best_loss_ = min(self.best_loss_, loss)
        self._no_improvement_count = 0 if improved else self._no_improvement_count + 1
        stop = self._no_improvement_count > self.n_iter_no_change

        def weights_now():
            coefs, intercepts = trainer.weights()
            return {"coefs_": coefs, "intercepts_": intercepts}

        # scikit-learn's callbacks (set_callbacks) see the network as it
        # stands after each epoch, and may stop training.
        return callbacks.epoch_end(self, weights_now, stopping=stop) or stop

    def _check_converged(self, history, coefs, intercepts, restored):
        """Raise ``ValueError`` for a call that left weights that are not finite.

        As scikit-learn's MLP does ("Solver produced non-finite parameter
        weights"); ``_fit`` then puts the estimator back as it was.
        """
        diverged = next(
            (
                epoch
                for epoch, values in enumerate(zip(*history.values(), strict=True))
                if not all(math.isfinite(value) for value in values)
            ),
            None,
        )
        if (diverged is None or restored) and _all_finite((coefs, intercepts)):
            return
        when = (
            "after training"
            if diverged is None
            else f"from epoch {diverged + 1} of this call (its loss is "
            f"{history['loss'][diverged]})"
        )
        raise ValueError(
            f"Training produced non-finite parameter weights {when}: "
            f"optimizer={self.optimizer!r} with learning_rate={self.learning_rate!r} "
            "diverges on this data. Lower learning_rate, or scale X (pixels to "
            "[0, 1], as MNISTPreprocessor does). The estimator is left as it was "
            "before this call."
        )

    def _record(self, history, stopping):
        """Append a call's epochs to the history and the attributes derived from it.

        Every list of ``history_`` keeps one value per epoch (``n_iter_`` in
        all): NaN where an epoch had no validation set.
        """
        n_new = len(history["loss"])
        keys = dict.fromkeys([*self.history_, *history])
        for key in keys:
            old = self.history_.setdefault(key, [])
            old[:0] = [math.nan] * (self.n_iter_ - len(old))  # a key new this call
            old.extend(history.get(key, [math.nan] * n_new))
        self.n_iter_ += n_new
        self.loss_curve_ = list(self.history_["loss"])
        # The last epoch may have diverged where early stopping kept a finite one.
        self.best_loss_ = _finite_min(self.loss_curve_)
        has_validation = "val_accuracy" in self.history_
        self.validation_scores_ = (
            list(self.history_["val_accuracy"]) if has_validation else None
        )
        self.best_validation_score_ = self._best_score if stopping else None

    # -- validation ---------------------------------------------------------

    def _validate_params(self):
        super()._validate_params()
        # The declarative constraint takes any positive real, infinity and
        # integers past float's range included: not steps Keras can take.
        try:
            finite = math.isfinite(float(self.learning_rate))
        except OverflowError:
            finite = False
        if not finite:
            raise InvalidParameterError(
                f"The 'learning_rate' parameter of {type(self).__name__} must be "
                f"a finite number > 0. Got {self.learning_rate!r:.60} instead."
            )

    def _validate_class_weight(self):
        if not isinstance(self.class_weight, dict):
            return
        for label, weight in self.class_weight.items():
            if not (isinstance(weight, Real) and math.isfinite(weight) and weight >= 0):
                raise ValueError(
                    "class_weight must map labels to finite non-negative "
                    f"numbers; got {weight!r} for class {label!r}."
                )

    def _checked_classes(self, y, classes, incremental, continuing):
        """The classes of this call: ``classes_`` when continuing, checked."""
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
        if not incremental and continuing and not np.array_equal(seen, expected):
            raise ValueError(
                "warm_start can only continue training when y has the same "
                f"classes as before: {expected.tolist()!r}, got {seen.tolist()!r}. "
                "Set warm_start=False to train a new network on these classes."
            )
        unknown = np.setdiff1d(seen, expected)
        if len(unknown):
            raise ValueError(
                f"y contains labels {unknown.tolist()!r} that are not in "
                f"classes {expected.tolist()!r}."
            )
        if len(expected) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in "
                f"the data, but the data contains only one class: "
                f"{expected[0].item()!r}."
            )
        return expected

    def _combined_weights(self, X, y, sample_weight):
        """``sample_weight`` times the ``class_weight`` of each sample, or None."""
        if sample_weight is None and self.class_weight is None:
            return None
        weights = _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )
        if self.class_weight is not None:
            weights = weights * compute_sample_weight(self.class_weight, y)
        if not np.isfinite(weights).all():
            raise ValueError("sample_weight times class_weight is not finite.")
        if not np.any(weights > 0):
            raise ValueError(
                "Sample weights must contain at least one non-zero number: all "
                "the weights of sample_weight times class_weight are zero."
            )
        return weights

    def _check_validation_split(self, y):
        """Refuse data too small for early stopping's stratified split.

        The split holds out ``ceil(validation_fraction * n)`` samples, with at
        least one of each class on either side; scikit-learn's splitter would
        say so in terms of its own ``test_size``.
        """
        labels, counts = np.unique(y, return_counts=True)
        n, k, fraction = len(y), len(labels), self.validation_fraction
        if counts.min() < 2:
            raise ValueError(
                f"early_stopping=True holds out validation_fraction={fraction} of "
                "the samples, stratified by class, which needs at least 2 samples "
                f"of every class: the least populated class in y, "
                f"{labels[np.argmin(counts)].item()!r}, has only 1 member. Pass "
                "more samples of it, or set early_stopping=False."
            )
        n_val = math.ceil(fraction * n)
        enough = "" if n >= 2 * k else f" (and at least {2 * k} samples)"
        if n_val < k:
            raise ValueError(
                f"The validation set is too small: validation_fraction={fraction} "
                f"of {n} samples holds out {n_val}, fewer than the {k} classes "
                "(early stopping holds out at least one sample of each). Increase "
                f"validation_fraction to at least {math.ceil(1000 * k / n) / 1000:g}"
                f"{enough}, pass more "
                "samples, or set early_stopping=False."
            )
        if n - n_val < k:
            raise ValueError(
                f"validation_fraction={fraction} of {n} samples leaves {n - n_val} "
                f"to train on, fewer than the {k} classes. Lower "
                f"validation_fraction{enough}, or set early_stopping=False."
            )

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

    # -- the network, the weights and the training state --------------------

    def _is_trained(self):
        return hasattr(self, "coefs_")

    def _new_trainer(self, rng, optimizer=None):
        """A new Keras network of ``architecture_``, seeded from ``rng``."""
        from ..training import Trainer

        return Trainer(
            self.architecture_,
            self.n_features_in_,
            rng,
            self._keras_name,
            optimizer or self.optimizer,
            self.learning_rate,
        )

    def _trainer(self):
        """The network being trained, rebuilt after unpickling or loading.

        Unpickled or loaded estimators carry their weights and, where they
        were saved from a live network, the optimizer and random layers'
        state, so that training continues where it stopped.
        """
        trainer = getattr(self, "_keras_trainer", None)
        if trainer is None:
            from ..training import optimizer_of

            state = getattr(self, "_training_state", {})
            rng = np.random.RandomState(0)  # seeds only random layers: state loads
            # With the optimizer the state belongs to (set_params may have
            # named another since); _run switches to that one when it trains.
            trainer = self._new_trainer(rng, optimizer_of(state))
            trainer.set_weights(self.coefs_, self.intercepts_)
            trainer.set_state(state)
            self._keras_trainer = trainer
        return trainer

    def _keras_model(self):
        """The Keras model being trained (for tests and diagnostics)."""
        return self._trainer().model

    def _inference_plan(self, X):
        """The network and its weights in the precision ``X`` is computed in.

        Read and cast once per fitted network and precision, so that
        predicting a single image costs no copy of the network. Kept outside
        the estimator, whose ``__dict__`` prediction must not change.
        """
        dtype = compute_dtype(X)
        key = (np.dtype(dtype).str, *map(id, self.coefs_), *map(id, self.intercepts_))
        cached = _INFERENCE_PLANS.get(self)
        if (
            cached is None
            or cached[0] != key
            or cached[1] != self.architecture_
            or cached[2].n_features != self.n_features_in_
        ):
            network = Architecture(self.architecture_, self.n_features_in_)
            weights = network.inference_weights(self.coefs_, self.intercepts_, dtype)
            cached = (key, copy.deepcopy(self.architecture_), network, weights)
            _INFERENCE_PLANS[self] = cached
        return cached[2], cached[3]

    def _validate_fitted_state(self):
        """Raise ``ValueError`` unless the fitted attributes make a working model.

        :func:`skmnist.load` calls it on every loaded classifier, so that a
        damaged or crafted file fails there, not later in ``predict``. Every
        fitted attribute is bounded by the network or by the file itself:
        ``n_features_in_`` and ``architecture_`` by the cost a loaded network
        may have, ``classes_`` by the output layer, the weights by the
        architecture, and the training record (``n_iter_``, ``history_``,
        ``loss_curve_``, ``validation_scores_``, the ``best_*`` values) by
        the values of ``history_`` the file holds. Nothing is allocated by
        what a field claims.
        """
        if not self._is_trained():
            return
        self._upgrade_fitted_state()
        try:
            n_features, classes = self.n_features_in_, self.classes_
            if type(n_features) is not int or n_features < 1:
                raise ValueError(
                    f"n_features_in_ is {_short(n_features)}, not a positive int"
                )
            _check_feature_names(getattr(self, "feature_names_in_", None), n_features)
            if not isinstance(classes, np.ndarray) or classes.ndim != 1:
                raise ValueError("classes_ is not a 1-D array")
            if any(_is_nan(label) for label in classes.tolist()):
                raise ValueError("classes_ holds NaN, which no fit gives")
            if len(classes) < 2 or not _is_sorted_and_distinct(classes):
                raise ValueError(
                    "classes_ does not hold two or more distinct labels in order"
                )
            network = Architecture(self.architecture_, n_features)
            network.check_budget()
            network.check_weights(self.coefs_, self.intercepts_, len(classes))
            self._check_training_record()
        except AttributeError as exc:
            raise ValueError(f"a fitted attribute is missing ({exc})") from None

    def _check_training_record(self):
        """Raise ``ValueError`` unless the record of training is one fit writes.

        ``history_`` holds one value per epoch, ``n_iter_`` of them, under
        Keras's names; ``loss_curve_`` and ``validation_scores_`` are copies
        of its columns, ``best_loss_`` the lowest finite loss and
        ``best_validation_score_`` one of the validation scores.
        """
        n_iter, history = self.n_iter_, self.history_
        if type(n_iter) is not int or n_iter < 1:
            raise ValueError(f"n_iter_ is {_short(n_iter)}, not a positive int")
        if type(history) is not dict or not all(type(k) is str for k in history):
            raise ValueError("history_ is not a dict of names to lists")
        keys = set(history)
        validation = {"val_loss", "val_accuracy"}
        if not ({"loss", "accuracy"} <= keys <= {"loss", "accuracy", *validation}) or (
            keys & validation and not validation <= keys
        ):
            raise ValueError(
                f"history_ has the columns {sorted(keys)}; fit records loss and "
                "accuracy, and val_loss and val_accuracy with early stopping"
            )
        for key, values in history.items():
            if type(values) is not list or len(values) != n_iter:
                length = len(values) if type(values) is list else _short(values)
                raise ValueError(
                    f"history_[{key!r}] holds {length} values for n_iter_={n_iter} "
                    "epochs (fit records one an epoch)"
                )
            if not all(_is_number(v) for v in values):
                raise ValueError(f"history_[{key!r}] holds values that are not floats")
            if key.endswith("accuracy") and not all(
                0 <= v <= 1 for v in values if not math.isnan(v)
            ):
                raise ValueError(f"history_[{key!r}] holds values outside [0, 1]")
        if not _same_values(self.loss_curve_, history["loss"]):
            raise ValueError("loss_curve_ is not history_['loss']")
        scores = self.validation_scores_
        if not (
            scores is None
            if "val_accuracy" not in history
            else _same_values(scores, history["val_accuracy"])
        ):
            raise ValueError("validation_scores_ is not history_['val_accuracy']")
        best = self.best_loss_
        if not (_is_number(best) and best == _finite_min(history["loss"])):
            raise ValueError(f"best_loss_ {_short(best)} is not the lowest loss")
        best = self.best_validation_score_
        if best is not None and not (
            _is_number(best)
            and "val_accuracy" in history
            and any(best == v for v in history["val_accuracy"])
        ):
            raise ValueError(
                f"best_validation_score_ {_short(best)} is none of the validation "
                "scores"
            )

    def _upgrade_fitted_state(self):
        """Bring fitted attributes saved by an older skmnist up to date.

        Before 0.3, an early-stopping fit left ``best_loss_`` None,
        ``validation_scores_`` held the last early-stopping fit's scores only,
        and the validation columns of ``history_`` could be shorter than
        ``n_iter_``. They are padded only while ``history_["loss"]`` holds
        ``n_iter_`` values, as every version wrote it: what a file claims
        never sizes what is allocated.
        """
        history = getattr(self, "history_", None)
        n_iter = getattr(self, "n_iter_", None)
        if (
            type(history) is dict
            and type(n_iter) is int
            and type(history.get("loss")) is list
            and len(history["loss"]) == n_iter
        ):
            for values in history.values():
                if type(values) is list and len(values) < n_iter:
                    values[:0] = [math.nan] * (n_iter - len(values))
            scores = getattr(self, "validation_scores_", None)
            column = history.get("val_accuracy")
            if (
                type(scores) is list
                and type(column) is list
                and len(scores) < len(column)
                and _same_values(scores, column[len(column) - len(scores) :])
            ):
                self.validation_scores_ = list(column)
        loss_curve = getattr(self, "loss_curve_", None)
        if getattr(self, "best_loss_", None) is None and type(loss_curve) is list:
            if all(_is_number(v) for v in loss_curve):
                self.best_loss_ = _finite_min(loss_curve)
        # Files from before 0.3 leave out parameters that layers gained since
        # (a convolution's strides and padding): written out in full, as
        # fit writes them, so that continuing compares like with like.
        architecture = getattr(self, "architecture_", None)
        if isinstance(architecture, list) and isinstance(
            getattr(self, "n_features_in_", None), int
        ):
            try:
                network = Architecture(architecture, self.n_features_in_)
            except ValueError:
                return  # _validate_fitted_state refuses it
            self.architecture_ = [layer.get_config() for layer in network.layers]

    def _snapshot(self):
        """What ``_restore`` needs to undo a call: every attribute as it is now.

        Arrays are never changed in place (fitting assigns new ones), so a
        shallow copy of each list and dict suffices; the history's lists,
        which grow in place, and the random generator are copied.
        """
        state = dict(self.__dict__)
        for name, value in state.items():
            if isinstance(value, list):
                state[name] = list(value)
            elif isinstance(value, dict):
                state[name] = {
                    k: list(v) if isinstance(v, list) else v for k, v in value.items()
                }
            elif isinstance(value, np.random.RandomState):
                state[name] = copy.deepcopy(value)
        return state

    def _restore(self, before):
        """Put every attribute back as :meth:`_snapshot` saw it."""
        self.__dict__.clear()
        self.__dict__.update(before)

    def _get_training_state(self):
        """Optimizer, random layers' and shuffling state as a dict of arrays."""
        trainer = getattr(self, "_keras_trainer", None)
        if trainer is None:
            state = dict(getattr(self, "_training_state", {}))
        else:
            state = trainer.state()
        if hasattr(self, "_rng"):
            _, keys, pos, has_gauss, cached = self._rng.get_state()
            state["rng_keys"] = keys
            state["rng_rest"] = np.array([pos, has_gauss, cached], dtype=np.float64)
        return state

    def _set_training_state(self, state):
        """Restore what :meth:`_get_training_state` returned.

        Raises ``ValueError`` for a state that is not one (an edited file).
        """
        state = dict(state)
        if "rng_keys" in state or "rng_rest" in state:
            keys = np.asarray(state.pop("rng_keys", None))
            rest = np.asarray(state.pop("rng_rest", None))
            if (
                keys.shape != (624,)
                or keys.dtype.kind not in "iu"
                or rest.shape != (3,)
            ):
                raise ValueError("the training state's random generator is damaged")
            self._rng = np.random.RandomState()
            self._rng.set_state(
                (
                    "MT19937",
                    keys.astype(np.uint32),
                    int(rest[0]),
                    int(rest[1]),
                    float(rest[2]),
                )
            )
        for name, value in state.items():
            if not isinstance(value, np.ndarray):
                raise ValueError(f"the training state's {name!r} is not an array")
        self._training_state = state
        self.__dict__.pop("_keras_trainer", None)

    def __getstate__(self):
        # The Keras model is TensorFlow state that pickles slowly and needs
        # TensorFlow to load; the weights, the optimizer and random layers'
        # state and the random generator are plain arrays that rebuild it on
        # demand. A copy: object.__getstate__ gives the instance's own
        # __dict__, which pickling (or copy.copy, as scikit-learn's callbacks
        # use) must leave be, its trainer included.
        state = dict(super().__getstate__())
        trainer = state.pop("_keras_trainer", None)
        if trainer is not None:
            state["_training_state"] = trainer.state()
        return state

    def __copy__(self):
        """A shallow copy that no later call on either estimator affects.

        The parameters (and scikit-learn's callbacks) are shared, as in any
        shallow copy. The fitted state is not: the copy has its own
        ``history_`` and other lists and dicts, its own random generator and
        training state, and builds its own Keras network when it trains;
        only the fitted arrays (``coefs_``, ``classes_``...) are shared,
        which skmnist never changes in place (every call assigns new ones).
        So ``copy.copy(est).partial_fit(...)`` leaves ``est`` as it was, as
        a deep copy would, without copying the weights.
        """
        other = type(self).__new__(type(self))
        shared = {*self.get_params(deep=False), *_SHARED_BY_COPIES}
        state = self.__getstate__()  # the trainer as its state: never shared
        other.__dict__.update(
            {
                name: value if name in shared else _independent(value)
                for name, value in state.items()
            }
        )
        return other

    def __setstate__(self, state):
        super().__setstate__(state)
        if self._is_trained():
            self._upgrade_fitted_state()


# What a shallow copy shares besides the parameters: scikit-learn's callbacks
# (set_callbacks) and a running fit's tasks, which scikit-learn shares between
# an estimator and its clones, and copies to hand a callback the fitted
# estimator at each epoch.
_SHARED_BY_COPIES = (
    "_skl_callbacks",
    "_skl_callbacks_to_teardown",
    "_callback_fit_tasks",
)

# The largest magnitude training can take: the network trains in float32.
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _check_float32_range(X):
    """Refuse float64 ``X`` with values beyond float32's range.

    Training casts the rows to float32, where such values become infinite
    and the weights NaN; scikit-learn's MLP, training in float64, finds out
    only after fitting ("Solver produced non-finite parameter weights").
    """
    if X.dtype != np.float64 or X.size == 0:
        return
    largest = max(-float(X.min()), float(X.max()))  # two passes, no copy of X
    if largest > _FLOAT32_MAX:
        raise ValueError(
            f"X holds values as large as {largest:.3g} in magnitude, beyond the "
            f"{_FLOAT32_MAX:.3g} of float32, the precision the network trains "
            "in. Scale X first (pixels to [0, 1], as MNISTPreprocessor does, or "
            "sklearn.preprocessing.StandardScaler)."
        )


def _independent(value):
    """``value`` with its own containers and generators; arrays are shared."""
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, list):
        return [_independent(item) for item in value]
    if isinstance(value, dict):
        return {key: _independent(item) for key, item in value.items()}
    return copy.deepcopy(value)


def _all_finite(weights):
    """Whether ``(coefs, intercepts)`` holds only finite values."""
    return all(np.isfinite(array).all() for arrays in weights for array in arrays)


def _finite_min(values):
    return float(min((v for v in values if math.isfinite(v)), default=math.inf))


def _is_number(value):
    """A float as training records them (NumPy's float64 is one)."""
    return isinstance(value, float)


def _same_values(values, expected):
    """Whether ``values`` is a list of the same floats as ``expected``, NaN as NaN."""
    return (
        type(values) is list
        and len(values) == len(expected)
        and all(
            _is_number(a)
            and _is_number(b)
            and (a == b or (math.isnan(a) and math.isnan(b)))
            for a, b in zip(values, expected, strict=True)
        )
    )


def _is_sorted_and_distinct(classes):
    """Whether ``classes`` is as ``np.unique`` makes it (``fit`` encodes by it)."""
    try:
        return np.array_equal(np.unique(classes), classes)
    except TypeError:  # labels that do not compare, such as 1 and "a"
        return False


def _check_feature_names(names, n_features):
    if names is None:
        return
    if not (
        isinstance(names, np.ndarray)
        and names.shape == (n_features,)
        and names.dtype == object
        and all(type(name) is str for name in names.tolist())
    ):
        raise ValueError(
            f"feature_names_in_ is not an array of {n_features} names (strings)"
        )


def _short(value, limit=40):
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_nan(label):
    return isinstance(label, float) and math.isnan(label)


def positive_ints(value, name, allow_empty=True):
    """A layer-size parameter (an int or a sequence of them) as a list of ints."""
    values = [value] if isinstance(value, Integral) else list(value)
    if not all(isinstance(v, Integral) and v > 0 for v in values) or not (
        values or allow_empty
    ):
        raise ValueError(
            f"{name} must be {'a' if allow_empty else 'a non-empty'} sequence of "
            f"positive integers, got {value!r}."
        )
    return [int(v) for v in values]


def _first_difference(fitted, wanted):
    """The first layer where two architectures differ, in words."""
    for i, (a, b) in enumerate(zip(fitted, wanted, strict=False)):
        if a != b:
            return f"layer {i}: fitted {a}, now {b}"
    return f"{len(fitted)} layers fitted, {len(wanted)} now"
