"""A network as data: its layers' configurations, checked, costed and run in NumPy.

A fitted classifier keeps its network as ``architecture_``, a list of layer
configurations (``{"kind": "dense", "units": 10, "activation": "softmax"}``,
see :mod:`skmnist.layers`), and the weights of its weighted layers as
``coefs_`` and ``intercepts_``. :class:`Architecture` reads the list back into
layers of registered kinds, traces the shapes through them, says what the
weights must look like and what a row costs, and predicts: what makes a loaded
file trustworthy and prediction free of TensorFlow.
"""

import numpy as np

from ..layers import Dense, Image, _sequence, image_side, layer_from_config

# What a network read from a file may cost, per row, to be loaded: the
# arithmetic of one row's forward pass, and the numbers one layer holds at
# once for it. The default ConvNet needs about 1.6e6 and 3.6e4.
MAX_MULTIPLY_ADDS = 1 << 30
MAX_VALUES = 1 << 23
# Layers in a network read from a file, nested ones included.
MAX_LAYERS = 4096
# Prediction runs in chunks of rows whose working memory stays within this.
CHUNK_BYTES = 64 << 20


def compute_dtype(X):
    """float32 for float32 input, float64 for anything else."""
    return np.float32 if X.dtype == np.float32 else np.float64


class Architecture:
    """The layers of ``architecture_`` for inputs of ``n_features``, checked.

    Raises ``ValueError`` when the configurations are not a network this
    skmnist can run: an unknown kind or parameter, layers in an order that
    does not fit together, an image too small for a layer.
    """

    def __init__(self, configs, n_features):
        if not isinstance(configs, list) or not configs:
            raise ValueError("the architecture is not a non-empty list of layers")
        layers = []
        for position, config in enumerate(configs):
            try:
                layers.append(layer_from_config(config))
            except ValueError as exc:
                raise ValueError(f"layer {position}: {exc}") from None
        self.layers = layers
        self.n_features = n_features
        count = sum(len(layer.sublayers()) for layer in layers)
        if count > MAX_LAYERS:
            raise ValueError(f"{count} layers; skmnist runs at most {MAX_LAYERS}")
        self.steps = _sequence.trace(layers, (n_features,))

    @property
    def output_shape(self):
        return self.steps[-1][2]

    def weighted_layers(self):
        """``(layer, input_shape)`` of each weighted layer, in weight order."""
        return _sequence.weighted_layers(self.steps)

    def weight_shapes(self):
        """The ``(coef, intercept)`` shapes of each weighted layer, in order."""
        return [layer.weight_shapes(shape) for layer, shape in self.weighted_layers()]

    def cost(self):
        """What predicting one row costs (multiply-adds, values held at once)."""
        return _sequence.cost(self.steps)

    def check_weights(self, coefs, intercepts, n_classes):
        """Raise ``ValueError`` unless the weights are finite and fit the network."""
        if self.layers[-1] != Dense(n_classes, activation="softmax"):
            raise ValueError(
                f"the last layer is not a dense softmax layer of {n_classes} units, "
                "one per class"
            )
        if not (isinstance(coefs, list) and isinstance(intercepts, list)):
            raise ValueError("coefs_ and intercepts_ are not lists of arrays")
        weighted = self.weighted_layers()
        if len(coefs) != len(weighted) or len(intercepts) != len(weighted):
            raise ValueError(
                f"the architecture has {len(weighted)} weighted layers, but there "
                f"are {len(coefs)} coefs_ and {len(intercepts)} intercepts_"
            )
        for i, ((layer, shape), coef, intercept) in enumerate(
            zip(weighted, coefs, intercepts, strict=True)
        ):
            for name, array, expected in zip(
                ("coefs_", "intercepts_"),
                (coef, intercept),
                layer.weight_shapes(shape),
                strict=True,
            ):
                if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
                    raise ValueError(f"{name}[{i}] is not an array of floats")
                if array.shape != tuple(expected):
                    raise ValueError(
                        f"{name}[{i}] has shape {array.shape}, the architecture "
                        f"needs {tuple(expected)}"
                    )
                if not np.isfinite(array).all():
                    raise ValueError(f"{name}[{i}] holds NaN or infinite values")
            layer.check_weight_values(coef, intercept)

    def check_budget(self):
        """Raise ``ValueError`` if a row costs more than a loaded network may."""
        cost = self.cost()
        if cost.multiply_adds > MAX_MULTIPLY_ADDS or cost.values > MAX_VALUES:
            raise ValueError(
                f"its network takes {cost.multiply_adds} multiply-adds and holds "
                f"{cost.values} values at once per row; skmnist loads networks of "
                f"at most {MAX_MULTIPLY_ADDS} and {MAX_VALUES}"
            )

    def inference_weights(self, coefs, intercepts, dtype):
        """Each weighted layer's weights as its forward pass takes them."""
        if not len(coefs) == len(intercepts) == len(self.weighted_layers()):
            raise ValueError(
                f"{len(coefs)} coefs_ and {len(intercepts)} intercepts_ for "
                f"{len(self.weighted_layers())} weighted layers"
            )
        pairs = zip(coefs, intercepts, strict=True)
        raw = ((np.asarray(coef), np.asarray(intercept)) for coef, intercept in pairs)
        return _sequence.inference_weights(self.layers, (self.n_features,), raw, dtype)

    def chunk_rows(self, dtype):
        """Rows per pass: as many as keep each layer's memory within CHUNK_BYTES."""
        per_row = max(self.cost().values, 1) * np.dtype(dtype).itemsize
        return max(1, CHUNK_BYTES // per_row)

    def forward(self, X, weights):
        """Class probabilities of the 2-D ``X``, with ``inference_weights``."""
        dtype = compute_dtype(X)
        X = np.asarray(X, dtype=dtype)
        chunk = self.chunk_rows(dtype)
        if len(X) <= chunk:
            return _sequence.forward(self.layers, X, iter(weights))
        out = None
        for start in range(0, len(X), chunk):
            part = _sequence.forward(
                self.layers, X[start : start + chunk], iter(weights)
            )
            if out is None:
                out = np.empty((len(X), part.shape[1]), dtype=part.dtype)
            out[start : start + len(part)] = part
        return out


def network_configs(layers, n_features, n_classes):
    """``architecture_`` of a network of ``layers`` for ``n_features`` and classes.

    Rows become images first when the first layer that cares takes images
    (the smallest square that holds a row, framed with zeros when the layers
    need a larger one), and the softmax output layer for the classes comes
    last. Raises ``ValueError`` naming the layer that does not fit.
    """
    layers = list(layers)
    first = next((layer for layer in layers if layer.takes != "any"), None)
    prefix = []
    if first is not None and first.takes == "images":
        side, padding = image_side(n_features, _sequence.min_input_side(layers))
        prefix = [Image(side, padding)]
    shape = prefix[0].output_shape((n_features,)) if prefix else (n_features,)
    steps = _sequence.trace(layers, shape)
    output_shape = steps[-1][2] if steps else shape
    if len(output_shape) != 1:
        raise ValueError(
            f"the layers end with images of shape {output_shape}, but the output "
            "layer for the classes takes rows: end them with Flatten() or "
            "GlobalAvgPool2D()"
        )
    output = Dense(n_classes, activation="softmax")
    return [layer.get_config() for layer in (*prefix, *layers, output)]
