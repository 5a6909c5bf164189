"""TensorFlow's training step: a graph function running a loop of mini-batch steps.

The data become tensors once (sharing the arrays' memory where they can, see
:func:`_float32_tensor`); a graph function runs ``STEPS_PER_CALL`` steps per
call, each batch gathered by index inside the loop, the variables updated in
place (``tf.GradientTape``, the optimizer's ``apply``). Each epoch's row order
comes from TensorFlow's counter-based generator seeded by the estimator.
The module interface is the one :mod:`._loop` documents.
"""

import collections

import keras
import numpy as np
import tensorflow as tf

from .._utils.memory import TENSOR_ALIGNMENT
from ._keras import cached_function, function_key


def epoch_orders(rows, shuffle, seed):
    """Each epoch's rows (a tensor), in training order: ``rows`` permuted anew.

    The permutations come from a generator seeded with ``seed`` (never
    TensorFlow's global seed, which Keras's own ``shuffle=True`` draws from).
    """
    rows = tf.constant(rows, dtype=tf.int64)
    generator = tf.random.Generator.from_seed(seed)
    while True:
        if not shuffle:
            yield rows
            continue
        epoch_seed = generator.make_seeds(1)[:, 0]
        yield tf.gather(
            rows,
            tf.random.experimental.stateless_shuffle(
                tf.range(tf.size(rows, out_type=tf.int64)), seed=epoch_seed
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


# Graph functions by the structure they compute (:func:`._keras.function_key`):
# each fit builds a new model, and tracing its training loop anew costs more
# than a small fit's steps (a scikit-learn check's, a grid search's on few
# rows). The variables are the functions' arguments, so one trace trains
# every model of the structure.
_TRACED = collections.OrderedDict()


def _state(model, training):
    """The Keras variables a graph function reads and writes, in a fixed order.

    The model's (weights, batch statistics, the seed generators' counters)
    and, for training, the optimizer's (``iterations``, the learning rate,
    the slots).
    """
    variables = list(model.variables)
    if training:
        variables += model.optimizer.variables
    return variables


def _traced(model, key, training, function, specs):
    """``function(*args)`` traced as a graph of ``model``'s structure.

    Returns ``call(*args)``, the graph run on ``model``'s own variables. A
    graph that captured a variable anyway (one outside the model's and the
    optimizer's lists) computes only the model it was traced with, and is
    kept for that model alone; so is one traced under a distribution
    strategy.
    """
    variables = _state(model, training)
    state = [v.value for v in variables]  # the tf.Variables
    signature = tuple((tuple(v.shape), v.dtype) for v in variables)

    def trace():
        # The variables are read and written by the layers and the optimizer
        # of ``model``; passed as arguments too, TensorFlow makes every use of
        # them in the graph a use of the argument.
        graph = tf.function(lambda state, *args: function(*args))
        return graph.get_concrete_function(state, *specs)

    shared = function_key(model, (*key, signature))
    own = (id(model), *shared[1:])
    key = next((k for k in (shared, own) if k in _TRACED), None)
    if key is not None:
        concrete = cached_function(_TRACED, key, model, trace)
    else:
        concrete = trace()
        # A distribution strategy's scope is baked into the graph, too.
        alone = concrete.captured_inputs or tf.distribute.has_strategy()
        cached_function(_TRACED, own if alone else shared, model, lambda: concrete)
    return lambda *args: concrete(state, *args)


class Steps:
    """Training steps of ``model`` on ``(X, y, sample_weight)`` in batches."""

    def __init__(self, model, X, y, sample_weight, batch_size):
        self.model = model
        self.batch_size = batch_size
        self._score = None
        self._columns = [_float32_tensor(X), tf.constant(y, dtype=tf.int32)]
        weighted = sample_weight is not None
        if weighted:
            self._columns.append(tf.constant(sample_weight, tf.float32))
        self._run = _training_steps(model, batch_size, weighted)

    def run(self, order, start, stop, learning_rate):
        """Steps ``start`` to ``stop`` of the epoch ``order``; the three sums."""
        self.model.optimizer.learning_rate = learning_rate
        sums = self._run(self._columns, order, tf.constant(start), tf.constant(stop))
        return float(sums[0]), float(sums[1]), float(sums[2])

    def validation_set(self, X, y):
        return tf.constant(X, tf.float32), tf.constant(y, tf.int32)

    def score(self, x, y):
        """The summed loss and number of hits on a chunk of the validation set."""
        if self._score is None:
            self._score = _scorer(self.model)
        loss, hits = self._score(x, y)
        return float(loss), float(hits)


def _training_steps(model, batch_size, weighted):
    """A graph function running mini-batch steps ``start`` to ``stop`` of an epoch.

    Its arguments are the data (features, targets and, if ``weighted``,
    weights), the epoch's row order and the step range; it returns the sums
    the epoch's averages are made of: the batch losses times the batch sizes
    (Keras's epoch ``loss``), and the weighted number of correct predictions
    and the total weight (Keras's ``accuracy``). Data of any number of rows
    (from one batch up: a batch is at most the rows) and every model of the
    structure reuse one trace.
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

    def run(data, order, start, stop):
        zero = tf.constant(0.0)
        _, loss_sum, hits, weight_sum = tf.while_loop(
            lambda i, *_: i < stop,
            lambda *state: step(data, order, *state),
            (start, zero, zero, zero),
            parallel_iterations=1,  # steps update the weights: one at a time
        )
        return loss_sum, hits, weight_sum

    specs = [data_spec, tf.TensorSpec([None], tf.int64), scalar, scalar]
    return _traced(model, ("training_steps", batch_size, weighted), True, run, specs)


def _scorer(model):
    """A graph function: the summed loss and number of hits on ``(x, y)``."""
    loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction="sum")

    def score(x, y):
        proba = model(x, training=False)
        hits = tf.argmax(proba, axis=1, output_type=tf.int32) == y
        return loss_fn(y, proba), tf.reduce_sum(tf.cast(hits, tf.float32))

    specs = [
        tf.TensorSpec([None, *model.input_shape[1:]], tf.float32),
        tf.TensorSpec([None], tf.int32),
    ]
    return _traced(model, ("scorer",), False, score, specs)


def to_numpy(variable):
    """A Keras variable's value as a new NumPy array."""
    return np.array(variable.value.numpy())


class FusedAdam(keras.optimizers.Adam):
    """Keras's Adam, each variable's update done by one fused TensorFlow kernel.

    Keras writes Adam's update as about ten element-wise operations per
    variable, each a pass over memory and a dispatch of its own; TensorFlow's
    ``ResourceApplyAdam`` computes the same formula (the bias-corrected step
    ``lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)`` and ``epsilon`` outside the
    square root) in one pass. On the tutorial network this took about a sixth
    off each training step in A/B timings of the step alone. The
    state lives in Keras's own variables (``iterations``, the momentums and
    velocities), so saving, loading and continuing training are unchanged;
    AMSGrad uses Keras's code.
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
