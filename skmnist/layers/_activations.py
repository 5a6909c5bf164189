"""The activations, in one table: NumPy, Keras and ONNX forms of each.

A layer names its activation with scikit-learn's names (``"relu"``,
``"tanh"``, ``"logistic"``, ``"identity"``) or ``"softmax"``; Keras's names
``"sigmoid"`` and ``"linear"`` are accepted as the same functions. Every
other part of skmnist looks an activation up here.
"""

import numpy as np


def _identity(Z, out=None):
    if out is None or out is Z:
        return Z
    out[...] = Z
    return out


def _relu(Z, out=None):
    return np.maximum(Z, 0, out=out)


def _tanh(Z, out=None):
    return np.tanh(Z, out=out)


def _logistic(Z, out=None):
    # exp(-log(1 + exp(-z))) is 1 / (1 + exp(-z)) without overflow warnings.
    out = np.logaddexp(0, -Z, out=out)
    return np.exp(-out, out=out)


def _softmax(Z, out=None):
    out = np.subtract(Z, Z.max(axis=-1, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=-1, keepdims=True)
    return out


class ActivationFunction:
    """One activation: its NumPy function and its Keras and ONNX names.

    ``numpy(Z, out=None)`` computes it in ``Z``'s precision, into ``out``
    (``Z`` itself for in place) or a new array. ``monotone`` is True for an
    element-wise non-decreasing function: it then commutes with max-pooling,
    which lets prediction apply it after the pooling, to fewer values.
    ``softmax`` normalises over the last axis, the channels of an image as in
    Keras.
    """

    def __init__(self, name, numpy, keras, onnx, monotone):
        self.name = name
        self.numpy = numpy
        self.keras = keras
        self.onnx = onnx
        self.monotone = monotone

    def to_onnx(self, graph, Z):
        """Append this activation to an ONNX graph (see :mod:`skmnist.export`).

        ONNX holds rows as ``(n, features)`` and images as ``(n, channels,
        height, width)``: axis 1 is what softmax normalises over either way.
        """
        if self.onnx is None:
            return Z
        attrs = {"axis": 1} if self.onnx == "Softmax" else {}
        return graph.node(self.onnx, [Z], **attrs)


ACTIVATIONS = {
    activation.name: activation
    for activation in (
        ActivationFunction("identity", _identity, "linear", None, monotone=True),
        ActivationFunction("logistic", _logistic, "sigmoid", "Sigmoid", monotone=True),
        ActivationFunction("tanh", _tanh, "tanh", "Tanh", monotone=True),
        ActivationFunction("relu", _relu, "relu", "Relu", monotone=True),
        ActivationFunction("softmax", _softmax, "softmax", "Softmax", monotone=False),
    )
}
# Keras's names for two of them.
ALIASES = {"linear": "identity", "sigmoid": "logistic"}

# What hidden layers of scikit-learn's MLP may use, and the presets' choices.
HIDDEN_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")


def activation_name(value, where):
    """The canonical name of the activation ``value``; raise ValueError if none."""
    name = ALIASES.get(value, value) if isinstance(value, str) else None
    if name not in ACTIVATIONS:
        raise ValueError(
            f"{where}: activation must be one of {sorted(ACTIVATIONS)} (or "
            f"{sorted(ALIASES)}), got {value!r}"
        )
    return name
