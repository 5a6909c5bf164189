"""The docstring entries every network shares, written once.

A network's class docstring names them as ``%(optimizer)s``,
``%(batch_size)s``, ``%(training_controls)s`` and ``%(fitted_attributes)s``;
:func:`fill_doc` puts the text in, so that every network documents the
shared parameters in the same words.
"""

_ENTRIES = {
    "optimizer": """\
optimizer : {"adam", "adamw", "rmsprop", "sgd"}, default="adam"
    Keras optimizer used for training.""",
    "batch_size": """\
batch_size : int >= 1, default=128
    Number of samples per gradient update (at most the number of training
    samples).""",
    "training_controls": """\
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
    Seeds the initial weights, the dropout masks, any augmentation and the
    shuffling. An integer gives the same model, and the same predictions,
    fit after fit and process after process; it changes no global random
    state.

verbose : int in {0, 1, 2}, default=0
    0 is silent, 1 shows a progress bar per epoch, 2 prints one line per
    epoch (as Keras's ``fit``).""",
    "fitted_attributes": """\
classes_ : ndarray of shape (n_classes,)
    Class labels, sorted.

n_features_in_ : int
    Number of features seen during :meth:`fit`.

feature_names_in_ : ndarray of shape (``n_features_in_``,)
    Names of features seen during :meth:`fit`, only when ``X`` has string
    column names.

architecture_ : list of dict
    The fitted network as plain data, one configuration per layer
    (:meth:`skmnist.layers.Layer.get_config`), the image layer that reads
    rows as images (when the first layer takes images) and the softmax
    output layer included, as :func:`skmnist.save` stores it.

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
    Number of epochs run, over all calls that continued training.""",
}


def fill_doc(cls):
    """Put the shared entries into ``cls``'s docstring, indented as it needs."""
    entries = {
        name: "\n".join(
            ("    " + line) if line else line for line in text.splitlines()
        ).lstrip()
        for name, text in _ENTRIES.items()
    }
    doc = cls.__doc__
    for name, text in entries.items():
        doc = doc.replace(f"%({name})s", text)
    cls.__doc__ = doc
    return cls
