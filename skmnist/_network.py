"""The Keras side of skmnist: build, compile and train the network.

This is the only module that imports TensorFlow or Keras, so that
``import skmnist``, prediction and unpickling stay free of them. Each step is a
small function (build, compile, make the data stream, train, read and write the
weights) that a new network, such as a ConvNet, can replace on its own.
"""

import contextlib
import logging
import os
import sys

import numpy as np

from ._random import draw_seed


@contextlib.contextmanager
def _native_stderr_silenced():
    """Send what C++ code writes to file descriptor 2 to /dev/null.

    TensorFlow's native logging writes its oneDNN banner and CUDA probing
    messages ("Could not find cuda drivers", "failed call to cuInit") before
    ``TF_CPP_MIN_LOG_LEVEL`` is read, straight to the process's stderr. They
    are noise for a scikit-learn user on a CPU machine. Python exceptions are
    unaffected: they propagate after the descriptor is restored.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


# Later INFO and WARNING messages (retracing notes and the like) obey this
# variable; a value the user set on purpose wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
with _native_stderr_silenced():
    import tensorflow as tf

    tf.config.list_physical_devices()  # the CUDA probe, while silenced

import keras  # noqa: E402


class _HideRetracingNotes(logging.Filter):
    """Drop TensorFlow's "triggered tf.function retracing" warnings.

    Each ``fit`` builds a new network and so new graph functions; after a few
    fits in one process (a grid search) TensorFlow warns about the
    retracing, which is expected here and nothing a user can act on.
    """

    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


tf.get_logger().addFilter(_HideRetracingNotes())


def _cores_given():
    """How many cores this process was given, or None to keep TensorFlow's default.

    joblib's workers (loky, and so GridSearchCV with ``n_jobs``) and Dask's
    set ``OMP_NUM_THREADS`` to their share of the machine; a CPU affinity mask
    narrower than the machine says the same. TensorFlow reads neither, and its
    pools, sized to every core in every worker, oversubscribe the machine.
    """
    for variable in ("SKMNIST_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(variable, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    if hasattr(os, "sched_getaffinity"):
        allowed = len(os.sched_getaffinity(0))
        if allowed < (os.cpu_count() or allowed):
            return allowed
    return None


def _size_thread_pools(threads):
    # The pools can be sized only before TensorFlow runs its first operation;
    # if the user's code ran one already, their configuration stands.
    if threads is None:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        pass


_size_thread_pools(_cores_given())

# scikit-learn's names for activations, mapped to Keras's.
KERAS_ACTIVATIONS = {
    "identity": "linear",
    "logistic": "sigmoid",
    "tanh": "tanh",
    "relu": "relu",
}

class FusedAdam(keras.optimizers.Adam):
    """Keras's Adam, each variable's update done by one fused TensorFlow kernel.

    Keras writes Adam's update as about ten element-wise operations per
    variable, each a pass over memory and a dispatch of its own; TensorFlow's
    ``ResourceApplyAdam`` computes the same formula (the bias-corrected step
    ``lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)`` and ``epsilon`` outside the
    square root) in one multithreaded pass. On the tutorial network this takes
    about a sixth off each training step (``benchmarks/bench_fit.py``). The
    state lives in Keras's own variables (``iterations``, the momentums and
    velocities), so saving, loading and continuing training are unchanged;
    AMSGrad and other backends use Keras's code.
    """

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad or keras.backend.backend() != "tensorflow":
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


KERAS_OPTIMIZERS = {
    "adam": FusedAdam,
    "adamw": keras.optimizers.AdamW,
    "rmsprop": keras.optimizers.RMSprop,
    "sgd": keras.optimizers.SGD,
}


def build_mlp(n_features, n_classes, hidden_layer_sizes, activation, dropout, rng):
    """Dense -> Dropout blocks and a softmax output, seeded from ``rng``.

    Every random layer gets its own integer seed drawn from ``rng`` so that the
    initial weights and the dropout masks depend on ``random_state`` only, and
    never on TensorFlow's global seed.
    """

    layers = [keras.Input(shape=(n_features,), name="pixels")]
    for i, width in enumerate(hidden_layer_sizes, start=1):
        layers.append(
            keras.layers.Dense(
                width,
                activation=KERAS_ACTIVATIONS[activation],
                kernel_initializer=keras.initializers.GlorotUniform(
                    seed=draw_seed(rng)
                ),
                name=f"hidden_{i}",
            )
        )
        if dropout > 0:
            layers.append(
                keras.layers.Dropout(dropout, seed=draw_seed(rng), name=f"dropout_{i}")
            )
    layers.append(
        keras.layers.Dense(
            n_classes,
            activation="softmax",
            kernel_initializer=keras.initializers.GlorotUniform(seed=draw_seed(rng)),
            name="output",
        )
    )
    return keras.Sequential(layers, name="mnist_mlp")


# Training steps run per call into TensorFlow: one call per step costs the
# tutorial network about a third of its fit time in Python and dispatch
# overhead on two cores (benchmarks/bench_fit.py); 32 steps per call leave a
# progress bar that still moves smoothly.
STEPS_PER_EXECUTION = 32


def compile_model(model, optimizer, learning_rate):
    """Categorical cross-entropy on integer labels, with accuracy reported."""
    model.compile(
        optimizer=KERAS_OPTIMIZERS[optimizer](learning_rate=learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
        steps_per_execution=STEPS_PER_EXECUTION,
    )
    return model


def make_batches(X, y, sample_weight, order, batch_size, shuffle, seed):
    """A stream of mini-batches of the rows ``order``, reshuffled each epoch.

    Keras's own ``shuffle=True`` draws from TensorFlow's global seed; here each
    epoch's permutation comes from a generator seeded with ``seed``, so the
    order is a function of ``random_state`` alone. The data is copied into one
    tensor once; an epoch is one permutation cut into batches of indices, and
    each batch is gathered from the tensor, with no Python work per batch and
    no per-sample shuffle buffer to refill. ``order`` lists the rows to train
    on, a row repeated to stand for an integer weight.
    """
    features = tf.constant(X, dtype=tf.float32)
    targets = tf.constant(y, dtype=tf.int32)
    weights = None if sample_weight is None else tf.constant(sample_weight, tf.float32)
    rows = tf.constant(order, dtype=tf.int64)
    n_rows = len(order)
    n_full = n_rows // batch_size * batch_size
    generator = tf.random.Generator.from_seed(seed)

    def epoch(_):
        positions = tf.range(n_rows, dtype=tf.int64)
        if shuffle:
            positions = tf.random.experimental.stateless_shuffle(
                positions, seed=generator.make_seeds(1)[:, 0]
            )
        batches = tf.data.Dataset.from_tensor_slices(
            tf.reshape(positions[:n_full], (-1, batch_size))
        )
        if n_full < n_rows:
            batches = batches.concatenate(
                tf.data.Dataset.from_tensors(positions[n_full:])
            )
        return batches

    def gather(batch):
        index = tf.gather(rows, batch)
        x, t = tf.gather(features, index), tf.gather(targets, index)
        return (x, t) if weights is None else (x, t, tf.gather(weights, index))

    n_batches = -(-n_rows // batch_size)
    return (
        tf.data.Dataset.range(1)
        .flat_map(epoch)
        .apply(tf.data.experimental.assert_cardinality(n_batches))
        .map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .prefetch(tf.data.AUTOTUNE)
    )


class _EpochEnd(keras.callbacks.Callback):
    """Calls ``on_epoch_end(logs)`` after each epoch; a True result stops."""

    def __init__(self, on_epoch_end):
        super().__init__()
        self._on_epoch_end = on_epoch_end

    def on_epoch_end(self, epoch, logs=None):
        if self._on_epoch_end(dict(logs or {})):
            self.model.stop_training = True


def train(model, batches, *, epochs, verbose, validation_data=None, on_epoch_end=None):
    """Run up to ``epochs`` epochs over ``batches``; return the Keras history.

    ``validation_data`` is ``(X, y)`` scored after each epoch (``val_loss``,
    ``val_accuracy``); ``on_epoch_end(logs)`` may stop training by returning
    True.
    """
    callbacks = [] if on_epoch_end is None else [_EpochEnd(on_epoch_end)]
    history = model.fit(
        batches,
        epochs=epochs,
        shuffle=False,  # ``batches`` is shuffled already
        validation_data=validation_data,
        callbacks=callbacks,
        verbose=verbose,
    )
    return {
        name: [float(v) for v in values] for name, values in history.history.items()
    }


def get_training_state(model):
    """What training needs besides the weights: optimizer and dropout state."""
    state = {}
    if model.optimizer is not None and model.optimizer.built:
        for i, variable in enumerate(model.optimizer.variables):
            state[f"optimizer_{i}"] = np.asarray(variable.numpy())
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dropout):
            state[f"seed_{layer.name}"] = np.asarray(layer.seed_generator.state.numpy())
    return state


def set_training_state(model, state):
    """Restore what :func:`get_training_state` returned into ``model``."""
    if any(name.startswith("optimizer_") for name in state):
        model.optimizer.build(model.trainable_variables)
        for i, variable in enumerate(model.optimizer.variables):
            variable.assign(state[f"optimizer_{i}"])
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dropout) and f"seed_{layer.name}" in state:
            layer.seed_generator.state.assign(state[f"seed_{layer.name}"])


def get_weights(model):
    """The dense layers' weights as float64 ``(coefs, intercepts)`` lists."""
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    coefs = [np.asarray(layer.kernel.numpy(), dtype=np.float64) for layer in dense]
    intercepts = [np.asarray(layer.bias.numpy(), dtype=np.float64) for layer in dense]
    return coefs, intercepts


def set_weights(model, coefs, intercepts):
    """Load float weights (as from :func:`get_weights`) into ``model``."""
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    for layer, coef, intercept in zip(dense, coefs, intercepts, strict=True):
        layer.kernel.assign(coef.astype(np.float32))
        layer.bias.assign(intercept.astype(np.float32))


def summary_text(model):
    """``model.summary()`` captured as plain text."""
    lines = []
    model.summary(print_fn=lambda line, **_: lines.append(line))
    return "\n".join(lines)
