"""TensorFlow's step: a graph function running a while loop of mini-batch steps.

The data are graph-function arguments gathered by row inside the loop, so a
call of ``STEPS_PER_CALL`` steps is one dispatch from Python; the variables
are updated in place (``tf.GradientTape``, the optimizer's ``apply``).
"""

import keras
import numpy as np
import tensorflow as tf

_ALIGNMENT = 64  # TensorFlow aborts on a shared buffer less aligned than this


def shared_tensor(array, dtype):
    """``array`` as a tensor, sharing its memory through DLPack where it can."""
    array = np.asarray(array)
    shareable = (
        array.dtype == dtype
        and array.flags.c_contiguous
        and array.flags.writeable  # NumPy exports no read-only array via DLPack
        and array.size > 0
        and array.ctypes.data % _ALIGNMENT == 0
    )
    if shareable:
        return tf.experimental.dlpack.from_dlpack(array.__dlpack__())
    return tf.constant(array, dtype=dtype)


class Steps:
    def __init__(self, model, features, targets, weights, batch_size):
        self.model = model
        self.batch_size = batch_size
        self.data = [
            shared_tensor(features, np.float32),
            tf.constant(targets, tf.int32),
        ]
        if weights is not None:
            self.data.append(tf.constant(weights, tf.float32))
        self._run = _training_steps(model, batch_size, weights is not None)
        self._score = _scorer(model)
        self._order = (None, None)

    def run(self, order, start, stop, learning_rate):
        if order is not self._order[0]:  # a new epoch: its order, once
            self._order = (order, tf.constant(order, tf.int32))
        self.model.optimizer.learning_rate = learning_rate
        sums = self._run(
            self.data, self._order[1], tf.constant(start), tf.constant(stop)
        )
        return tuple(float(s) for s in sums)

    def score(self, x, y):
        loss, hits = self._score(tf.constant(x, tf.float32), tf.constant(y, tf.int32))
        return float(loss), float(hits)


def _training_steps(model, batch_size, weighted):
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
        input_signature=[data_spec, tf.TensorSpec([None], tf.int32), scalar, scalar]
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


class FusedAdam(keras.optimizers.Adam):
    """Keras's Adam, each variable's update one ``ResourceApplyAdam`` kernel.

    The same formula as Keras's (the bias-corrected step ``lr * sqrt(1 -
    beta_2**t) / (1 - beta_1**t)``, ``epsilon`` outside the square root) in
    one pass over memory instead of about ten; the state stays in Keras's
    variables.
    """

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad:
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        index = self._get_variable_index(variable)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle,
            m=self._momentums[index].value.handle,
            v=self._velocities[index].value.handle,
            beta1_power=tf.pow(beta_1, step),
            beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype),
            beta1=beta_1,
            beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype),
        )
