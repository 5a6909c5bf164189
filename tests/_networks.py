"""Small versions of every registered network, for tests that fit many times.

Contract tests run over skmnist's registry of named networks; each needs a
small configuration here (a network registered without one fails
``test_every_registered_network_has_a_small_version``), and the parameters
of another architecture, for the tests that change the network between
calls.
"""

import sys
from pathlib import Path

from skmnist import NetworkClassifier
from skmnist._registry import make_network
from skmnist.layers import AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D
from skmnist.networks import residual_network

# A user's own networks, registered from a file outside the package: they are
# checked like skmnist's (tests/test_user_network.py checks the rest).
sys.path.insert(0, str(Path(__file__).parent / "data"))
import user_networks

# name -> (parameters of a small version, parameters of another network)
SMALL = {
    "mlp": ({"hidden_layer_sizes": (16,)}, {"hidden_layer_sizes": (5,)}),
    "cnn": ({"filters": (4,), "dense_units": (8,)}, {"filters": (2,)}),
    # LeNet-5 on 8 x 8 digits (framed to 12 x 12) is small as it is.
    "lenet5": ({}, {"layers": [Conv2D(2, 3), Flatten(), Dense(4)]}),
    "resnet": (
        {"layers": residual_network(widths=(4,))},
        {"layers": residual_network(widths=(2,))},
    ),
    "user_swish": (
        {"layers": user_networks.swish_layers(filters=4, units=8)},
        {"layers": [Dense(3)]},
    ),
}


def small_network(name, **params):
    """A small ``name`` network, 3 epochs, ``random_state=0``, and ``params``."""
    small, _ = SMALL[name]
    return make_network(name, **{"epochs": 3, "random_state": 0, **small, **params})


def other_network_params(name):
    """Parameters that make the small ``name`` network another architecture."""
    return SMALL[name][1]


def uneven_padding_network():
    """Convolutions and pooling none of the registered networks have.

    "same" padding with an extra zero after (an even kernel, a stride of 2),
    and overlapping pooling windows: for the tests of the backends' own calls
    of these layers.
    """
    layers = [
        Conv2D(3, 2, padding="same", activation="relu"),
        Conv2D(3, 3, strides=2, padding="same"),
        MaxPool2D(3, strides=1),
        AvgPool2D(2),
        Flatten(),
        Dense(4),
    ]
    return NetworkClassifier(layers=layers, epochs=1, random_state=0)


def single_layer_cases():
    """``(images, [(kind, Keras layer), ...])``: layers built, random weights.

    Shapes the networks have not: "valid" strided convolutions, kernels and
    strides that differ down and across, no bias, tiling windows that leave
    edge pixels out. For the tests of the backends' own calls of these
    layers (in a process on that backend: this imports Keras).
    """
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    images = rng.normal(size=(2, 7, 9, 3)).astype(np.float32)
    cases = [
        (Conv2D(4, 3, strides=2), keras.layers.Conv2D(4, 3, strides=2)),
        (
            Conv2D(4, (3, 2), strides=(2, 3), padding="same", activation="tanh"),
            keras.layers.Conv2D(
                4, (3, 2), strides=(2, 3), padding="same", activation="tanh"
            ),
        ),
        (Conv2D(2, 2), keras.layers.Conv2D(2, 2, use_bias=False)),
        (MaxPool2D(3), keras.layers.MaxPooling2D(3)),
        (MaxPool2D(2, strides=3), keras.layers.MaxPooling2D(2, strides=3)),
        (AvgPool2D(2), keras.layers.AveragePooling2D(2)),
    ]
    for _, layer in cases:
        layer.build(images.shape)
        for variable in layer.weights:
            variable.assign(rng.normal(size=variable.shape).astype(np.float32))
    return images, cases
