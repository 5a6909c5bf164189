"""Export fitted skmnist models to ONNX, through skl2onnx's converter registry.

A fitted classifier is plain data: ``architecture_`` (one dict per layer),
``coefs_``, ``intercepts_`` and ``classes_``. Its converter writes one small
piece of ONNX graph per layer kind, so any network the shared core describes
converts without code of its own. Registering the converters with skl2onnx
(:func:`register`) lets ``skl2onnx.to_onnx`` convert pipelines that mix
skmnist's estimators with scikit-learn's.

skl2onnx, onnx and onnxruntime are optional (the ``onnx`` extra): they are
imported inside the functions here, never by ``import skmnist``.
"""

import numbers

import numpy as np

from .._utils.files import atomic_path
from ..layers import _sequence

# The options skl2onnx's classifiers declare; its default parser for
# classifiers reads them (ZipMap or a plain tensor, labels or indices).
CLASSIFIER_OPTIONS = {
    "zipmap": [True, False, "columns"],
    "nocl": [True, False],
    "output_class_labels": [False, True],
}

# Pad takes its pads as an input from opset 11, Softmax normalises one axis
# (rather than a flattened 2-D view) from opset 13.
MIN_OPSET = 13


def _optional_imports():
    try:
        import onnx
        import skl2onnx
    except ImportError as exc:
        raise ImportError(
            f"exporting to ONNX needs skl2onnx and onnx ({exc}); install them "
            'with pip install "skmnist[onnx]"'
        ) from exc
    return onnx, skl2onnx


def _classifier_classes():
    """The registered network classes (skmnist's and users' own)."""
    from .._registry import registered_estimators
    from ..networks._base import BaseNetworkClassifier

    return [
        cls
        for cls in registered_estimators().values()
        if issubclass(cls, BaseNetworkClassifier)
    ]


def register():
    """Register skmnist's converters with skl2onnx.

    Afterwards ``skl2onnx.to_onnx`` and ``skl2onnx.convert_sklearn`` convert
    skmnist's classifiers and :class:`~skmnist.MNISTPreprocessor`, alone or
    in any pipeline whose other steps skl2onnx converts (a
    :class:`~sklearn.preprocessing.StandardScaler` or
    :class:`~sklearn.decomposition.PCA` in front of the classifier, say).
    The classifiers take skl2onnx's classifier options ``zipmap``, ``nocl``
    and ``output_class_labels``. :func:`to_onnx` calls this itself; calling it
    again is harmless.

    Examples
    --------
    >>> import numpy as np
    >>> import skl2onnx
    >>> import skmnist
    >>> from skmnist.export._onnx import register
    >>> register()
    >>> model = skmnist.MNISTPreprocessor().fit(np.zeros((1, 4)))
    >>> onx = skl2onnx.to_onnx(model, np.zeros((1, 4), dtype=np.float32))
    >>> [output.name for output in onx.graph.output]
    ['variable']
    """
    _, skl2onnx = _optional_imports()
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
    )

    from ..data._preprocessing import MNISTPreprocessor

    for cls in _classifier_classes():
        skl2onnx.update_registered_converter(
            cls,
            f"Skmnist{cls.__name__}",
            calculate_linear_classifier_output_shapes,
            _convert_classifier,
            options=CLASSIFIER_OPTIONS,
            parser=_parse_classifier,
        )
    skl2onnx.update_registered_converter(
        MNISTPreprocessor,
        "SkmnistMNISTPreprocessor",
        _preprocessor_shape,
        _convert_preprocessor,
    )


def _parse_classifier(scope, model, inputs, custom_parsers=None):
    """skl2onnx's classifier parser, with a ZipMap that onnxruntime accepts.

    ONNX's ZipMap takes float32 probabilities only, and skl2onnx's default
    parser hands it the input's precision, so a double input with the default
    ``zipmap=True`` would make a graph that onnxruntime refuses to load (it
    does so for skl2onnx's own ``MLPClassifier`` too). Here the network still
    computes in double and its label comes from the double probabilities; only
    the copy that ZipMap maps to the classes is cast to float32, as skl2onnx's
    tree classifiers do for double input. Every other case (no ZipMap,
    ``"columns"``, float input) is skl2onnx's own parser.
    """
    from skl2onnx._parse import (
        _apply_zipmap,
        _parse_sklearn_classifier,
        _parse_sklearn_simple_model,
    )
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    options = scope.get_options(model, {"zipmap": True})
    zipmap = options["zipmap"]
    plain_zipmap = not (isinstance(zipmap, bool) and not zipmap) and zipmap != "columns"
    if (
        not plain_zipmap
        or options.get("output_class_labels", False)  # skl2onnx refuses it
        or not isinstance(inputs[0].type, DoubleTensorType)
    ):
        return _parse_sklearn_classifier(
            scope, model, inputs, custom_parsers=custom_parsers
        )
    label, probabilities = _parse_sklearn_simple_model(
        scope, model, inputs, custom_parsers=custom_parsers
    )
    cast = scope.declare_local_operator("SklearnCast")
    cast.inputs.append(probabilities)
    float_probabilities = scope.declare_local_variable(
        "probabilities_float", FloatTensorType()
    )
    cast.outputs.append(float_probabilities)
    return _apply_zipmap(
        zipmap, scope, model, FloatTensorType(), [label, float_probabilities]
    )


def to_onnx(model, path=None, *, X=None, options=None, target_opset=None):
    """Convert a fitted skmnist model or pipeline to an ONNX model.

    The graph computes what the model's ``predict`` and ``predict_proba``
    compute, in the input's precision (float32 unless the input is float64),
    for a batch of any size. For a classifier it has skl2onnx's classifier
    outputs: by default ``output_label`` and ``output_probability`` (a list
    of ``{class: probability}`` maps, ZipMap); with
    ``options={"zipmap": False}``, ``label`` and ``probabilities`` (an
    ``(n, n_classes)`` tensor). Tools written for skl2onnx models read it
    unchanged. For float64 input the graph computes in float64 and its labels
    come from the float64 probabilities; the ZipMap's values are float32,
    the only precision ONNX's ZipMap takes (``zipmap=False`` or
    ``"columns"`` give float64 probabilities). It does not check its input
    the way the estimators do: pixel values outside [0, 255] are scaled like
    any others.

    Needs the ``onnx`` extra (skl2onnx, onnx; onnxruntime to run the
    result).

    Parameters
    ----------
    model : estimator or Pipeline
        A fitted :class:`~skmnist.MNISTMLPClassifier`,
        :class:`~skmnist.MNISTCNNClassifier`,
        :class:`~skmnist.MNISTPreprocessor`, or a
        :class:`~sklearn.pipeline.Pipeline` of them, possibly with
        scikit-learn steps that skl2onnx converts.

    path : str or path-like, default=None
        Also write the model to this file (atomically: an existing file is
        replaced only by a complete one).

    X : ndarray, default=None
        A sample of what the graph will take: its dtype and the shape after
        the first (batch) dimension set the graph's input ``X``. By default,
        a model that starts with :class:`~skmnist.MNISTPreprocessor` takes
        ``uint8`` images of the fitted ``image_shape_`` (``(n, 28, 28)``, as
        :func:`~skmnist.load_mnist` returns them), or flat rows when it has
        no image shape; any other model takes float32 rows of
        ``n_features_in_`` features. Pass ``X_test[:1].reshape(1, -1)`` for
        flat ``uint8`` rows, or float32 data for float input.

    options : dict, default=None
        skl2onnx conversion options, as for ``skl2onnx.to_onnx``: for
        example ``{"zipmap": False}`` for a plain probability tensor, or
        ``{"nocl": True}`` for class indices rather than labels.

    target_opset : int, default=None
        The ONNX opset to write (at least 13); skl2onnx's latest by default.

    Returns
    -------
    onnx_model : onnx.ModelProto
        The converted model.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime
    >>> import skmnist
    >>> rng = np.random.default_rng(0)
    >>> images = rng.integers(0, 256, size=(40, 28, 28), dtype=np.uint8)
    >>> labels = np.arange(40) % 4
    >>> pipe = skmnist.make_mnist_pipeline(
    ...     hidden_layer_sizes=(16,), epochs=1, random_state=0
    ... ).fit(images, labels)
    >>> onx = skmnist.to_onnx(pipe, options={"zipmap": False})
    >>> [(i.name, i.type.tensor_type.elem_type) for i in onx.graph.input]
    [('X', 2)]
    >>> session = onnxruntime.InferenceSession(onx.SerializeToString())
    >>> label, proba = session.run(["label", "probabilities"], {"X": images})
    >>> bool(np.all(label == pipe.predict(images)))
    True
    >>> bool(np.abs(proba - pipe.predict_proba(images)).max() < 1e-5)
    True
    """
    onnx, skl2onnx = _optional_imports()
    from sklearn.utils.validation import check_is_fitted

    _check_model(model)
    check_is_fitted(model)
    if target_opset is not None and target_opset < MIN_OPSET:
        raise ValueError(
            f"target_opset must be at least {MIN_OPSET} for skmnist's "
            f"converters, got {target_opset}"
        )
    register()
    sample = _default_sample(model) if X is None else _check_sample(X)
    onnx_model = skl2onnx.to_onnx(
        model,
        sample,
        options=options,
        target_opset=target_opset,
    )
    if path is not None:
        with atomic_path(path) as tmp:
            onnx.save_model(onnx_model, tmp)
    return onnx_model


def _check_model(model):
    from sklearn.pipeline import Pipeline

    from ..data._preprocessing import MNISTPreprocessor

    skmnist_types = (MNISTPreprocessor, *_classifier_classes())
    if isinstance(model, Pipeline):
        steps = [step for _, step in model.steps if step not in (None, "passthrough")]
        if not any(isinstance(step, skmnist_types) for step in steps):
            raise TypeError(
                "to_onnx converts pipelines with an skmnist step; this one has "
                f"{[type(step).__name__ for step in steps]} (use "
                "skl2onnx.to_onnx for pipelines of scikit-learn steps only)"
            )
        return
    if not isinstance(model, skmnist_types):
        names = ", ".join(cls.__name__ for cls in skmnist_types)
        raise TypeError(
            f"to_onnx converts a fitted {names} or a Pipeline of them, not a "
            f"{type(model).__name__}"
        )


def _first_step(model):
    from sklearn.pipeline import Pipeline

    while isinstance(model, Pipeline):
        model = next(
            step for _, step in model.steps if step not in (None, "passthrough")
        )
    return model


def _default_sample(model):
    """One zero row of the input the graph takes by default."""
    from ..data._preprocessing import MNISTPreprocessor

    first = _first_step(model)
    if isinstance(first, MNISTPreprocessor):
        shape = first.image_shape_ or (first.n_features_in_,)
        return np.zeros((1, *shape), dtype=np.uint8)
    return np.zeros((1, first.n_features_in_), dtype=np.float32)


def _check_sample(X):
    if not isinstance(X, np.ndarray):
        raise TypeError(f"X must be a NumPy array, not {type(X).__name__}")
    if X.ndim not in (2, 3) or X.shape[0] == 0:
        raise ValueError(
            "X must be a non-empty sample of rows (n, n_features) or images "
            f"(n, h, w), got shape {X.shape}"
        )
    if not (np.issubdtype(X.dtype, np.number) and X.dtype.kind in "uif"):
        raise ValueError(f"X must hold integers or floats, not {X.dtype}")
    return X[:1]


# ---------------------------------------------------------------------------
# The converters. skl2onnx calls them with a scope (unique names, options),
# the operator (its raw_operator is the fitted estimator, its inputs and
# outputs the graph variables) and a container that collects nodes and
# initializers.


class _Graph:
    """Adds nodes and initializers to a skl2onnx container, with unique names."""

    def __init__(self, scope, container, onnx_dtype):
        self.scope = scope
        self.container = container
        self.dtype = onnx_dtype  # float or double: the precision of the pass

    def constant(self, seed, array):
        from onnx import TensorProto, numpy_helper

        name = self.scope.get_unique_variable_name(seed)
        if array.dtype == object:  # strings: ONNX stores them as values, not bytes
            content = array.ravel().tolist()
            self.container.add_initializer(
                name, TensorProto.STRING, list(array.shape), content
            )
            return name
        tensor = numpy_helper.from_array(np.ascontiguousarray(array), name)
        self.container.add_initializer(name, tensor.data_type, array.shape, tensor)
        return name

    def weight(self, seed, array):
        """A kernel or bias in the pass's precision."""
        from onnx import helper

        numpy_dtype = helper.tensor_dtype_to_np_dtype(self.dtype)
        return self.constant(seed, np.asarray(array, dtype=numpy_dtype))

    def node(self, op_type, inputs, output=None, *, domain="", **attrs):
        if output is None:
            output = self.scope.get_unique_variable_name(op_type.lower())
        self.container.add_node(
            op_type,
            inputs,
            [output],
            name=self.scope.get_unique_operator_name(op_type),
            op_domain=domain,
            **attrs,
        )
        return output


def _check_opset(container):
    if container.target_opset is not None and container.target_opset < MIN_OPSET:
        raise ValueError(
            f"skmnist's ONNX converters need opset {MIN_OPSET} or later, not "
            f"{container.target_opset}"
        )


def _pass_dtype(variable):
    """Double for a double input, float for anything else (as skl2onnx does)."""
    from onnx import TensorProto
    from skl2onnx.common.data_types import DoubleTensorType

    if isinstance(variable.type, DoubleTensorType):
        return TensorProto.DOUBLE
    return TensorProto.FLOAT


def _preprocessor_shape(operator):
    from skl2onnx.common.data_types import FloatTensorType

    model = operator.raw_operator
    if len(operator.inputs) != 1:
        raise ValueError(
            f"MNISTPreprocessor takes one input, got {len(operator.inputs)}"
        )
    shape = operator.inputs[0].type.shape
    features = shape[1:]
    expected = [[model.n_features_in_]]
    if model.image_shape_ is not None:
        expected.append(list(model.image_shape_))
    if features not in expected:
        raise ValueError(
            f"MNISTPreprocessor was fitted on {model.n_features_in_} pixels "
            f"(image shape {model.image_shape_}); the ONNX input has shape "
            f"{shape} (pass images of the fitted shape or flat rows)"
        )
    operator.outputs[0].type = FloatTensorType([shape[0], model.n_features_in_])


def _convert_preprocessor(scope, operator, container):
    """``X.reshape(n, -1)``, cast to float32, divided by 255 (not times 1/255).

    Dividing in float32 rounds exactly as :meth:`MNISTPreprocessor.transform`
    does, so the graph's output equals it bit for bit.
    """
    from onnx import TensorProto

    from ..data._preprocessing import PIXEL_MAX

    _check_opset(container)
    model = operator.raw_operator
    graph = _Graph(scope, container, TensorProto.FLOAT)
    X = graph.node("Cast", [operator.inputs[0].full_name], to=TensorProto.FLOAT)
    # 0 keeps the batch dimension, so an empty batch reshapes too.
    shape = graph.constant("shape", np.array([0, model.n_features_in_], np.int64))
    rows = graph.node("Reshape", [X, shape])
    scale = graph.constant("pixel_max", np.array(PIXEL_MAX, np.float32))
    graph.node("Div", [rows, scale], operator.outputs[0].full_name)


def _convert_classifier(scope, operator, container):
    """The network's forward pass, then the label of the most probable class."""
    from onnx import TensorProto

    from ..networks._architecture import Architecture

    _check_opset(container)
    model = operator.raw_operator
    network = Architecture(model.architecture_, model.n_features_in_)
    network.check_weights(model.coefs_, model.intercepts_, len(model.classes_))
    output_dtype = _pass_dtype(operator.inputs[0])
    dtype = output_dtype
    if any(
        sub.onnx_float32_only for layer in network.layers for sub in layer.sublayers()
    ):
        # onnxruntime's CPU convolutions and poolings are float32 only: such a
        # network computes in float32 and returns double probabilities for
        # double input.
        dtype = TensorProto.FLOAT
    graph = _Graph(scope, container, dtype)
    X = graph.node("Cast", [operator.inputs[0].full_name], to=dtype)
    numpy_dtype = np.float32 if dtype == TensorProto.FLOAT else np.float64
    weights = network.inference_weights(model.coefs_, model.intercepts_, numpy_dtype)
    proba = _sequence.to_onnx(network.steps, graph, X, iter(weights))
    if dtype != output_dtype:
        proba = graph.node("Cast", [proba], to=output_dtype)
    graph.node("Identity", [proba], operator.outputs[1].full_name)

    best = graph.node("ArgMax", [proba], axis=1, keepdims=0)
    if scope.get_options(model, {"nocl": False})["nocl"]:
        graph.node("Identity", [best], operator.outputs[0].full_name)
        return
    classes = _onnx_classes(model.classes_)
    graph.node(
        "Gather",
        [graph.constant("classes", classes), best],
        operator.outputs[0].full_name,
    )


def _onnx_classes(classes):
    """``classes_`` as the int64 or string tensor skl2onnx labels are.

    skl2onnx writes integer (and integral float, and bool) labels as int64
    and anything else as strings.
    """
    classes = np.asarray(classes)
    if classes.dtype.kind in "biu":
        return classes.astype(np.int64)
    if classes.dtype.kind == "f":
        if not np.all(classes == np.round(classes)):
            raise ValueError(
                "ONNX labels are integers or strings; classes_ has non-integral "
                f"floats {classes.tolist()!r} (use the 'nocl' option for class "
                "indices)"
            )
        return classes.astype(np.int64)
    if all(isinstance(label, numbers.Integral) for label in classes):
        return classes.astype(np.int64)
    return np.array([str(label).encode("utf-8") for label in classes], dtype=object)
