"""Layers in sequence: their shapes, weights, cost and passes, for any kinds.

What a network (and a residual block inside one) does with its list of
layers, written once on top of the kinds' own methods.
"""

from ._activations import ACTIVATIONS
from ._base import Cost


def trace(layers, shape):
    """``(layer, input_shape, output_shape)`` for each of ``layers`` in turn.

    Raises ``ValueError`` naming the first layer that does not fit what the
    one before it gives.
    """
    steps = []
    for position, layer in enumerate(layers):
        try:
            output = layer.output_shape(shape)
        except ValueError as exc:
            raise ValueError(
                f"layer {position} ({type(layer).__name__}): {exc}"
            ) from None
        steps.append((layer, shape, output))
        shape = output
    return steps


def min_input_side(layers, side=1):
    """The smallest square input the image layers of ``layers`` work on.

    Walks back from the end: each image layer says what input side gives the
    output side the layers after it need (at least 1).
    """
    for layer in reversed(layers):
        side = layer.min_input_side(side)
    return side


def weighted_layers(steps):
    """``(layer, input_shape)`` of every weighted layer, nested ones included."""
    return [item for layer, shape, _ in steps for item in layer.weighted_layers(shape)]


def cost(steps):
    """A sequence's cost per row: the sum of the arithmetic, the largest memory."""
    costs = [layer.cost(shape) for layer, shape, _ in steps]
    return Cost(
        sum(c.multiply_adds for c in costs), max((c.values for c in costs), default=0)
    )


def rows_independent(layers):
    """Whether every one of ``layers``, nested ones included, trains row by row."""
    return all(sub.rows_independent for layer in layers for sub in layer.sublayers())


def inference_weights(layers, shape, raw, dtype):
    """The inference weights of each weighted layer of ``layers``, in order.

    ``raw`` iterates over the fitted ``(coef, intercept)`` pairs. A layer
    that is a fixed per-channel scale and shift at prediction time (batch
    normalisation) right after a layer whose output is linear in its weights
    (a convolution or dense layer without activation) is folded into it: the
    first layer's weights are scaled and shifted, and the second passes its
    input through (its weights are None), which saves a pass over the data.
    """
    out = []
    steps = trace(layers, shape)
    position = 0
    while position < len(steps):
        layer, layer_shape, _ = steps[position]
        after = steps[position + 1][0] if position + 1 < len(steps) else None
        if (
            after is not None
            and getattr(layer, "accepts_affine", False)
            and hasattr(after, "affine")
        ):
            coef, intercept = next(raw)
            scale, shift = after.affine(*next(raw))
            coef, intercept = layer.fold_affine(coef, intercept, scale, shift)
            out.append(
                layer.inference_weights(coef, intercept, dtype, shape=layer_shape)
            )
            out.append(None)
            position += 2
            continue
        out.extend(layer.inference_weights_of_all(raw, dtype, layer_shape))
        position += 1
    return out


def forward(layers, Z, weights):
    """The layers' NumPy pass over ``Z`` (see :meth:`Layer.forward`).

    An element-wise non-decreasing activation commutes with a max-pooling: a
    convolution followed by one is pooled before it is activated, so that the
    activation touches a quarter of the values. Every other activation (a
    softmax over channels, say) is applied where the layer says.
    """
    deferred = None
    for position, layer in enumerate(layers):
        after = layers[position + 1] if position + 1 < len(layers) else None
        if _can_defer(layer, after):
            Z = layer.forward(Z, weights, activate=False)
            deferred = ACTIVATIONS[layer.activation]
            continue
        Z = layer.forward(Z, weights)
        if deferred is not None:
            deferred.numpy(Z, out=Z)  # the pooling's own new array
            deferred = None
    return Z


def _can_defer(layer, after):
    return (
        after is not None
        and after.commutes_with_monotone
        and getattr(layer, "defers_activation", False)
        and ACTIVATIONS[layer.activation].monotone
    )


def build_keras(layers, x, build):
    """Apply the layers' Keras forms to the Keras tensor ``x`` in turn."""
    for layer in layers:
        x = layer.build_keras(x, build)
    return x


def to_onnx(steps, graph, X, weights):
    """Append the layers' ONNX nodes in turn; return the last output's name."""
    for layer, shape, _ in steps:
        X = layer.to_onnx(graph, X, shape, weights)
    return X
