"""skmnist's networks built directly in Keras, as skmnist builds them.

Every random layer gets its own integer seed drawn from a NumPy
``RandomState``, so weights, dropout masks and shifts depend on the seed
alone, never on a backend's global seed.
"""

import keras
import numpy as np

from ._layers import RandomShift

_SEED_HIGH = 2**31 - 1


def _seed(rng):
    return int(rng.randint(_SEED_HIGH))


class DrawnGlorotUniform(keras.initializers.Initializer):
    """Glorot's uniform initialization drawn by NumPy from ``seed``.

    The same initial weights on every backend (Keras's ``GlorotUniform``
    draws with each backend's own generator), and no compiled random
    program: on JAX, Keras's initializers cost a few seconds of XLA
    compilation in each new process, about three quarters of building the
    tutorial network.
    """

    def __init__(self, seed):
        self.seed = int(seed)

    def __call__(self, shape, dtype=None):
        fan_in = int(np.prod(shape[:-1]))
        fan_out = int(shape[-1]) * (int(np.prod(shape[:-2])) if len(shape) > 2 else 1)
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        rng = np.random.RandomState(self.seed)
        return rng.uniform(-limit, limit, shape).astype(dtype or "float32")

    def get_config(self):
        return {"seed": self.seed}


def _glorot(rng):
    return DrawnGlorotUniform(_seed(rng))


def tutorial_mlp(rng, n_features=784, n_classes=10, batch_norm=False):
    """Dense(512, relu) -> Dropout(0.2) -> Dense(512, relu) -> Dropout(0.2) -> Dense.

    ``batch_norm`` adds a BatchNormalization after each hidden layer (the
    prototype's test of non-trainable variables updated by training).
    """
    layers = [keras.Input(shape=(n_features,), name="pixels")]
    for i in (1, 2):
        layers.append(
            keras.layers.Dense(
                512,
                activation="relu",
                kernel_initializer=_glorot(rng),
                name=f"hidden_{i}",
            )
        )
        if batch_norm:
            layers.append(keras.layers.BatchNormalization(name=f"batch_norm_{i}"))
        layers.append(keras.layers.Dropout(0.2, seed=_seed(rng), name=f"dropout_{i}"))
    layers.append(
        keras.layers.Dense(
            n_classes,
            activation="softmax",
            kernel_initializer=_glorot(rng),
            name="output",
        )
    )
    return keras.Sequential(layers, name="mnist_mlp")


def default_convnet(rng, n_features=784, n_classes=10, max_shift=2, shift_method=None):
    """skmnist's default ConvNet: shift -> Conv(24) -> pool -> Conv(48) -> pool ->
    Flatten -> Dropout(0.5) -> Dense(128) -> Dropout(0.5) -> Dense(softmax)."""
    side = int(np.sqrt(n_features))
    layers = [
        keras.Input(shape=(n_features,), name="pixels"),
        keras.layers.Reshape((side, side, 1), name="image"),
    ]
    if max_shift:
        layers.append(
            RandomShift(
                max_shift,
                seed=_seed(rng),
                method=shift_method or best_shift_method(),
                name="random_shift",
            )
        )
    for i, filters in enumerate((24, 48), start=1):
        layers.append(
            keras.layers.Conv2D(
                filters,
                (3, 3),
                activation="relu",
                kernel_initializer=_glorot(rng),
                name=f"conv_{i}",
            )
        )
        layers.append(keras.layers.MaxPooling2D((2, 2), name=f"pool_{i}"))
    layers.append(keras.layers.Flatten(name="flatten"))
    layers.append(keras.layers.Dropout(0.5, seed=_seed(rng), name="dropout_1"))
    layers.append(
        keras.layers.Dense(
            128, activation="relu", kernel_initializer=_glorot(rng), name="hidden_1"
        )
    )
    layers.append(keras.layers.Dropout(0.5, seed=_seed(rng), name="dropout_2"))
    layers.append(
        keras.layers.Dense(
            n_classes,
            activation="softmax",
            kernel_initializer=_glorot(rng),
            name="output",
        )
    )
    return keras.Sequential(layers, name="mnist_cnn")


def best_shift_method():
    """RandomShift's fastest formulation on the configured backend (bench_shift.py)."""
    return {"tensorflow": "gather", "jax": "gather", "torch": "select"}.get(
        keras.backend.backend(), "gather"
    )


NETWORKS = {"mlp": tutorial_mlp, "cnn": default_convnet}
