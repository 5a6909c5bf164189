"""Residual blocks: a few layers whose output is added to their input."""

import math

import numpy as np

from . import _sequence
from ._base import ANY, Cost, Layer, layer_from_config
from ._base import register_layer as _register


@_register
class Residual(Layer):
    """A block of layers whose output is added to its input: ``x + f(x)``.

    The block's layers must give an output of the shape of its input (a
    network whose block changes the shape is refused at ``fit``, naming the
    block). Batch normalisation and convolutions with ``padding="same"``
    are what such blocks are usually made of.

    Parameters
    ----------
    layers : list of Layer
        The block's layers, in order.

    Examples
    --------
    >>> from skmnist.layers import Activation, BatchNorm, Conv2D, Residual
    >>> block = Residual([
    ...     Conv2D(16, 3, padding="same"), BatchNorm(), Activation("relu"),
    ...     Conv2D(16, 3, padding="same"), BatchNorm(),
    ... ])
    >>> block.output_shape((14, 14, 16))
    (14, 14, 16)
    >>> Residual([Conv2D(8, 3)]).output_shape((14, 14, 16))
    Traceback (most recent call last):
    ...
    ValueError: its layers turn inputs of shape (14, 14, 16) into (12, 12, 8); a \
residual block adds its layers' output to its input, so they must keep its shape
    """

    kind = "residual"
    rows_independent = True  # its addition; its layers answer for themselves
    takes = ANY

    def __init__(self, layers):
        if isinstance(layers, Layer) or not isinstance(layers, list | tuple):
            raise ValueError(f"layers must be a list of layers, got {layers!r}")
        if not layers:
            raise ValueError("a residual block needs at least one layer")
        self.layers = [
            layer if isinstance(layer, Layer) else layer_from_config(layer)
            for layer in layers
        ]

    def output_shape(self, shape):
        steps = _sequence.trace(self.layers, shape)
        if steps[-1][2] != shape:
            raise ValueError(
                f"its layers turn inputs of shape {shape} into {steps[-1][2]}; a "
                "residual block adds its layers' output to its input, so they must "
                "keep its shape"
            )
        return shape

    def min_input_side(self, side):
        return max(side, _sequence.min_input_side(self.layers, side))

    def weighted_layers(self, shape):
        return _sequence.weighted_layers(_sequence.trace(self.layers, shape))

    def inference_weights_of_all(self, raw, dtype, shape):
        return _sequence.inference_weights(self.layers, shape, raw, dtype)

    def sublayers(self):
        return [self, *(sub for layer in self.layers for sub in layer.sublayers())]

    def cost(self, shape):
        inner = _sequence.cost(_sequence.trace(self.layers, shape))
        size = math.prod(shape)
        # The block's input stays in memory until it is added.
        return Cost(inner.multiply_adds + size, inner.values + size)

    def forward(self, Z, weights):
        Y = _sequence.forward(self.layers, Z, weights)
        if np.may_share_memory(Y, Z):  # layers that pass their input through
            return Y + Z
        Y += Z
        return Y

    def build_keras(self, x, build):
        y = _sequence.build_keras(self.layers, x, build)
        return build.keras.layers.Add(name=build.name("residual"))([x, y])

    def to_onnx(self, graph, X, shape, weights):
        Y = _sequence.to_onnx(_sequence.trace(self.layers, shape), graph, X, weights)
        return graph.node("Add", [X, Y])
