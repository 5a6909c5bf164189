"""Batch normalisation."""

import math

import numpy as np

from ._base import ANY, Cost, Layer, fraction, positive_float
from ._base import register_layer as _register


@_register
class BatchNorm(Layer):
    """Batch normalisation of each channel or feature (Keras's ``BatchNormalization``).

    During training each batch is normalised with its own mean and variance
    and the layer keeps moving averages of both; at prediction time it is a
    fixed scale and shift of each channel, ``gamma / sqrt(variance +
    epsilon)`` and ``beta - mean * scale``, computed once from the fitted
    weights.

    Parameters
    ----------
    momentum : float in [0, 1), default=0.99
        Weight of the old value in each update of the moving averages.

    epsilon : float > 0, default=0.001
        Added to the variance before its square root.

    Notes
    -----
    Its weights are ``coefs_[i]`` of shape ``(3, channels)`` — the rows
    ``gamma``, the moving mean and the moving variance — and
    ``intercepts_[i]``, ``beta``, of shape ``(channels,)``.

    Examples
    --------
    >>> from skmnist.layers import BatchNorm
    >>> BatchNorm()
    BatchNorm()
    >>> BatchNorm().weight_shapes((14, 14, 16))
    ((3, 16), (16,))
    """

    kind = "batch_norm"
    takes = ANY
    weighted = True

    def __init__(self, momentum=0.99, epsilon=0.001):
        self.momentum = fraction(momentum, "momentum")
        self.epsilon = positive_float(epsilon, "epsilon")

    def weight_shapes(self, shape):
        return (3, shape[-1]), (shape[-1],)

    def check_weight_values(self, coef, intercept):
        if (coef[2] < 0).any():
            raise ValueError("a batch normalisation's moving variance is negative")

    def cost(self, shape):
        return Cost(2 * math.prod(shape), 2 * math.prod(shape))

    def affine(self, coef, intercept):
        """The fixed per-channel ``(scale, shift)`` it is at prediction time."""
        gamma, mean, variance = np.asarray(coef, dtype=np.float64)
        scale = gamma / np.sqrt(variance + self.epsilon)
        return scale, np.asarray(intercept, dtype=np.float64) - mean * scale

    def inference_weights(self, coef, intercept, dtype, shape=None):
        scale, shift = self.affine(coef, intercept)
        return scale.astype(dtype), shift.astype(dtype)

    def forward(self, Z, weights):
        folded = next(weights)
        if folded is None:  # folded into the layer before it
            return Z
        scale, shift = folded
        out = Z * scale
        out += shift
        return out

    def keras_layer(self, build):
        return build.keras.layers.BatchNormalization(
            momentum=self.momentum, epsilon=self.epsilon, name=build.name("batch_norm")
        )

    def keras_weights(self, keras_layer):
        rows = [
            keras_layer.gamma,
            keras_layer.moving_mean,
            keras_layer.moving_variance,
        ]
        coef = np.stack([np.asarray(v.numpy(), dtype=np.float64) for v in rows])
        return coef, np.asarray(keras_layer.beta.numpy(), dtype=np.float64)

    def set_keras_weights(self, keras_layer, coef, intercept):
        for variable, value in zip(
            (keras_layer.gamma, keras_layer.moving_mean, keras_layer.moving_variance),
            coef,
            strict=True,
        ):
            variable.assign(np.asarray(value, dtype=np.float32))
        keras_layer.beta.assign(np.asarray(intercept, dtype=np.float32))

    def to_onnx(self, graph, X, shape, weights):
        folded = next(weights)
        if folded is None:  # folded into the layer before it
            return X
        scale, shift = folded
        if len(shape) == 3:  # per channel of (n, c, h, w)
            scale, shift = scale.reshape(-1, 1, 1), shift.reshape(-1, 1, 1)
        Z = graph.node("Mul", [X, graph.weight("scale", scale)])
        return graph.node("Add", [Z, graph.weight("shift", shift)])
