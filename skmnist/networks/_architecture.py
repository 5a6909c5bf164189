"""A network described as plain data: the layer kinds and their weight shapes.

A fitted skmnist classifier keeps its network as ``architecture_``, a list of
layer descriptions such as ``{"kind": "dense", "units": 10, "activation":
"softmax"}``, and the kernels and biases of its weighted layers as ``coefs_``
and ``intercepts_``. :mod:`skmnist.training._keras` builds the Keras model from the
description (training), :mod:`skmnist.networks._inference` runs it in NumPy
(prediction), and this module checks that weights fit a description, which is
what makes a loaded file trustworthy. Nothing here imports TensorFlow.

The kinds, with the 2-D input ``(n_samples, n_features)``:

``image`` (``side``, ``padding``)
    Rows zero-padded at the end to ``side * side`` values, read row by row
    as ``side x side`` single-channel images, then framed by ``padding``
    zero pixels on every side.
``conv2d`` (``filters``, ``kernel_size``, ``activation``)
    A stride-1 "valid" convolution; kernel ``(kh, kw, channels, filters)``.
``max_pool2d`` (``pool_size``)
    Non-overlapping max pooling (stride = pool size, "valid").
``flatten``
    Images to rows, channels last, as Keras's ``Flatten``.
``dense`` (``units``, ``activation``)
    A fully connected layer; kernel ``(n_inputs, units)``.
``dropout`` (``rate``) and ``random_shift`` (``max_shift``, pixels)
    Act during training only: identity at prediction time.

Activations have scikit-learn's names, plus ``"softmax"`` for the output.
"""

import math
from numbers import Integral, Real

import numpy as np

HIDDEN_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")
_ACTIVATIONS = (*HIDDEN_ACTIVATIONS, "softmax")

# Each kind's fields and a check of each field's value.
_FIELDS = {
    "image": {"side": "positive", "padding": "non_negative"},
    "conv2d": {
        "filters": "positive",
        "kernel_size": "pair",
        "activation": "activation",
    },
    "max_pool2d": {"pool_size": "pair"},
    "flatten": {},
    "dense": {"units": "positive", "activation": "activation"},
    "dropout": {"rate": "fraction"},
    "random_shift": {"max_shift": "non_negative"},
}


def _valid(check, value):
    if check == "positive":
        return isinstance(value, Integral) and not isinstance(value, bool) and value > 0
    if check == "non_negative":
        return (
            isinstance(value, Integral) and not isinstance(value, bool) and value >= 0
        )
    if check == "pair":
        return (
            isinstance(value, list | tuple)
            and len(value) == 2
            and all(_valid("positive", v) for v in value)
        )
    if check == "fraction":
        return isinstance(value, Real) and 0 <= value < 1
    return value in _ACTIVATIONS  # "activation"


def image_side(n_features, min_side):
    """``(side, padding)`` of the ``image`` layer for rows of ``n_features``.

    A width that is a square number is that square image (784 is 28 x 28);
    any other width is padded with zeros to the next square. Images smaller
    than ``min_side`` (what the layers after them need) are framed with zeros.
    """
    side = math.isqrt(n_features - 1) + 1 if n_features > 0 else 1
    padding = max(0, -(-(min_side - side) // 2))
    return side, padding


def weight_shapes(architecture, n_features):
    """The ``(kernel, bias)`` shapes of each weighted layer, in order.

    Raises ``ValueError`` when the description is not one this skmnist can
    run: an unknown kind or field, an image too small for a layer, layers in
    an order that does not fit together.
    """
    if not isinstance(architecture, list) or not architecture:
        raise ValueError("the architecture is not a non-empty list of layers")
    shape = (n_features,)
    shapes = []
    for position, layer in enumerate(architecture):
        where = f"layer {position}"
        if not isinstance(layer, dict) or layer.get("kind") not in _FIELDS:
            kind = layer.get("kind") if isinstance(layer, dict) else layer
            raise ValueError(f"{where}: unknown layer kind {kind!r}")
        kind = layer["kind"]
        fields = _FIELDS[kind]
        if set(layer) != {"kind", *fields}:
            raise ValueError(
                f"{where} ({kind}): fields {sorted(set(layer) - {'kind'})}, "
                f"expected {sorted(fields)}"
            )
        for name, check in fields.items():
            if not _valid(check, layer[name]):
                raise ValueError(f"{where} ({kind}): bad {name} {layer[name]!r}")
        shape = _output_shape(kind, layer, shape, where, shapes)
    if architecture[-1]["kind"] != "dense" or architecture[-1]["activation"] != (
        "softmax"
    ):
        raise ValueError("the last layer is not a dense softmax layer")
    return shapes


def _output_shape(kind, layer, shape, where, shapes):
    images = len(shape) == 3
    if kind in ("conv2d", "max_pool2d") and not images:
        raise ValueError(f"{where} ({kind}) needs images, got rows of shape {shape}")
    if kind == "image":
        if images or layer["side"] ** 2 < shape[0]:
            raise ValueError(f"{where} (image) does not fit input of shape {shape}")
        side = layer["side"] + 2 * layer["padding"]
        return (side, side, 1)
    if kind == "conv2d":
        kh, kw = layer["kernel_size"]
        height, width, channels = shape
        if kh > height or kw > width:
            raise ValueError(f"{where} (conv2d): kernel larger than its {shape} input")
        shapes.append(((kh, kw, channels, layer["filters"]), (layer["filters"],)))
        return (height - kh + 1, width - kw + 1, layer["filters"])
    if kind == "max_pool2d":
        ph, pw = layer["pool_size"]
        height, width, channels = shape
        if ph > height or pw > width:
            raise ValueError(
                f"{where} (max_pool2d): pool larger than its {shape} input"
            )
        return (height // ph, width // pw, channels)
    if kind == "flatten":
        return (math.prod(shape),)
    if kind == "dense":
        if images:
            raise ValueError(f"{where} (dense) needs rows: flatten the images first")
        shapes.append(((shape[0], layer["units"]), (layer["units"],)))
        return (layer["units"],)
    return shape  # dropout, random_shift


def check_weights(architecture, n_features, n_classes, coefs, intercepts):
    """Raise ``ValueError`` unless the weights are finite and fit the architecture."""
    shapes = weight_shapes(architecture, n_features)
    if not (isinstance(coefs, list) and isinstance(intercepts, list)):
        raise ValueError("coefs_ and intercepts_ are not lists of arrays")
    if len(coefs) != len(shapes) or len(intercepts) != len(shapes):
        raise ValueError(
            f"the architecture has {len(shapes)} weighted layers, but there are "
            f"{len(coefs)} coefs_ and {len(intercepts)} intercepts_"
        )
    for i, ((kernel_shape, bias_shape), coef, intercept) in enumerate(
        zip(shapes, coefs, intercepts, strict=True)
    ):
        for name, array, expected in (
            ("coefs_", coef, kernel_shape),
            ("intercepts_", intercept, bias_shape),
        ):
            if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
                raise ValueError(f"{name}[{i}] is not an array of floats")
            if array.shape != expected:
                raise ValueError(
                    f"{name}[{i}] has shape {array.shape}, the architecture "
                    f"needs {expected}"
                )
            if not np.isfinite(array).all():
                raise ValueError(f"{name}[{i}] holds NaN or infinite values")
    if shapes[-1][1] != (n_classes,):
        raise ValueError(
            f"the output layer has {shapes[-1][1][0]} units for {n_classes} classes"
        )
