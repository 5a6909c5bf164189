"""What a layer kind is, and the registry of the kinds skmnist knows.

A layer kind is a class: its instances are plain values (their parameters),
and the class holds everything about the kind in one place — how its
parameters are checked, the shape it gives, the weights it needs, what it
costs, its NumPy forward pass, its Keras layer and its ONNX nodes. The rest
of skmnist calls these methods and never asks a layer which kind it is.

A fitted network stores each layer as its configuration, a plain dict such
as ``{"kind": "dense", "units": 10, "activation": "softmax"}``;
:func:`layer_from_config` turns it back into a layer of a registered kind,
which is how :func:`skmnist.load` reads a file without running code from it.

Shapes are per row, without the batch dimension, in Keras's order: ``(n,)``
for rows of ``n`` features, ``(height, width, channels)`` for images.
"""

import inspect
import math
from numbers import Integral, Real

ROWS = "rows"
IMAGES = "images"
ANY = "any"


class Cost:
    """What a layer costs to predict one row.

    Parameters
    ----------
    multiply_adds : int
        Its arithmetic, in multiply-adds (or comparisons).

    values : int
        The numbers it holds in memory at once: its input, its output and
        any temporary, such as a convolution's unfolded windows. This sets
        how many rows prediction runs at a time, and what a network read
        from a file may cost.

    Examples
    --------
    >>> from skmnist.layers import Dense
    >>> Dense(512).cost((784,))
    Cost(multiply_adds=401408, values=1296)
    """

    def __init__(self, multiply_adds, values):
        self.multiply_adds = int(multiply_adds)
        self.values = int(values)

    def __repr__(self):
        return f"Cost(multiply_adds={self.multiply_adds}, values={self.values})"


class Layer:
    """Base class of a layer kind.

    A kind is a subclass with a ``kind`` name (what files store; give your
    own kinds a dotted name such as ``"mypackage.scale"``), registered with
    :func:`register_layer`. Its ``__init__`` takes the kind's parameters as
    keyword arguments with defaults, checks them and stores each under its
    own name; they are the kind's configuration, in :meth:`get_config`.

    A kind without weights that keeps the shape of its input needs only
    :meth:`forward` (NumPy, for prediction) and :meth:`keras_layer` (for
    training), and :meth:`to_onnx` for ONNX export. Kinds that change the
    shape define :meth:`output_shape` (and :meth:`cost`); kinds with weights
    set ``weighted = True`` and define :meth:`weight_shapes`,
    :meth:`keras_weights` and :meth:`set_keras_weights`.

    Examples
    --------
    A kind of one's own: a fixed scaling of its input.

    >>> import numpy as np
    >>> from skmnist.layers import Layer, register_layer
    >>> @register_layer
    ... class Scale(Layer):
    ...     kind = "example.scale"
    ...
    ...     def __init__(self, factor=2.0):
    ...         self.factor = float(factor)
    ...
    ...     def forward(self, Z, weights):
    ...         return Z * self.factor
    ...
    ...     def keras_layer(self, build):
    ...         factor = self.factor
    ...         return build.keras.layers.Lambda(
    ...             lambda x: x * factor, name=build.name("scale")
    ...         )
    >>> Scale(3).get_config()
    {'kind': 'example.scale', 'factor': 3.0}
    >>> Scale(3).forward(np.ones((1, 2)), iter([]))
    array([[3., 3.]])
    """

    #: The name of the kind in configurations and files.
    kind = None
    #: What the layer takes: ``"rows"``, ``"images"`` or ``"any"``.
    takes = ANY
    #: Whether the layer has weights (a ``(coef, intercept)`` pair).
    weighted = False
    #: An element-wise non-decreasing activation commutes with this layer
    #: (max-pooling), so prediction may apply it after the layer instead.
    commutes_with_monotone = False
    #: ONNX export computes the whole network in float32 when a layer has
    #: no float64 form in onnxruntime (its convolutions and poolings).
    onnx_float32_only = False
    #: In training, each row's output depends on that row alone, not on the
    #: other rows of its batch (as batch normalisation's statistics do): a
    #: backend may then pad a batch with rows weighted 0 (JAX trains the
    #: epoch's last, smaller batch that way, in the function compiled for
    #: full ones). False unless a kind says so: the safe answer.
    rows_independent = False

    # -- configuration ---------------------------------------------------------

    @classmethod
    def _field_names(cls):
        signature = inspect.signature(cls.__init__)
        return [
            name
            for name, parameter in signature.parameters.items()
            if name != "self" and parameter.kind == parameter.POSITIONAL_OR_KEYWORD
        ]

    def get_config(self):
        """The layer as plain data: ``{"kind": ..., <parameter>: <value>, ...}``.

        Returns
        -------
        config : dict
            JSON-compatible: tuples become lists, nested layers their
            configurations.
        """
        return {
            "kind": self.kind,
            **{name: _plain(getattr(self, name)) for name in self._field_names()},
        }

    def __repr__(self):
        # The parameters that differ from their defaults, normalised as the
        # kind stores them (so Conv2D(8, 3) does not show strides=(1, 1)).
        signature = inspect.signature(type(self).__init__)
        required = {
            name: getattr(self, name)
            for name in self._field_names()
            if signature.parameters[name].default is inspect.Parameter.empty
        }
        try:
            defaults = type(self)(**required).get_config()
        except Exception:  # a kind whose defaults depend on more than that
            defaults = {}
        config = self.get_config()
        shown = [
            f"{name}={getattr(self, name)!r}"
            for name in self._field_names()
            if name in required or config[name] != defaults.get(name, object())
        ]
        return f"{type(self).__name__}({', '.join(shown)})"

    def __eq__(self, other):
        return type(other) is type(self) and other.get_config() == self.get_config()

    def __hash__(self):
        return hash(repr(self))

    # -- shapes, weights and cost ------------------------------------------------

    def output_shape(self, shape):
        """The shape of one row's output for one row's input of ``shape``.

        Raises ``ValueError`` saying why the layer does not fit its input.
        """
        check_takes(self, shape)
        return shape

    def min_input_side(self, side):
        """The smallest input side (images) that gives an output of ``side``."""
        return side

    def weight_shapes(self, shape):
        """The ``(coef, intercept)`` shapes for input ``shape`` (weighted kinds)."""
        raise NotImplementedError(f"{type(self).__name__} has no weights")

    def check_weight_values(self, coef, intercept):
        """Raise ``ValueError`` for weights of the right shapes but unusable values."""

    def weighted_layers(self, shape):
        """``(layer, input_shape)`` of each weighted layer here, in weight order."""
        return [(self, shape)] if self.weighted else []

    def sublayers(self):
        """This layer and every layer inside it (a residual block's), in order."""
        return [self]

    def cost(self, shape):
        """What predicting one row of input ``shape`` costs (see :class:`Cost`)."""
        size = math.prod(shape)
        return Cost(multiply_adds=size, values=2 * size)

    # -- prediction (NumPy) ----------------------------------------------------------

    def inference_weights(self, coef, intercept, dtype, shape=None):
        """The weights as :meth:`forward` (and :meth:`to_onnx`) takes them.

        In ``dtype``; ``shape`` is the layer's input shape. Computed once per
        fitted network and precision.
        """
        return coef.astype(dtype, copy=False), intercept.astype(dtype, copy=False)

    def inference_weights_of_all(self, raw, dtype, shape):
        """The inference weights of this layer and those inside it, in order.

        ``raw`` iterates over the fitted ``(coef, intercept)`` pairs; a layer
        takes one pair per weighted layer it holds.
        """
        if not self.weighted:
            return []
        coef, intercept = next(raw)
        return [self.inference_weights(coef, intercept, dtype, shape=shape)]

    def forward(self, Z, weights):
        """The layer's output for the batch ``Z`` at prediction time, in NumPy.

        ``weights`` iterates over the inference weights of the network's
        weighted layers; a weighted layer takes the next pair. ``Z`` must not
        be changed: return a new array, or ``Z`` itself.
        """
        raise NotImplementedError(
            f"layer kind {self.kind!r} ({type(self).__name__}) defines no "
            "forward pass for prediction"
        )

    # -- training (Keras) ----------------------------------------------------------

    def keras_layer(self, build):
        """The Keras layer that trains this layer (``build`` gives names and seeds)."""
        raise NotImplementedError(
            f"layer kind {self.kind!r} ({type(self).__name__}) defines no Keras "
            "layer: define keras_layer(build) or build_keras(x, build)"
        )

    def build_keras(self, x, build):
        """Apply the layer's Keras form to the Keras tensor ``x``."""
        layer = self.keras_layer(build)
        build.record(self, layer)
        if self.weighted:
            build.register(self, layer)
        return layer(x)

    def keras_weights(self, keras_layer):
        """The ``(coef, intercept)`` of a trained Keras layer, as float64 arrays."""
        raise NotImplementedError(f"{type(self).__name__} has no weights")

    def set_keras_weights(self, keras_layer, coef, intercept):
        """Load ``(coef, intercept)`` into the Keras layer."""
        raise NotImplementedError(f"{type(self).__name__} has no weights")

    @classmethod
    def keras_objects(cls):
        """Custom Keras classes this kind uses, registered when training starts."""
        return []

    def torch_training_call(self, keras_layer, generator):
        """The training step's call of ``keras_layer`` on PyTorch, or None.

        Keras's layer call (argument checks, masks, dtype policies, name
        scopes) costs more than a small layer's arithmetic: a kind may give
        its Keras layer's training computation as PyTorch operations, the
        same arithmetic as Keras's, taking the tensor and Keras's call
        keywords. ``generator`` is a ``torch.Generator`` for random draws.
        None (the default): the step calls the Keras layer, in training mode.
        """
        return None

    def jax_training_call(self, keras_layer):
        """The training step's call of ``keras_layer`` on JAX, or None.

        As :meth:`torch_training_call`, with ``jax.numpy`` operations, traced
        inside the step's compiled function (the layer's variables hold the
        traced values there). For computations XLA's CPU backend runs faster
        written otherwise than Keras writes them, to float32's rounding.
        None (the default): the step calls the Keras layer, in training mode.
        """
        return None

    # -- export (ONNX) -----------------------------------------------------------------

    def to_onnx(self, graph, X, shape, weights):
        """Append the layer's ONNX nodes to ``graph``; return its output's name.

        ``X`` holds rows ``(n, features)`` or images in ONNX's ``(n, channels,
        height, width)`` order; ``shape`` is the input's shape in Keras's
        order. ``weights`` iterates as in :meth:`forward`, over the
        weights in the precision of the graph.
        """
        raise NotImplementedError(
            f"layer kind {self.kind!r} ({type(self).__name__}) has no ONNX "
            "conversion: define its to_onnx(graph, X, shape, weights)"
        )


def check_takes(layer, shape):
    """Raise ``ValueError`` unless ``layer`` takes inputs of ``shape``."""
    if layer.takes == ROWS and len(shape) != 1:
        raise ValueError(
            f"needs rows, but gets images of shape {shape}: put Flatten() or "
            "GlobalAvgPool2D() before it"
        )
    if layer.takes == IMAGES and len(shape) != 3:
        raise ValueError(
            f"needs images, but gets rows of shape {shape}: rows become "
            "images only before the first layer"
        )


# -- the registry ----------------------------------------------------------------------

_KINDS = {}


def register_layer(cls):
    """Register a layer kind, so that networks using it can be saved and loaded.

    Use it as a class decorator. :func:`skmnist.load` builds only layers of
    registered kinds: to load a file whose network uses a kind of your own,
    import the module that defines and registers it first.

    Parameters
    ----------
    cls : type
        A subclass of :class:`Layer` with a ``kind`` name not taken by another
        class.

    Returns
    -------
    cls : type
        The class, unchanged.

    Examples
    --------
    See :class:`Layer`.
    """
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise TypeError(f"register_layer takes a subclass of Layer, not {cls!r}")
    kind = cls.__dict__.get("kind")
    if not isinstance(kind, str) or not kind:
        raise ValueError(
            f"{cls.__name__} needs a class attribute kind = '<name>' (the name "
            "that files store it under) to be registered"
        )
    known = _KINDS.get(kind)
    if known is not None and known is not cls:
        # A module run twice (a notebook cell, importlib.reload) re-registers
        # the same kind; another class under a taken name is a mistake.
        if (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
            raise ValueError(
                f"layer kind {kind!r} is already registered by "
                f"{known.__module__}.{known.__qualname__}"
            )
    _KINDS[kind] = cls
    return cls


def registered_kinds():
    """The registered layer kinds.

    Returns
    -------
    kinds : dict of str to type
        ``{kind: class}``: skmnist's own and those registered with
        :func:`register_layer`.

    Examples
    --------
    >>> from skmnist.layers import registered_kinds
    >>> registered_kinds()["dense"].__name__
    'Dense'
    """
    return dict(_KINDS)


def layer_from_config(config):
    """The layer a configuration (as :meth:`Layer.get_config` makes) describes.

    Only registered kinds are built, so a configuration read from a file
    runs no code of its own.

    Parameters
    ----------
    config : dict
        ``{"kind": ..., <parameter>: <value>, ...}``.

    Returns
    -------
    layer : Layer

    Raises
    ------
    ValueError
        For anything that is not the configuration of a registered kind with
        valid parameters.

    Examples
    --------
    >>> from skmnist.layers import layer_from_config
    >>> layer_from_config({"kind": "dense", "units": 10, "activation": "softmax"})
    Dense(units=10, activation='softmax')
    """
    if not isinstance(config, dict) or not isinstance(config.get("kind"), str):
        raise ValueError(f"not a layer configuration: {_short(config)}")
    kind = config["kind"]
    cls = _KINDS.get(kind)
    if cls is None:
        raise ValueError(
            f"unknown layer kind {_short(kind)}: this skmnist knows "
            f"{sorted(_KINDS)}; for a kind of your own, import the module that "
            "defines and registers it (skmnist.layers.register_layer) first"
        )
    fields = {name: value for name, value in config.items() if name != "kind"}
    unknown = set(fields) - set(cls._field_names())
    if unknown:
        raise ValueError(
            f"{cls.__name__} has no parameters {sorted(unknown)}; it takes "
            f"{cls._field_names()}"
        )
    try:
        return cls(**fields)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{cls.__name__}: {exc}") from None


def _plain(value):
    if isinstance(value, Layer):
        return value.get_config()
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value


def _short(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- checks of parameter values, shared by the kinds -------------------------


def positive_int(value, name):
    """``value`` as an int, if it is an integer > 0 (NumPy integers too)."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {_short(value)}")
    return int(value)


def non_negative_int(value, name):
    """``value`` as an int, if it is an integer >= 0."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {_short(value)}")
    return int(value)


def pair(value, name):
    """A size as ``(height, width)``: one positive integer for both, or two."""
    if isinstance(value, Integral) and not isinstance(value, bool):
        value = (value, value)
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise ValueError(
            f"{name} must be a positive integer or a pair of them, got {_short(value)}"
        )
    return tuple(positive_int(v, name) for v in value)


def fraction(value, name):
    """``value`` as a float in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1), got {_short(value)}")
    return float(value)


def positive_float(value, name):
    """``value`` as a finite float > 0."""
    if (
        isinstance(value, bool)
        or not isinstance(value, Real)
        or not (math.isfinite(value) and value > 0)
    ):
        raise ValueError(f"{name} must be a positive number, got {_short(value)}")
    return float(value)


def choice(value, name, options):
    """``value``, if it is one of ``options``."""
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {list(options)}, got {_short(value)}")
    return value
