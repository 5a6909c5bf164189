"""JAX's step: one jitted, stateless function running a loop of mini-batch steps.

The model's state (trainable and non-trainable variables, the latter holding
the seed generators' state and BatchNormalization's statistics) and the
optimizer's variables go in as arrays and come out updated
(``model.stateless_call``, ``optimizer.stateless_apply``), and are written
back into the Keras variables after each call, so that between calls the
model is an ordinary Keras model. The state's buffers are donated to the
call, so that XLA updates them in place instead of allocating a copy of the
weights and the optimizer's moments each call.

Full batches run in a ``lax.fori_loop`` compiled once per batch size; the
epoch's last, smaller batch (JAX compiles for static shapes) runs through a
second compilation of the same step.
"""

import functools

import jax
import jax.numpy as jnp
import keras
import numpy as np


def shared_array(array, dtype):
    """``array`` on JAX's CPU device, its memory shared where XLA allows.

    ``jax.device_put`` keeps a NumPy array's memory when it is C-contiguous
    and 64-byte aligned (as skmnist's preprocessor makes them); anything
    else is copied.
    """
    return jax.device_put(np.ascontiguousarray(array, dtype=dtype))


class Steps:
    def __init__(self, model, features, targets, weights, batch_size):
        self.model = model
        self.batch_size = batch_size
        optimizer = model.optimizer
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
        self.data = (
            shared_array(features, np.float32),
            jnp.asarray(targets, dtype=jnp.int32),
            None if weights is None else jnp.asarray(weights, dtype=jnp.float32),
        )
        self._learning_rate_index = next(
            i
            for i, v in enumerate(optimizer.variables)
            if v is optimizer._learning_rate
        )
        loss_fn = keras.losses.SparseCategoricalCrossentropy()
        self._steps = jax.jit(
            functools.partial(_steps, model, loss_fn, batch_size),
            static_argnames=("size",),
            donate_argnums=(0,),
        )
        self._score = jax.jit(functools.partial(_score, model))
        self._order = (None, None)

    def _state(self):
        m = self.model
        return (
            [v.value for v in m.trainable_variables],
            [v.value for v in m.non_trainable_variables],
            [v.value for v in m.optimizer.variables],
        )

    def _write_back(self, state):
        m = self.model
        groups = (
            m.trainable_variables,
            m.non_trainable_variables,
            m.optimizer.variables,
        )
        for variables, values in zip(groups, state, strict=True):
            for variable, value in zip(variables, values, strict=True):
                variable.assign(value)

    def run(self, order, start, stop, learning_rate):
        if order is not self._order[0]:
            self._order = (order, jnp.asarray(order))
        rows = self._order[1]
        n_full = len(order) // self.batch_size
        state = self._state()
        lr = jnp.asarray(learning_rate, dtype=state[2][self._learning_rate_index].dtype)
        state[2][self._learning_rate_index] = lr
        sums = jnp.zeros(3, jnp.float32)
        full_stop = min(stop, n_full)
        try:
            if start < full_stop:
                state, sums = self._steps(
                    state, sums, self.data, rows, start, full_stop, size=self.batch_size
                )
            if stop > n_full:  # the epoch's last, partial batch
                tail = len(order) - n_full * self.batch_size
                state, sums = self._steps(
                    state, sums, self.data, rows, n_full, n_full + 1, size=tail
                )
        finally:
            # Donated buffers are gone: the Keras variables must hold the
            # outputs (or, after a failure, whatever survived) from now on.
            self._write_back(state)
        return tuple(float(s) for s in np.asarray(sums))

    def score(self, x, y):
        m = self.model
        loss, hits = self._score(
            [v.value for v in m.trainable_variables],
            [v.value for v in m.non_trainable_variables],
            jnp.asarray(x, jnp.float32),
            jnp.asarray(y, jnp.int32),
        )
        return float(loss), float(hits)


def _steps(model, loss_fn, batch_size, state, sums, data, order, start, stop, *, size):
    """Steps ``start`` to ``stop`` on batches of ``size`` rows (traced)."""
    features, targets, weights = data
    optimizer = model.optimizer

    def loss_and_updates(trainable, non_trainable, x, y, w):
        proba, non_trainable = model.stateless_call(
            trainable, non_trainable, x, training=True
        )
        return loss_fn(y, proba, sample_weight=w), (proba, non_trainable)

    gradient = jax.value_and_grad(loss_and_updates, has_aux=True)

    def step(i, carry):
        (trainable, non_trainable, optimizer_variables), sums = carry
        index = jax.lax.dynamic_slice_in_dim(order, i * batch_size, size)
        x, y = features[index], targets[index]
        w = None if weights is None else weights[index]
        (loss, (proba, non_trainable)), grads = gradient(
            trainable, non_trainable, x, y, w
        )
        trainable, optimizer_variables = optimizer.stateless_apply(
            optimizer_variables, grads, trainable
        )
        hit = (jnp.argmax(proba, axis=1) == y).astype(jnp.float32)
        weight = jnp.float32(size) if w is None else jnp.sum(w)
        if w is not None:
            hit = hit * w
        sums = sums + jnp.stack([loss * size, jnp.sum(hit), weight])
        return (trainable, non_trainable, optimizer_variables), sums

    return jax.lax.fori_loop(start, stop, step, (state, sums))


def _score(model, trainable, non_trainable, x, y):
    proba, _ = model.stateless_call(trainable, non_trainable, x, training=False)
    loss = keras.losses.sparse_categorical_crossentropy(y, proba)
    hits = jnp.sum((jnp.argmax(proba, axis=1) == y).astype(jnp.float32))
    return jnp.sum(loss), hits
