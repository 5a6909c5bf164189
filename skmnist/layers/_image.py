"""Rows of pixels read as square single-channel images.

Every scikit-learn estimator takes ``(n_samples, n_features)``, so a network
with convolutions does too: its first layer, added by the network itself,
reads a row as a ``side x side`` image (784 values are 28 x 28), zero-padded
at the end to a square, and frames it with zeros when it is smaller than the
layers after it need.
"""

import math

import numpy as np

from ._base import ROWS, Cost, Layer, non_negative_int, positive_int
from ._base import register_layer as _register


def image_side(n_features, min_side):
    """``(side, padding)`` of the image layer for rows of ``n_features``.

    A width that is a square number is that square image (784 is 28 x 28);
    any other width is padded with zeros to the next square. Images smaller
    than ``min_side`` (what the layers after them need) are framed with zeros.

    Parameters
    ----------
    n_features : int
        The width of the rows.

    min_side : int
        The smallest image side the layers after it take.

    Returns
    -------
    side, padding : int
        The image's side and the zeros framing it on each side.

    Examples
    --------
    >>> from skmnist.layers import image_side
    >>> image_side(784, min_side=10), image_side(64, min_side=12)
    ((28, 0), (8, 2))
    """
    side = math.isqrt(n_features - 1) + 1 if n_features > 0 else 1
    padding = max(0, -(-(min_side - side) // 2))
    return side, padding


@_register
class Image(Layer):
    """Rows of ``side * side`` values (or fewer, padded with zeros) as images.

    The networks put it first when their first layer takes images; it is
    rarely written by hand.

    Parameters
    ----------
    side : int
        The image's height and width.

    padding : int >= 0, default=0
        Zero pixels added on every side.

    Examples
    --------
    >>> from skmnist.layers import Image
    >>> Image(28).output_shape((784,))
    (28, 28, 1)
    >>> Image(8, padding=1).output_shape((64,))
    (10, 10, 1)
    """

    kind = "image"
    rows_independent = True
    takes = ROWS

    def __init__(self, side, padding=0):
        self.side = positive_int(side, "side")
        self.padding = non_negative_int(padding, "padding")

    def output_shape(self, shape):
        if len(shape) != 1 or self.side**2 < shape[0]:
            raise ValueError(
                f"a {self.side} x {self.side} image cannot hold inputs of shape {shape}"
            )
        side = self.side + 2 * self.padding
        return (side, side, 1)

    def cost(self, shape):
        return Cost(0, shape[0] + math.prod(self.output_shape(shape)))

    def forward(self, Z, weights):
        side, padding = self.side, self.padding
        n, width = Z.shape
        if width != side * side:
            Z = np.concatenate([Z, np.zeros((n, side * side - width), Z.dtype)], axis=1)
        Z = Z.reshape(n, side, side, 1)
        if padding:
            Z = np.pad(Z, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
        return Z

    def build_keras(self, x, build):
        keras = build.keras
        n_features = x.shape[-1]
        side, padding = self.side, self.padding
        if side * side != n_features:
            x = keras.layers.Reshape((n_features, 1))(x)
            x = keras.layers.ZeroPadding1D((0, side * side - n_features))(x)
        x = keras.layers.Reshape((side, side, 1), name=build.name("image", False))(x)
        if padding:
            x = keras.layers.ZeroPadding2D(
                padding, name=build.name("image_padding", False)
            )(x)
        return x

    def to_onnx(self, graph, X, shape, weights):
        side, padding = self.side, self.padding
        n_features = shape[0]
        if n_features < side * side:  # zero-padded at the end of the row
            pads = np.array([0, 0, 0, side * side - n_features], np.int64)
            X = graph.node("Pad", [X, graph.constant("pads", pads)])
        # With one channel, NHWC (n, s, s, 1) and NCHW (n, 1, s, s) are the same
        # memory order: one reshape gives the layout Conv takes.
        shape_ = graph.constant("shape", np.array([0, 1, side, side], np.int64))
        X = graph.node("Reshape", [X, shape_])
        if padding:
            pads = np.array([0, 0, padding, padding, 0, 0, padding, padding], np.int64)
            X = graph.node("Pad", [X, graph.constant("pads", pads)])
        return X
