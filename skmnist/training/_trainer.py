"""The one seam between the estimators and Keras: a network being trained.

A :class:`Trainer` is the Keras model of one estimator's architecture. The
estimator asks it to train epochs, and reads and writes through it the
weights (``coefs_``/``intercepts_``) and the training state (optimizer
variables, the random layers' generators); nothing else in the estimators
touches Keras. Each layer kind builds its own Keras layer
(:meth:`skmnist.layers.Layer.build_keras`), so the trainer never asks which
kind a layer is.
"""

import contextlib
import json
import warnings

import numpy as np

from .._utils.random import draw_seed
from ..layers import layer_from_config, registered_kinds
from ..layers._sequence import cost as network_cost
from ..layers._sequence import rows_independent, trace
from . import _loop
from ._keras import (
    KERAS_OPTIMIZERS,
    NetworkFacts,
    keep_network_facts,
    keras,
    keras_classes,
    step_module,
)

_OPTIMIZER_NAMES = {cls: name for name, cls in KERAS_OPTIMIZERS.items()}


class KerasBuild:
    """What a layer kind needs to build its Keras layer: Keras, names, seeds.

    ``seed()`` draws the next integer seed from the estimator's generator (in
    layer order, so that initial weights, dropout masks and augmentation
    depend on ``random_state`` only); ``kernel_initializer()`` is the Glorot
    uniform initializer seeded with the next seed (the backend's own draw
    while training, Keras's class with ``stock=True``); ``name(prefix)``
    gives ``prefix_1``, ``prefix_2``... (``prefix`` alone first with
    ``numbered=False``); ``is_output`` is True while the network's last layer
    is built.
    """

    def __init__(self, rng, stock=False):
        self.keras = keras
        self.is_output = False
        self._rng = rng
        _, self._initializer = keras_classes(stock)
        self._counts = {}
        self.weighted = []
        self.kinds = []

    def seed(self):
        return draw_seed(self._rng)

    def kernel_initializer(self):
        return self._initializer(seed=self.seed())

    def name(self, prefix, numbered=True):
        count = self._counts[prefix] = self._counts.get(prefix, 0) + 1
        return prefix if count == 1 and not numbered else f"{prefix}_{count}"

    def register(self, layer, keras_layer):
        """Record a weighted layer and its Keras layer, in weight order."""
        self.weighted.append((layer, keras_layer))

    def record(self, layer, keras_layer):
        """Record that ``layer`` (a kind) built ``keras_layer``."""
        self.kinds.append((keras_layer, layer))


def _register_keras_objects():
    for kind in registered_kinds().values():
        kind.keras_objects()  # defining them registers them with Keras


def build_model(architecture, n_features, rng, name, stock=False):
    """The Keras model of ``architecture`` and its weighted layers, in order.

    The model also keeps what a backend's step may ask
    (:class:`~._keras.NetworkFacts`). With ``stock``, it is made of Keras's
    own classes only (for a model handed to users, see :class:`KerasBuild`).
    """
    _register_keras_objects()
    layers = [layer_from_config(config) for config in architecture]
    build = KerasBuild(rng, stock)
    inputs = keras.Input(shape=(n_features,), name="pixels")
    x = inputs
    for position, layer in enumerate(layers):
        build.is_output = position == len(layers) - 1
        x = layer.build_keras(x, build)
    model = keras.Model(inputs, x, name=name)
    # The classes too: a kind or Keras layer defined anew (a notebook's cell
    # run again) may compute something else from the same configuration.
    classes = [type(layer) for layer in layers]
    classes += [type(kind) for _, kind in build.kinds]
    classes += [type(keras_layer) for keras_layer in model.layers]
    settings = (
        keras.config.dtype_policy().name,
        keras.config.epsilon(),
        keras.config.image_data_format(),
    )
    facts = NetworkFacts(
        kinds=tuple(build.kinds),
        values_per_row=network_cost(trace(layers, (n_features,))).values,
        rows_independent=rows_independent(layers),
        structure=(
            json.dumps([architecture, n_features], sort_keys=True, default=repr),
            tuple(dict.fromkeys(classes)),
            settings,
        ),
    )
    keep_network_facts(model, facts)
    return model, build.weighted


class Trainer:
    """The Keras model of a network, compiled, with its weights and state.

    Parameters
    ----------
    architecture : list of dict
        The layer configurations (``architecture_``).
    n_features : int
        The width of the input rows.
    rng : numpy.random.RandomState
        Seeds the random layers and the initial weights, in layer order.
    name : str
        The model's name, as ``summary()`` shows it.
    optimizer, learning_rate :
        The estimator's.
    stock : bool
        Build and compile with Keras's own classes (Keras's Adam and
        initializer, not the backend's faster ones), for a model handed to
        users: it saves and loads with Keras's tools without skmnist.
    """

    def __init__(
        self,
        architecture,
        n_features,
        rng,
        name,
        optimizer,
        learning_rate,
        stock=False,
    ):
        self.model, self._weighted = build_model(
            architecture, n_features, rng, name, stock
        )
        self.compile(optimizer, learning_rate, keras_classes(stock)[0])

    def compile(self, optimizer, learning_rate, optimizers=KERAS_OPTIMIZERS):
        """Attach a new optimizer (and Keras's loss and accuracy, for ``evaluate``)."""
        self.model.compile(
            optimizer=optimizers[optimizer](learning_rate=float(learning_rate)),
            loss=keras.losses.SparseCategoricalCrossentropy(),
            metrics=["accuracy"],
        )

    def uses(self, optimizer):
        """Whether the model trains with the optimizer named ``optimizer``."""
        return type(self.model.optimizer) is KERAS_OPTIMIZERS[optimizer]

    # -- training --------------------------------------------------------------

    def train(
        self,
        X,
        y,
        sample_weight,
        rows,
        *,
        batch_size,
        shuffle,
        seed,
        epochs,
        verbose,
        learning_rate,
        validation_data=None,
        on_epoch_end=None,
    ):
        """Train up to ``epochs`` epochs; return the per-epoch history.

        ``rows`` lists the rows of ``X`` to train on (a row repeated for an
        integer weight), ``sample_weight`` (per row of ``X``, or None) scales
        each row's loss. ``learning_rate(progress)`` gives the rate at
        ``progress`` (0 to 1) through the call; ``on_epoch_end(logs)`` may stop
        training by returning True. See :func:`skmnist.training._loop.train`.
        """
        batches = _loop.Batches(X, y, sample_weight, rows, batch_size, shuffle, seed)
        return _loop.train(
            self.model,
            batches,
            epochs=epochs,
            verbose=verbose,
            learning_rate=learning_rate,
            validation_data=validation_data,
            on_epoch_end=on_epoch_end,
        )

    # -- weights and state -----------------------------------------------------

    def weights(self):
        """The weighted layers' ``(coefs, intercepts)``, as float64 lists."""
        with _keras_numpy_conversion():
            pairs = [
                layer.keras_weights(keras_layer)
                for layer, keras_layer in self._weighted
            ]
        return [coef for coef, _ in pairs], [intercept for _, intercept in pairs]

    def set_weights(self, coefs, intercepts):
        """Load weights (as from :meth:`weights`) into the model."""
        for (layer, keras_layer), coef, intercept in zip(
            self._weighted, coefs, intercepts, strict=True
        ):
            layer.set_keras_weights(keras_layer, coef, intercept)

    def state(self):
        """What training needs besides the weights: optimizer and random layers.

        Plain NumPy arrays, the same on every backend (Keras's variables are:
        ``iterations``, ``learning_rate`` and the optimizer's slots in
        variable order; a seed generator's two counters), so a state saved
        on one backend restores on another.
        """
        to_numpy = step_module().to_numpy
        state = {}
        optimizer = self.model.optimizer
        if optimizer is not None and optimizer.built:
            state["optimizer"] = np.array(_OPTIMIZER_NAMES[type(optimizer)])
            for i, variable in enumerate(optimizer.variables):
                state[f"optimizer_{i}"] = to_numpy(variable)
        for name, generator in self._seed_generators().items():
            state[f"seed_{name}"] = to_numpy(generator.state)
        return state

    def set_state(self, state):
        """Restore what :meth:`state` returned.

        Raises ``ValueError`` when the state does not fit the model (an edited
        or foreign file): nothing half-restored is then used, since the caller
        drops the trainer.
        """
        optimizer_state = sorted(
            (int(name.removeprefix("optimizer_")), value)
            for name, value in state.items()
            if name.startswith("optimizer_")
            and name.removeprefix("optimizer_").isdigit()
        )
        if optimizer_state:
            self.model.optimizer.build(self.model.trainable_variables)
            variables = self.model.optimizer.variables
            if [i for i, _ in optimizer_state] != list(range(len(variables))):
                raise ValueError(
                    f"the training state has {len(optimizer_state)} optimizer "
                    f"variables, the optimizer {len(variables)}"
                )
            for variable, (_, value) in zip(variables, optimizer_state, strict=True):
                _assign(variable, value, "optimizer state")
        for name, generator in self._seed_generators().items():
            if f"seed_{name}" in state:
                _assign(generator.state, state[f"seed_{name}"], f"seed of {name}")

    def _seed_generators(self):
        """The random layers' seed generators (dropout, augmentation), by name."""
        generators = {}
        for layer in self.model.layers:
            generator = getattr(layer, "seed_generator", None) or getattr(
                layer, "generator", None
            )
            if isinstance(generator, keras.random.SeedGenerator):
                generators[layer.name] = generator
        return generators

    def summary(self):
        """``model.summary()`` captured as plain text."""
        lines = []
        self.model.summary(print_fn=lambda line, **_: lines.append(line))
        return "\n".join(lines)


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


@contextlib.contextmanager
def _keras_numpy_conversion():
    """Silence NumPy 2's note on Keras's ``Variable.numpy()`` (JAX, PyTorch).

    Keras's variables define ``__array__`` without NumPy 2's ``copy``
    argument, so ``np.array(variable)`` (what ``Variable.numpy()`` does)
    warns on the JAX and PyTorch backends; the values are right. The layers
    read their weights that way, on every backend.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message="__array__ implementation doesn't accept a copy keyword",
            category=DeprecationWarning,
        )
        yield


def _assign(variable, value, what):
    value = np.asarray(value)
    if value.shape != tuple(variable.shape) or value.dtype.kind not in "biuf":
        raise ValueError(
            f"{what}: an array of shape {value.shape} and dtype {value.dtype} "
            f"for a variable of shape {tuple(variable.shape)}"
        )
    variable.assign(value.astype(variable.dtype))
