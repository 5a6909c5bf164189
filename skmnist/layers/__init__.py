"""Layer kinds: the building blocks of :class:`~skmnist.NetworkClassifier`.

Each kind is one class holding everything about it (its parameters, output
shape, weights, cost, NumPy forward pass, Keras layer and ONNX nodes); a
network is a list of their instances. Add a kind of your own by subclassing
:class:`Layer` and registering it with :func:`register_layer`.

Examples
--------
LeNet-5 (the output layer for the classes is added by the classifier):

>>> from skmnist.layers import AvgPool2D, Conv2D, Dense, Flatten
>>> lenet5 = [
...     Conv2D(6, 5, padding="same", activation="tanh"), AvgPool2D(2),
...     Conv2D(16, 5, activation="tanh"), AvgPool2D(2),
...     Flatten(), Dense(120, activation="tanh"), Dense(84, activation="tanh"),
... ]
>>> lenet5[2]
Conv2D(filters=16, kernel_size=(5, 5), activation='tanh')
"""

from ._activations import ACTIVATIONS, HIDDEN_ACTIVATIONS
from ._augmentation import RandomShift
from ._base import Cost, Layer, layer_from_config, register_layer, registered_kinds
from ._convolution import Conv2D
from ._core import Activation, Dense, Dropout, Flatten
from ._image import Image, image_side
from ._normalization import BatchNorm
from ._pooling import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from ._residual import Residual

__all__ = [
    "ACTIVATIONS",
    "HIDDEN_ACTIVATIONS",
    "Activation",
    "AvgPool2D",
    "BatchNorm",
    "Conv2D",
    "Cost",
    "Dense",
    "Dropout",
    "Flatten",
    "GlobalAvgPool2D",
    "Image",
    "Layer",
    "MaxPool2D",
    "RandomShift",
    "Residual",
    "image_side",
    "layer_from_config",
    "register_layer",
    "registered_kinds",
]
