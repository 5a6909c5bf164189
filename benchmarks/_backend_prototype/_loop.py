"""The epoch loop, written once for every backend around a per-backend step.

What a backend provides (``_steps_<backend>.Steps``, made by :func:`steps_for`):

``Steps(model, features, targets, weights, batch_size)``
    Binds the model, its compiled optimizer and the training data (NumPy
    arrays, shared with the backend without a copy where it allows).
``run(order, start, stop, learning_rate) -> (loss_sum, hits, weight_sum)``
    Mini-batch steps ``start`` to ``stop`` of an epoch whose rows, in order,
    are the NumPy array ``order``: batch ``i`` is ``order[i * batch_size:(i +
    1) * batch_size]``. Trains at ``learning_rate`` and returns Python
    floats: the batch losses times the batch sizes, the weighted number of
    correct predictions and the total weight. After it returns, the Keras
    variables (weights, non-trainable variables such as BatchNormalization's
    statistics, the optimizer's and the seed generators' state) hold the
    trained values, on every backend.
``score(x, y) -> (loss_sum, hits)``
    The summed loss and number of correct predictions, inference mode.

Everything else (the seeded row order, the chunks of ``STEPS_PER_CALL``
steps, the learning-rate schedule, the progress bar, validation scores and
the early-stop callback) is here, shared.
"""

import importlib

import keras
import numpy as np

# Steps per call into the backend: Keras's fit with one step per call spends
# about a third of the tutorial network's fit time in Python and dispatch on
# two cores (TensorFlow); 32 leave that negligible and still move a progress
# bar smoothly.
STEPS_PER_CALL = 32


def steps_for(model, features, targets, weights, batch_size):
    """The configured backend's :class:`Steps` for ``model`` and the data."""
    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax", "torch"):
        raise ValueError(
            f"skmnist trains with Keras's tensorflow, jax or torch backend; "
            f"Keras is configured with {backend!r}"
        )
    module = importlib.import_module(f"._steps_{backend}", __package__)
    return module.Steps(model, features, targets, weights, batch_size)


class Batches:
    """The rows of each epoch, in a seeded order, cut into mini-batches.

    The order comes from NumPy's generator seeded with ``seed``, the same on
    every backend, so that a model continued on another backend sees the
    rows it would have seen. ``order`` lists the rows to train on (a row
    repeated stands for an integer weight).
    """

    def __init__(self, order, batch_size, shuffle, seed):
        self.order = np.asarray(order, dtype=np.int32)
        # As scikit-learn's MLP: a batch is at most the whole training set.
        self.batch_size = int(min(batch_size, len(self.order)))
        self.n_batches = -(-len(self.order) // self.batch_size)
        self._shuffle = shuffle
        self._rng = np.random.default_rng(seed)

    def epoch_order(self):
        if not self._shuffle:
            return self.order
        return self.order[self._rng.permutation(len(self.order))]


def evaluate(steps, x, y, chunk_rows=8192):
    """``val_loss`` and ``val_accuracy`` on the NumPy arrays ``(x, y)``."""
    n = len(x)
    loss = hits = 0.0
    for start in range(0, n, chunk_rows):
        chunk_loss, chunk_hits = steps.score(
            x[start : start + chunk_rows], y[start : start + chunk_rows]
        )
        loss += chunk_loss
        hits += chunk_hits
    return {"val_loss": loss / n, "val_accuracy": hits / n}


def train(
    steps,
    batches,
    *,
    epochs,
    verbose=0,
    learning_rate,
    validation_data=None,
    on_epoch_end=None,
):
    """Run up to ``epochs`` epochs; return the per-epoch history (as Keras's fit).

    ``learning_rate(progress)`` gives the rate at ``progress``, the fraction
    of this call's steps done (0 to 1), set before each call into the
    backend. ``on_epoch_end(logs)`` may stop training by returning True.
    """
    history = {}
    total = epochs * batches.n_batches
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
            sums = steps.run(order, start, stop, learning_rate(done / total))
            loss_sum += sums[0]
            hits += sums[1]
            weight_sum += sums[2]
            n_rows = min(stop * batches.batch_size, len(order))
            logs = {"accuracy": hits / weight_sum, "loss": loss_sum / n_rows}
            if stop < batches.n_batches:
                progress.update(stop, list(logs.items()))
        if validation_data is not None:
            logs.update(evaluate(steps, *validation_data))
        progress.update(batches.n_batches, list(logs.items()), finalize=True)
        for name, value in logs.items():
            history.setdefault(name, []).append(value)
        if on_epoch_end is not None and on_epoch_end(dict(logs)):
            break
    return history
