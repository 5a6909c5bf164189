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

from .._utils.memory import TENSOR_ALIGNMENT
from .._utils.random import draw_seed


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
    "softmax": "softmax",
}


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


KERAS_OPTIMIZERS = {
    "adam": FusedAdam,
    "adamw": keras.optimizers.AdamW,
    "rmsprop": keras.optimizers.RMSprop,
    "sgd": keras.optimizers.SGD,
}


def build_model(architecture, n_features, rng, name):
    """The Keras model of a network described as data (see ``_architecture``).

    Every random layer gets its own integer seed drawn from ``rng``, in layer
    order, so that the initial weights, the dropout masks and the
    augmentation depend on ``random_state`` only, and never on TensorFlow's
    global seed. Weighted layers are named ``hidden_<i>`` and ``output``
    (dense) or ``conv_<i>``, as ``summary()`` shows them.
    """
    layers = [keras.Input(shape=(n_features,), name="pixels")]
    counts = {}
    for position, layer in enumerate(architecture):
        kind = layer["kind"]
        counts[kind] = counts.get(kind, 0) + 1
        last = position == len(architecture) - 1
        layers.extend(_keras_layers(layer, counts[kind], last, n_features, rng))
    return keras.Sequential(layers, name=name)


def _keras_layers(layer, number, last, n_features, rng):
    """The Keras layers of one layer description (one, or a few for ``image``)."""
    kind = layer["kind"]
    if kind == "dense":
        return [
            keras.layers.Dense(
                layer["units"],
                activation=KERAS_ACTIVATIONS[layer["activation"]],
                kernel_initializer=_glorot(rng),
                name="output" if last else f"hidden_{number}",
            )
        ]
    if kind == "conv2d":
        return [
            keras.layers.Conv2D(
                layer["filters"],
                tuple(layer["kernel_size"]),
                activation=KERAS_ACTIVATIONS[layer["activation"]],
                kernel_initializer=_glorot(rng),
                name=f"conv_{number}",
            )
        ]
    if kind == "max_pool2d":
        return [
            keras.layers.MaxPooling2D(tuple(layer["pool_size"]), name=f"pool_{number}")
        ]
    if kind == "flatten":
        return [keras.layers.Flatten(name="flatten")]
    if kind == "dropout":
        return [
            keras.layers.Dropout(
                layer["rate"], seed=draw_seed(rng), name=f"dropout_{number}"
            )
        ]
    if kind == "random_shift":
        return [
            RandomShift(layer["max_shift"], seed=draw_seed(rng), name="random_shift")
        ]
    return _image_layers(layer, n_features)  # "image"


def _glorot(rng):
    return keras.initializers.GlorotUniform(seed=draw_seed(rng))


def _image_layers(layer, n_features):
    """Rows to zero-padded square images, with Keras's stock layers only."""
    side, padding = layer["side"], layer["padding"]
    layers = []
    if side * side != n_features:
        layers += [
            keras.layers.Reshape((n_features, 1)),
            keras.layers.ZeroPadding1D((0, side * side - n_features)),
        ]
    layers.append(keras.layers.Reshape((side, side, 1), name="image"))
    if padding:
        layers.append(keras.layers.ZeroPadding2D(padding, name="image_padding"))
    return layers


@keras.saving.register_keras_serializable(package="skmnist")
class RandomShift(keras.layers.Layer):
    """Each training image moved by a random whole number of pixels.

    Up to ``max_shift`` pixels up or down and left or right, drawn per image,
    the uncovered border filled with zeros: a shifted digit stays a digit on
    black. Two batched gathers from the zero-padded images, a fraction of
    the cost of Keras's ``RandomTranslation`` (an image transform per image),
    which made a ConvNet epoch about 40% slower. The identity at inference.
    """

    def __init__(self, max_shift, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.max_shift = int(max_shift)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=False):
        if not training or self.max_shift == 0:
            return images
        k = self.max_shift
        height, width = images.shape[1], images.shape[2]
        shifts = keras.random.randint(
            (tf.shape(images)[0], 2), -k, k + 1, seed=self.seed_generator
        )
        shifts = tf.cast(shifts, tf.int32) + k
        padded = tf.pad(images, [[0, 0], [k, k], [k, k], [0, 0]])
        rows = shifts[:, :1] + tf.range(height)[None]
        columns = shifts[:, 1:] + tf.range(width)[None]
        shifted = tf.gather(padded, rows, axis=1, batch_dims=1)
        return tf.gather(shifted, columns, axis=2, batch_dims=1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "max_shift": self.max_shift, "seed": self.seed}


# Training steps run per call into TensorFlow. Keras's ``fit`` with one step
# per call spends about a third of the tutorial network's fit time in Python
# and dispatch overhead on two cores; 32 steps per call leave that negligible
# and still move a progress bar smoothly (``benchmarks/bench_fit.py``).
STEPS_PER_CALL = 32


# Keras's own classes, for models handed to users (``to_keras``): they save
# and load with Keras's tools without skmnist.
STOCK_OPTIMIZERS = {**KERAS_OPTIMIZERS, "adam": keras.optimizers.Adam}


def compile_model(model, optimizer, learning_rate, optimizers=KERAS_OPTIMIZERS):
    """Attach the optimizer, and Keras's loss and accuracy for ``evaluate``."""
    model.compile(
        optimizer=optimizers[optimizer](learning_rate=learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    # Traced training functions hold the old optimizer: trace anew.
    model.__dict__.pop("_skmnist_functions", None)
    return model


def has_optimizer(model, optimizer):
    """Whether ``model`` trains with the optimizer named ``optimizer``."""
    return type(model.optimizer) is KERAS_OPTIMIZERS[optimizer]


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


def _seed_generators(model):
    """The random layers' seed generators (dropout masks, augmentation), by name."""
    generators = {}
    for layer in model.layers:
        generator = getattr(layer, "seed_generator", None) or getattr(
            layer, "generator", None
        )
        if isinstance(generator, keras.random.SeedGenerator):
            generators[layer.name] = generator
    return generators


def get_training_state(model):
    """What training needs besides the weights: optimizer and random layers' state."""
    state = {}
    if model.optimizer is not None and model.optimizer.built:
        state["optimizer"] = np.array(_OPTIMIZER_NAMES[type(model.optimizer)])
        for i, variable in enumerate(model.optimizer.variables):
            state[f"optimizer_{i}"] = np.asarray(variable.numpy())
    for name, generator in _seed_generators(model).items():
        state[f"seed_{name}"] = np.asarray(generator.state.numpy())
    return state


_OPTIMIZER_NAMES = {cls: name for name, cls in KERAS_OPTIMIZERS.items()}


def optimizer_of(state):
    """The name of the optimizer a training state belongs to, or None.

    None for a state without optimizer variables, or one saved by skmnist
    0.2 and earlier, which trained with the optimizer its parameters name.
    """
    name = state.get("optimizer")
    name = str(name) if isinstance(name, np.ndarray) and name.ndim == 0 else None
    if name is not None and name not in KERAS_OPTIMIZERS:
        raise ValueError(f"the training state names an unknown optimizer {name!r}")
    return name


def set_training_state(model, state):
    """Restore what :func:`get_training_state` returned into ``model``.

    Raises ``ValueError`` when the state does not fit the model (an edited
    or foreign file): nothing half-restored is then used, since the caller
    drops the model.
    """
    optimizer_state = sorted(
        (int(name.removeprefix("optimizer_")), value)
        for name, value in state.items()
        if name.startswith("optimizer_") and name.removeprefix("optimizer_").isdigit()
    )
    if optimizer_state:
        model.optimizer.build(model.trainable_variables)
        variables = model.optimizer.variables
        if [i for i, _ in optimizer_state] != list(range(len(variables))):
            raise ValueError(
                f"the training state has {len(optimizer_state)} optimizer "
                f"variables, the optimizer {len(variables)}"
            )
        for variable, (_, value) in zip(variables, optimizer_state, strict=True):
            _assign(variable, value, "optimizer state")
    for name, generator in _seed_generators(model).items():
        if f"seed_{name}" in state:
            _assign(generator.state, state[f"seed_{name}"], f"seed of {name}")


def _assign(variable, value, what):
    value = np.asarray(value)
    if value.shape != tuple(variable.shape) or value.dtype.kind not in "biuf":
        raise ValueError(
            f"{what}: an array of shape {value.shape} and dtype {value.dtype} "
            f"for a variable of shape {tuple(variable.shape)}"
        )
    variable.assign(value.astype(variable.dtype))


def _weighted_layers(model):
    return [layer for layer in model.layers if hasattr(layer, "kernel")]


def get_weights(model):
    """The kernels and biases of the weighted layers, as float64 lists."""
    layers = _weighted_layers(model)
    coefs = [np.asarray(layer.kernel.numpy(), dtype=np.float64) for layer in layers]
    intercepts = [np.asarray(layer.bias.numpy(), dtype=np.float64) for layer in layers]
    return coefs, intercepts


def set_weights(model, coefs, intercepts):
    """Load float weights (as from :func:`get_weights`) into ``model``."""
    layers = _weighted_layers(model)
    for layer, coef, intercept in zip(layers, coefs, intercepts, strict=True):
        layer.kernel.assign(np.asarray(coef, dtype=np.float32))
        layer.bias.assign(np.asarray(intercept, dtype=np.float32))


def summary_text(model):
    """``model.summary()`` captured as plain text."""
    lines = []
    model.summary(print_fn=lambda line, **_: lines.append(line))
    return "\n".join(lines)
