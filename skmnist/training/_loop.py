"""The training loop: seeded mini-batches, many steps per call into TensorFlow.

Keras's ``model.fit`` draws its shuffling from TensorFlow's global seed and
runs one step per call; here each epoch's order comes from a generator seeded
by the estimator, and a graph function runs many steps per call, each batch
gathered by index from one tensor of the training rows.
"""

import numpy as np

from .._utils.memory import TENSOR_ALIGNMENT
from ._keras import keras, tf

# Training steps run per call into TensorFlow. Keras's ``fit`` with one step
# per call spends about a third of the tutorial network's fit time in Python
# and dispatch overhead on two cores; 32 steps per call leave that negligible
# and still move a progress bar smoothly (``benchmarks/bench_fit.py``).
STEPS_PER_CALL = 32


class Batches:
    """The training rows as one tensor, cut into seeded mini-batches each epoch.

    Keras's own ``shuffle=True`` draws from TensorFlow's global seed; here each
    epoch's permutation comes from a generator seeded with ``seed``, so the
    order is a function of ``random_state`` alone. The data becomes one tensor
    once (sharing the array's memory where it can, see ``_float32_tensor``); an
    epoch is one permutation of ``order`` cut into batches of ``batch_size``
    (the last one smaller), each gathered from the tensor inside the training
    loop, with no Python and no input pipeline per batch.
    ``order`` lists the rows to train on, a row repeated to stand for an
    integer weight; ``sample_weight`` (per row of ``X``) scales each row's loss.
    """

    def __init__(self, X, y, sample_weight, order, batch_size, shuffle, seed):
        self.features = _float32_tensor(X)
        self.targets = tf.constant(y, dtype=tf.int32)
        self.weights = (
            None if sample_weight is None else tf.constant(sample_weight, tf.float32)
        )
        # As scikit-learn's MLP: a batch is at most the whole training set
        # (which also keeps the step offsets within TensorFlow's int32).
        self.batch_size = int(min(batch_size, len(order)))
        self.n_batches = -(-len(order) // self.batch_size)
        self._rows = tf.constant(order, dtype=tf.int64)
        self._shuffle = shuffle
        self._generator = tf.random.Generator.from_seed(seed)

    @property
    def columns(self):
        """The per-row tensors a training step gathers from: x, y and weights."""
        weights = [] if self.weights is None else [self.weights]
        return [self.features, self.targets, *weights]

    def epoch_order(self):
        """The rows of the next epoch, in training order."""
        if not self._shuffle:
            return self._rows
        seed = self._generator.make_seeds(1)[:, 0]
        return tf.gather(
            self._rows,
            tf.random.experimental.stateless_shuffle(
                tf.range(tf.size(self._rows, out_type=tf.int64)), seed=seed
            ),
        )


def _float32_tensor(X):
    """``X`` as a float32 tensor, sharing its memory where TensorFlow allows.

    A C-contiguous float32 array that starts on a 64-byte boundary (as
    :class:`~skmnist.MNISTPreprocessor` makes them) is shared through DLPack:
    no second copy of the training set, and none of the time spent filling it.
    TensorFlow aborts the process on a less aligned buffer, so anything else
    is copied.
    """
    shareable = (
        X.dtype == np.float32
        and X.flags.c_contiguous
        and X.flags.writeable  # NumPy exports no read-only array through DLPack
        and X.size > 0
        and X.ctypes.data % TENSOR_ALIGNMENT == 0
    )
    if shareable:
        return tf.experimental.dlpack.from_dlpack(X.__dlpack__())
    return tf.constant(X, dtype=tf.float32)


def _cached(model, key, make):
    """``make()``, made once per model and ``key`` and kept on the model.

    Tracing a graph function costs a few tenths of a second; ``partial_fit``
    calls (a Hyperband search makes many) reuse the model's functions instead
    of tracing new ones. Stored past Keras's attribute tracking, which would
    otherwise try to track the functions as part of the model.
    """
    functions = model.__dict__.get("_skmnist_functions")
    if functions is None:
        functions = {}
        object.__setattr__(model, "_skmnist_functions", functions)
    if key not in functions:
        functions[key] = make()
    return functions[key]


def _training_steps(model, batch_size, weighted):
    """A graph function running mini-batch steps ``start`` to ``stop`` of an epoch.

    Its arguments are the data (features, targets and, if ``weighted``,
    weights), the epoch's row order and the step range; it returns the sums
    the epoch's averages are made of: the batch losses times the batch sizes
    (Keras's epoch ``loss``), and the weighted number of correct predictions
    and the total weight (Keras's ``accuracy``). Data of any number of rows
    reuses one trace.
    """
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    variables = model.trainable_variables
    optimizer = model.optimizer
    if not optimizer.built:  # its variables must exist before tracing
        optimizer.build(variables)

    def step(data, order, i, loss_sum, hits, weight_sum):
        index = order[i * batch_size : (i + 1) * batch_size]
        x, y, *w = (tf.gather(column, index) for column in data)
        w = w[0] if w else None
        with tf.GradientTape() as tape:
            proba = model(x, training=True)
            loss = loss_fn(y, proba, sample_weight=w)
        optimizer.apply(tape.gradient(loss, variables), variables)
        n = tf.cast(tf.shape(index)[0], tf.float32)
        hit = tf.cast(tf.argmax(proba, axis=1, output_type=tf.int32) == y, tf.float32)
        if w is not None:
            hit, n_weight = hit * w, tf.reduce_sum(w)
        else:
            n_weight = n
        return (
            i + 1,
            loss_sum + loss * n,
            hits + tf.reduce_sum(hit),
            weight_sum + n_weight,
        )

    data_spec = [
        tf.TensorSpec([None, *model.input_shape[1:]], tf.float32),
        tf.TensorSpec([None], tf.int32),
    ] + ([tf.TensorSpec([None], tf.float32)] if weighted else [])
    scalar = tf.TensorSpec([], tf.int32)

    @tf.function(
        input_signature=[data_spec, tf.TensorSpec([None], tf.int64), scalar, scalar]
    )
    def run(data, order, start, stop):
        zero = tf.constant(0.0)
        _, loss_sum, hits, weight_sum = tf.while_loop(
            lambda i, *_: i < stop,
            lambda *state: step(data, order, *state),
            (start, zero, zero, zero),
            parallel_iterations=1,  # steps update the weights: one at a time
        )
        return loss_sum, hits, weight_sum

    return run


def _scorer(model):
    """A graph function: the summed loss and number of hits on ``(x, y)``."""
    loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction="sum")

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, *model.input_shape[1:]], tf.float32),
            tf.TensorSpec([None], tf.int32),
        ]
    )
    def score(x, y):
        proba = model(x, training=False)
        hits = tf.argmax(proba, axis=1, output_type=tf.int32) == y
        return loss_fn(y, proba), tf.reduce_sum(tf.cast(hits, tf.float32))

    return score


def _evaluate(score, x, y, chunk_rows=8192):
    """``val_loss`` and ``val_accuracy`` of the model on the tensors ``(x, y)``."""
    n = int(x.shape[0])
    loss = hits = 0.0
    for start in range(0, n, chunk_rows):
        chunk_loss, chunk_hits = score(
            x[start : start + chunk_rows], y[start : start + chunk_rows]
        )
        loss += float(chunk_loss)
        hits += float(chunk_hits)
    return {"val_loss": loss / n, "val_accuracy": hits / n}


def train(
    model,
    batches,
    *,
    epochs,
    verbose,
    learning_rate,
    validation_data=None,
    on_epoch_end=None,
):
    """Run up to ``epochs`` epochs over ``batches``; return the per-epoch history.

    ``learning_rate(progress)`` gives the optimizer's learning rate at
    ``progress``, the fraction of this call's steps done (0 to 1); it is set
    before each call into TensorFlow, every ``STEPS_PER_CALL`` steps.

    The history, as Keras's ``fit`` would record it, holds ``loss`` and
    ``accuracy`` and, with ``validation_data`` ``(X, y)`` scored after each
    epoch, ``val_loss`` and ``val_accuracy``. ``on_epoch_end(logs)`` may stop
    training by returning True. ``verbose`` is Keras's: 0 silent, 1 a progress
    bar per epoch, 2 one line per epoch.
    """
    weighted = batches.weights is not None
    run = _cached(
        model,
        ("training_steps", batches.batch_size, weighted),
        lambda: _training_steps(model, batches.batch_size, weighted),
    )
    score = None
    if validation_data is not None:
        score = _cached(model, "scorer", lambda: _scorer(model))
        validation = [tf.constant(validation_data[0], tf.float32)]
        validation.append(tf.constant(validation_data[1], tf.int32))
    history = {}
    for epoch in range(epochs):
        if verbose:
            print(f"Epoch {epoch + 1}/{epochs}", flush=True)
        progress = keras.utils.Progbar(
            batches.n_batches,
            verbose=verbose,
            stateful_metrics=["accuracy", "loss", "val_accuracy", "val_loss"],
        )
        order = batches.epoch_order()
        loss_sum = hits = weight_sum = 0.0
        for start in range(0, batches.n_batches, STEPS_PER_CALL):
            stop = min(start + STEPS_PER_CALL, batches.n_batches)
            done = epoch * batches.n_batches + (start + stop) / 2
            model.optimizer.learning_rate = learning_rate(
                done / (epochs * batches.n_batches)
            )
            sums = run(batches.columns, order, tf.constant(start), tf.constant(stop))
            loss_sum += float(sums[0])
            hits += float(sums[1])
            weight_sum += float(sums[2])
            n_rows = min(stop * batches.batch_size, int(order.shape[0]))
            logs = {"accuracy": hits / weight_sum, "loss": loss_sum / n_rows}
            if stop < batches.n_batches:
                progress.update(stop, list(logs.items()))
        if score is not None:
            logs.update(_evaluate(score, *validation))
        progress.update(batches.n_batches, list(logs.items()), finalize=True)
        for name, value in logs.items():
            history.setdefault(name, []).append(value)
        if on_epoch_end is not None and on_epoch_end(dict(logs)):
            break
    return history
