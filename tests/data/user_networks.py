"""A user's own networks, written with skmnist's documented names only.

This file stands for code outside skmnist: a layer kind of its own (the
Swish activation, ``x * sigmoid(beta * x)``), a network that uses it, and a
classifier class of its own with parameters of its own. The tests import it
(from ``tests/data``) and expect every part of skmnist's contract to hold.
"""

import numpy as np

import skmnist
from skmnist.layers import Conv2D, Dense, Flatten, Layer, MaxPool2D, register_layer


@register_layer
class Swish(Layer):
    """``x * sigmoid(beta * x)``, element by element.

    Parameters
    ----------
    beta : float, default=1.0
        The slope of the sigmoid.
    """

    kind = "user_networks.swish"

    def __init__(self, beta=1.0):
        self.beta = float(beta)

    def forward(self, Z, weights):
        return Z / (1 + np.exp(-self.beta * Z))

    def keras_layer(self, build):
        keras, beta = build.keras, self.beta
        return keras.layers.Lambda(
            lambda x: x * keras.ops.sigmoid(beta * x), name=build.name("swish")
        )

    def to_onnx(self, graph, X, shape, weights):
        beta = graph.weight("beta", np.array(self.beta))
        gate = graph.node("Sigmoid", [graph.node("Mul", [X, beta])])
        return graph.node("Mul", [X, gate])


def swish_layers(filters=8, units=16):
    """A small ConvNet with Swish activations."""
    return [
        Conv2D(filters, 3),
        Swish(),
        MaxPool2D(2),
        Flatten(),
        Dense(units),
        Swish(beta=1.5),
    ]


skmnist.register_network(
    "user_swish",
    lambda **params: skmnist.NetworkClassifier(**{"layers": swish_layers(), **params}),
    "a user's ConvNet with a layer kind of its own (tests/data/user_networks.py)",
)


@skmnist.register_estimator
class WideMLPClassifier(skmnist.NetworkClassifier):
    """An MLP of one wide hidden layer, with parameters of its own.

    Parameters
    ----------
    width : int, default=256
        Units of the hidden layer.
    """

    def __init__(
        self,
        width=256,
        optimizer="adam",
        learning_rate=0.001,
        batch_size=128,
        epochs=5,
        shuffle=True,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        class_weight=None,
        warm_start=False,
        random_state=None,
        verbose=0,
    ):
        self.width = width
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.shuffle = shuffle
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose

    _parameter_constraints = {
        name: constraint
        for name, constraint in skmnist.NetworkClassifier._parameter_constraints.items()
        if name not in ("layers", "learning_rate_schedule")
    } | {"width": [int]}

    def _layers(self):
        return [Dense(self.width, activation="relu")]
