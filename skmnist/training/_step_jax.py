"""JAX's training step: one compiled, stateless function running a loop of steps.

The model's state (trainable and non-trainable variables, the latter holding
the seed generators' state and batch normalisation's statistics) and the
optimizer's variables go in as arrays and come out updated
(``model.stateless_call``, ``optimizer.stateless_apply``), and are written
back into the Keras variables after each call, so that between calls the
model is an ordinary Keras model. The state's buffers are donated to the
call, so that XLA updates them in place instead of allocating a copy of the
weights and the optimizer's moments each call.

Full batches run in a ``lax.fori_loop`` compiled once per batch size. The
epoch's last, smaller batch (XLA compiles for static shapes) runs in the
same function, padded to a full batch whose padding weighs nothing, when
each row trains independently of its batch; otherwise (batch
normalisation) through a second compilation of the step. Networks with
wide layers (more than :data:`LOOPED_VALUES_PER_ROW` values a row, as
convolutions have) run one compiled step per call instead: XLA's CPU
backend runs their steps several times slower inside a loop than called
one by one, and a step that long makes the call's dispatch negligible.
Layers whose kinds give a JAX call for them (``Layer.jax_training_call``:
convolutions as matrix products, pooling as reductions of a reshape, which
XLA's CPU backend runs faster than Keras's window operations) are traced
that way, inside the same scope of variable values as ``stateless_call``.
The compiled functions are kept by the
structure they compute, so that ``partial_fit`` calls and new models of the
same architecture reuse them. The module interface is the
one :mod:`._loop` documents.
"""

import collections
import functools

import jax
import jax.numpy as jnp
import keras
import numpy as np

from ._keras import cached_function, function_key, kinds_forward, network_facts


def epoch_orders(rows, shuffle, seed):
    """Each epoch's rows (a NumPy array), permuted by a generator from ``seed``."""
    rows = np.asarray(rows, dtype=np.int32)
    rng = np.random.default_rng(seed)
    while True:
        yield rows[rng.permutation(len(rows))] if shuffle else rows


class GlorotUniform(keras.initializers.GlorotUniform):
    """Keras's Glorot uniform initializer, drawn by NumPy from its integer seed.

    Keras's own draws each kernel with ``jax.random.uniform``, which XLA
    compiles once per shape: a second or more of a fresh process's first fit
    of the tutorial network on two cores, for arithmetic that takes NumPy
    milliseconds. This one draws the same distribution (uniform in
    ``[-limit, limit]``, ``limit = sqrt(6 / (fan_in + fan_out))``, the fans
    as Keras computes them for kernels) from a NumPy generator seeded with the
    initializer's seed: on JAX, a ``random_state`` gives other initial weights
    than Keras's initializer would (docs/design.md). Models handed to users
    (``to_keras``) keep Keras's class.
    """

    def __call__(self, shape, dtype=None):
        shape = tuple(int(n) for n in shape)
        if not isinstance(self.seed, int) or len(shape) < 2:
            return super().__call__(shape, dtype=dtype)
        receptive_field = int(np.prod(shape[:-2], dtype=np.int64))
        fan_in, fan_out = shape[-2] * receptive_field, shape[-1] * receptive_field
        limit = np.float32(np.sqrt(6.0 / max(1.0, fan_in + fan_out)))
        unit = np.random.default_rng(self.seed).random(shape, dtype=np.float32)
        values = unit * (2 * limit) - limit  # uniform in [-limit, limit)
        return jnp.asarray(values, dtype=dtype or "float32")


# Compiled training and scoring functions, by the structure they compute
# (:func:`._keras.function_key`): a new model of the same architecture,
# optimizer and batch size (each fit builds one; a grid search many) reuses
# them instead of paying XLA's compilation again (seconds per function on
# two cores).
_COMPILED = collections.OrderedDict()


def _compiled(model, key, make):
    """``make()`` for ``model``, or the function made for one of its structure."""
    return cached_function(_COMPILED, function_key(model, key), model, make)


# The most values a network's row may hold at once (its widest layer, as
# skmnist's layer kinds count them) for its steps to run in a compiled loop.
# The MLP (1,296) runs faster in one; LeNet-5 (25,088) and the ConvNet
# (36,504) about 3.5 and 4 times slower than step by step (docs/performance.md).
LOOPED_VALUES_PER_ROW = 4096


class Steps:
    """Training steps of ``model`` on ``(X, y, sample_weight)`` in batches."""

    def __init__(self, model, X, y, sample_weight, batch_size):
        self.model = model
        self.batch_size = batch_size
        optimizer = model.optimizer
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
        # device_put keeps a C-contiguous, 64-byte aligned array's memory (as
        # skmnist's preprocessor makes them); anything else is copied.
        self._data = (
            jax.device_put(np.ascontiguousarray(X, dtype=np.float32)),
            jnp.asarray(y, dtype=jnp.int32),
            None
            if sample_weight is None
            else jnp.asarray(sample_weight, dtype=jnp.float32),
        )
        facts = network_facts(model)
        self._looped = facts.values_per_row <= LOOPED_VALUES_PER_ROW
        # Networks that train row by row take the epoch's last batch padded
        # to a full one (its padding weighted 0), in the function compiled for
        # full batches: a second compilation costs more than that one step.
        self._padded = facts.rows_independent
        run, name = (
            (_steps, "training_steps") if self._looped else (_one_step, "training_step")
        )
        self._steps = _compiled(
            model,
            (name, batch_size),
            lambda: jax.jit(
                functools.partial(run, model),
                static_argnames=("batch_size", "size"),
                donate_argnums=(0,),
            ),
        )
        self._order = (None, None)

    def _run_steps(self, state, sums, rows, start, stop, size, n_rows=None):
        """Steps ``start`` to ``stop`` of batches of ``size`` rows: one call
        into the loop, or one call a step (``n_rows``: see :func:`_step`)."""
        data, batch_size = self._data, self.batch_size
        if self._looped:
            return self._steps(
                state, sums, data, rows, start, stop, n_rows,
                batch_size=batch_size, size=size,
            )  # fmt: skip
        for i in range(start, stop):
            state, sums = self._steps(
                state, sums, data, rows, i, n_rows, batch_size=batch_size, size=size
            )
        return state, sums

    def _state(self):
        model = self.model
        return (
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
            [v.value for v in model.optimizer.variables],
        )

    def _write_back(self, state):
        model = self.model
        groups = (
            model.trainable_variables,
            model.non_trainable_variables,
            model.optimizer.variables,
        )
        for variables, values in zip(groups, state, strict=True):
            for variable, value in zip(variables, values, strict=True):
                variable.assign(value)

    def run(self, order, start, stop, learning_rate):
        """Steps ``start`` to ``stop`` of the epoch ``order``; the three sums."""
        batch_size = self.batch_size
        if order is not self._order[0]:  # a new epoch: its order, once
            rows = order
            if self._padded:  # to whole batches (the padding is row 0)
                rows = np.zeros(-(-len(order) // batch_size) * batch_size, np.int32)
                rows[: len(order)] = order
            self._order = (order, jnp.asarray(rows))
        rows = self._order[1]
        self.model.optimizer.learning_rate = learning_rate
        state = self._state()
        sums = jnp.zeros(3, jnp.float32)
        try:
            if self._padded:
                state, sums = self._run_steps(
                    state, sums, rows, start, stop, batch_size, np.int32(len(order))
                )
            else:
                n_full = len(order) // batch_size
                full_stop = min(stop, n_full)
                if start < full_stop:
                    state, sums = self._run_steps(
                        state, sums, rows, start, full_stop, batch_size
                    )
                if stop > n_full:  # the epoch's last, smaller batch
                    last = len(order) - n_full * batch_size
                    state, sums = self._run_steps(
                        state, sums, rows, n_full, n_full + 1, last
                    )
        finally:
            # Donated buffers are gone: the Keras variables hold the outputs
            # from now on (after a failure, whatever state survived; the
            # estimator then drops the model and rebuilds it from its copy).
            self._write_back(state)
        return tuple(float(s) for s in np.asarray(sums))

    def validation_set(self, X, y):
        return jnp.asarray(X, jnp.float32), jnp.asarray(y, jnp.int32)

    def score(self, x, y):
        """The summed loss and number of hits on a chunk of the validation set."""
        model = self.model
        score = _compiled(
            model, "scorer", lambda: jax.jit(functools.partial(_score, model))
        )
        loss, hits = score(
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
            x,
            y,
        )
        return float(loss), float(hits)


def _steps(model, state, sums, data, order, start, stop, n_rows, *, batch_size, size):
    """Steps ``start`` to ``stop`` on batches of ``size`` rows (traced)."""
    step = _step(model, data, order, batch_size, size, n_rows)
    return jax.lax.fori_loop(start, stop, step, (state, sums))


def _one_step(model, state, sums, data, order, i, n_rows, *, batch_size, size):
    """Step ``i`` on a batch of ``size`` rows (traced)."""
    return _step(model, data, order, batch_size, size, n_rows)(i, (state, sums))


def _step(model, data, order, batch_size, size, n_rows):
    """The training step ``step(i, (state, sums))`` on batch ``i`` of ``order``.

    Batch ``i`` is the ``size`` rows of ``order`` from ``i * batch_size``.
    With ``n_rows`` (traced), ``order`` is the epoch's ``n_rows`` rows padded
    to whole batches, and the padding is weighted 0: the loss is the mean
    over the batch's real rows, as for a batch of only those (Keras's mean
    over the batch, weighted or not).
    """
    features, targets, weights = data
    optimizer = model.optimizer
    # model.fit's loss (the mean over the batch), or over the real rows.
    padded = n_rows is not None
    loss_fn = keras.losses.SparseCategoricalCrossentropy(
        reduction="sum" if padded else "sum_over_batch_size"
    )

    forward = training_forward(model)

    def loss_and_updates(trainable, non_trainable, x, y, w, count):
        proba, non_trainable = _stateless_training_call(
            model, forward, trainable, non_trainable, x
        )
        loss = loss_fn(y, proba, sample_weight=w)
        return (loss / count if padded else loss), (proba, non_trainable)

    gradient = jax.value_and_grad(loss_and_updates, has_aux=True)

    def step(i, carry):
        (trainable, non_trainable, optimizer_variables), sums = carry
        index = jax.lax.dynamic_slice_in_dim(order, i * batch_size, size)
        x, y = features[index], targets[index]
        w = None if weights is None else weights[index]
        count = jnp.float32(size)
        if padded:
            real = ((i * batch_size + jnp.arange(size)) < n_rows).astype(jnp.float32)
            w = real if w is None else w * real
            count = jnp.sum(real)
        (loss, (proba, non_trainable)), grads = gradient(
            trainable, non_trainable, x, y, w, count
        )
        trainable, optimizer_variables = optimizer.stateless_apply(
            optimizer_variables, grads, trainable
        )
        hit = (jnp.argmax(proba, axis=1) == y).astype(jnp.float32)
        weight = count if w is None else jnp.sum(w)
        if w is not None:
            hit = hit * w
        sums = sums + jnp.stack([loss * count, jnp.sum(hit), weight])
        return (trainable, non_trainable, optimizer_variables), sums

    return step


def training_forward(model):
    """``model(x, training=True)``, with the kinds' JAX calls.

    A layer built by a skmnist kind that gives a JAX call for it
    (``Layer.jax_training_call``) runs that way (see
    :func:`._keras.kinds_forward`, whose ``lean_layers`` it has).
    """
    return kinds_forward(model, lambda kind, layer: kind.jax_training_call(layer))


def _stateless_training_call(model, forward, trainable, non_trainable, x):
    """``model.stateless_call(trainable, non_trainable, x, training=True)``,
    computed by ``forward``: the same scope of values for the variables."""
    if not forward.lean_layers:  # Keras's own call, as before
        return model.stateless_call(trainable, non_trainable, x, training=True)
    mapping = [
        *zip(model.trainable_variables, trainable, strict=True),
        *zip(model.non_trainable_variables, non_trainable, strict=True),
    ]
    with keras.StatelessScope(state_mapping=mapping) as scope:
        proba = forward(x)
    return proba, [scope.get_current_value(v) for v in model.non_trainable_variables]


def _score(model, trainable, non_trainable, x, y):
    proba, _ = model.stateless_call(trainable, non_trainable, x, training=False)
    loss = keras.losses.sparse_categorical_crossentropy(y, proba)
    hits = jnp.sum((jnp.argmax(proba, axis=1) == y).astype(jnp.float32))
    return jnp.sum(loss), hits


def to_numpy(variable):
    """A Keras variable's value as a new NumPy array.

    Not ``variable.numpy()``: it calls ``np.array`` of an object whose
    ``__array__`` takes no ``copy`` argument, which NumPy 2 deprecates.
    """
    return np.array(variable.value)
