"""The training loop, written once for every backend around a per-backend step.

Keras's ``model.fit`` draws its shuffling from the backend's global seed and
runs one step per call; here each epoch's order comes from a generator seeded
by the estimator, and the backend runs many steps per call, each batch
gathered by index from the training rows held once by the backend.

What a backend's step module (``_step_<backend>.py``) provides:

``epoch_orders(rows, shuffle, seed)``
    An endless iterator of each epoch's rows in training order (``rows``
    permuted by a generator seeded with ``seed``, or as given), in the form
    its ``Steps.run`` takes.
``Steps(model, X, y, sample_weight, batch_size)``
    Binds the compiled model and the training data (NumPy arrays, shared
    with the backend without a copy where it allows).
``Steps.run(order, start, stop, learning_rate)``
    Trains mini-batch steps ``start`` to ``stop`` of the epoch ``order``
    (batch ``i`` is ``order[i * batch_size:(i + 1) * batch_size]``) at
    ``learning_rate``, and returns three floats: the batch losses times the
    batch sizes, the weighted number of correct predictions and the total
    weight. Afterwards the Keras variables (weights, batch normalisation's
    statistics, the optimizer's and the seed generators' state) hold the
    trained values, on every backend.
``Steps.validation_set(X, y)`` and ``Steps.score(x, y)``
    The validation rows in the backend's form, and the summed loss and
    number of correct predictions on a chunk of them (inference mode).
``to_numpy(variable)``
    A Keras variable's value as a new NumPy array.
``FusedAdam``, ``GlorotUniform`` (optional)
    The backend's own Adam optimizer and kernel initializer, trained with
    instead of Keras's classes of those names where the module defines them.

Everything else (the chunks of ``STEPS_PER_CALL`` steps, the learning-rate
schedule, the progress bar, validation scores, the early-stop callback) is
here, shared.
"""

from ._keras import keras, step_module

# Training steps run per call into the backend. Keras's ``fit`` with one step
# per call spends about a third of the tutorial network's fit time in Python
# and dispatch overhead on two cores; 32 steps per call leave that negligible
# and still move a progress bar smoothly (``benchmarks/bench_fit.py``).
STEPS_PER_CALL = 32


class Batches:
    """The training rows, cut into seeded mini-batches each epoch.

    Each epoch's permutation comes from a generator seeded with ``seed`` (the
    backend's, see its ``epoch_orders``), so the order is a function of
    ``random_state`` alone; an epoch is one permutation of ``order`` cut into
    batches of ``batch_size`` (the last one smaller). ``order`` lists the rows
    of ``X`` to train on, a row repeated to stand for an integer weight;
    ``sample_weight`` (per row of ``X``) scales each row's loss.
    """

    def __init__(self, X, y, sample_weight, order, batch_size, shuffle, seed):
        self.X, self.y, self.sample_weight = X, y, sample_weight
        self.weighted = sample_weight is not None
        self.n_rows = len(order)
        # As scikit-learn's MLP: a batch is at most the whole training set
        # (which also keeps the step offsets within int32).
        self.batch_size = int(min(batch_size, len(order)))
        self.n_batches = -(-len(order) // self.batch_size)
        self._orders = step_module().epoch_orders(order, shuffle, seed)

    def epoch_order(self):
        """The rows of the next epoch, in training order."""
        return next(self._orders)


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
    before each call into the backend, every ``STEPS_PER_CALL`` steps.

    The history, as Keras's ``fit`` would record it, holds ``loss`` and
    ``accuracy`` and, with ``validation_data`` ``(X, y)`` scored after each
    epoch, ``val_loss`` and ``val_accuracy``. ``on_epoch_end(logs)`` may stop
    training by returning True. ``verbose`` is Keras's: 0 silent, 1 a progress
    bar per epoch, 2 one line per epoch.
    """
    steps = step_module().Steps(
        model, batches.X, batches.y, batches.sample_weight, batches.batch_size
    )
    validation = None
    if validation_data is not None:
        validation = steps.validation_set(*validation_data)
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
            rate = learning_rate(done / (epochs * batches.n_batches))
            sums = steps.run(order, start, stop, rate)
            loss_sum += sums[0]
            hits += sums[1]
            weight_sum += sums[2]
            n_rows = min(stop * batches.batch_size, batches.n_rows)
            logs = {"accuracy": hits / weight_sum, "loss": loss_sum / n_rows}
            if stop < batches.n_batches:
                progress.update(stop, list(logs.items()))
        if validation is not None:
            logs.update(_evaluate(steps, *validation))
        progress.update(batches.n_batches, list(logs.items()), finalize=True)
        for name, value in logs.items():
            history.setdefault(name, []).append(value)
        if on_epoch_end is not None and on_epoch_end(dict(logs)):
            break
    return history


def _evaluate(steps, x, y, chunk_rows=8192):
    """``val_loss`` and ``val_accuracy`` of the model on the validation rows."""
    n = int(x.shape[0])
    loss = hits = 0.0
    for start in range(0, n, chunk_rows):
        chunk_loss, chunk_hits = steps.score(
            x[start : start + chunk_rows], y[start : start + chunk_rows]
        )
        loss += chunk_loss
        hits += chunk_hits
    return {"val_loss": loss / n, "val_accuracy": hits / n}
