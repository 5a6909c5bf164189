"""Each layer kind against the Keras layer it stands for, on random data.

Every case is a small network around one kind (the image layer and the
softmax output are added as a classifier adds them). Its NumPy pass, in
float32 and float64, and its ONNX graph, run by onnxruntime, must give what
the Keras model built from the same configuration and weights gives. Every
registered kind of skmnist's own must have a case here.
"""

import numpy as np
import onnxruntime
import pytest

import skmnist
from skmnist.layers import (
    Activation,
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool2D,
    Image,
    MaxPool2D,
    RandomShift,
    Residual,
    registered_kinds,
)
from skmnist.networks._architecture import Architecture, network_configs

N_CLASSES = 3

# name -> (layers, n_features)
CASES = {
    **{
        f"dense {activation}": ([Dense(5, activation=activation)], 7)
        for activation in ("relu", "tanh", "logistic", "identity", "softmax")
    },
    "activation on rows": ([Dense(4), Activation("tanh")], 6),
    "softmax over channels": ([Conv2D(3, 2), Activation("softmax"), Flatten()], 25),
    "dropout": ([Dense(4, activation="relu"), Dropout(0.5)], 6),
    "flatten of rows is the identity": ([Dense(4), Flatten()], 6),
    "image padded and framed": ([Conv2D(2, 3, activation="relu"), Flatten()], 10),
    **{
        f"conv2d {padding} stride {stride} {activation}": (
            [
                Conv2D(3, (3, 2), strides=stride, padding=padding),
                Conv2D(4, 3, strides=stride, padding=padding, activation=activation),
                Flatten(),
            ],
            144,
        )
        for padding in ("valid", "same")
        for stride in (1, 2)
        for activation in ("relu", "logistic")
    },
    **{
        f"conv2d {activation} into max_pool2d": (
            [Conv2D(3, 3, activation=activation), MaxPool2D(2), Flatten()],
            100,
        )
        for activation in ("relu", "tanh", "identity", "softmax")
    },
    "max_pool2d tiling, edges dropped": (
        [Conv2D(2, 2), MaxPool2D((3, 2)), Flatten()],
        64,
    ),
    "max_pool2d overlapping": ([Conv2D(2, 2), MaxPool2D(3, strides=2), Flatten()], 81),
    "max_pool2d gapped": ([Conv2D(2, 2), MaxPool2D(2, strides=3), Flatten()], 81),
    "avg_pool2d tiling": (
        [Conv2D(2, 2, activation="tanh"), AvgPool2D(2), Flatten()],
        64,
    ),
    "avg_pool2d overlapping": ([Conv2D(2, 2), AvgPool2D(3, strides=2), Flatten()], 81),
    "global_avg_pool2d": ([Conv2D(4, 3, activation="relu"), GlobalAvgPool2D()], 49),
    "batch_norm on images": ([Conv2D(3, 3), BatchNorm(), Flatten()], 36),
    "batch_norm on rows": ([Dense(5), BatchNorm(epsilon=0.01)], 6),
    "batch_norm after an activation": (
        [Conv2D(3, 3, activation="relu"), BatchNorm(), Flatten()],
        36,
    ),
    "random_shift is inactive at prediction": (
        [RandomShift(2), Conv2D(2, 3, activation="relu"), Flatten()],
        36,
    ),
    "residual on images": (
        [
            Conv2D(4, 3, padding="same", activation="relu"),
            Residual([Conv2D(4, 3, padding="same"), BatchNorm(), Activation("relu")]),
            GlobalAvgPool2D(),
        ],
        49,
    ),
    "residual on rows": ([Dense(6), Residual([Dense(6), Activation("tanh")])], 5),
    "residual of pass-through layers": ([Dense(4), Residual([Dropout(0.3)])], 5),
    "lenet5": (skmnist.networks.lenet5(), 784),
}


def _weights(architecture, rng):
    """Random weights for every weighted layer (a positive variance for BatchNorm)."""
    coefs, intercepts = [], []
    for layer, shape in architecture.weighted_layers():
        coef_shape, intercept_shape = layer.weight_shapes(shape)
        coef = rng.normal(scale=0.5, size=coef_shape)
        if isinstance(layer, BatchNorm):  # its moving variance
            coef[2] = rng.uniform(0.5, 2.0, size=coef_shape[1])
        coefs.append(coef)
        intercepts.append(rng.normal(scale=0.5, size=intercept_shape))
    return coefs, intercepts


def _fitted(layers, n_features, seed=0):
    """A NetworkClassifier of ``layers`` given random weights, without training."""
    rng = np.random.RandomState(seed)
    configs = network_configs(layers, n_features, N_CLASSES)
    architecture = Architecture(configs, n_features)
    clf = skmnist.NetworkClassifier(layers=layers)
    clf.architecture_ = configs
    clf.n_features_in_ = n_features
    clf.classes_ = np.arange(N_CLASSES)
    clf.coefs_, clf.intercepts_ = _weights(architecture, rng)
    return clf


def _keras_proba(clf, X):
    model = clf.to_keras()
    return np.asarray(model(X.astype(np.float32), training=False))


@pytest.fixture(params=sorted(CASES))
def case(request):
    layers, n_features = CASES[request.param]
    clf = _fitted(layers, n_features)
    X = np.random.RandomState(1).rand(6, n_features)
    return clf, X


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_pass_equals_keras(case, dtype):
    clf, X = case
    proba = clf.predict_proba(X.astype(dtype))
    assert proba.dtype == dtype
    np.testing.assert_allclose(proba, _keras_proba(clf, X), rtol=0, atol=2e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_onnx_graph_equals_keras(case, dtype):
    clf, X = case
    onx = skmnist.to_onnx(clf, X=X[:1].astype(dtype), options={"zipmap": False})
    session = onnxruntime.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    label, proba = session.run(["label", "probabilities"], {"X": X.astype(dtype)})
    np.testing.assert_allclose(proba, _keras_proba(clf, X), rtol=0, atol=2e-5)
    np.testing.assert_array_equal(label, clf.predict(X.astype(dtype)))


def test_every_kind_of_skmnist_has_a_case():
    used = {
        type(sub).kind
        for layers, _ in CASES.values()
        for layer in [Image(1), *layers]
        for sub in layer.sublayers()
    }
    own = {
        kind
        for kind, cls in registered_kinds().items()
        if cls.__module__.startswith("skmnist.")
    }
    assert own <= used, f"layer kinds without a case: {sorted(own - used)}"


def test_max_pool2d_drops_edges_that_fill_no_window():
    Z = np.random.RandomState(0).rand(2, 7, 5, 3)
    pooled = MaxPool2D((3, 2)).forward(Z, iter([]))
    assert pooled.shape == (2, 2, 2, 3)
    assert pooled[1, 1, 0, 2] == Z[1, 3:6, 0:2, 2].max()


def test_no_kind_changes_its_input():
    # Prediction applies activations in place, on arrays a layer made itself:
    # never on its input (the caller's data, or a residual block's skip).
    clf = _fitted(
        [Activation("relu"), Residual([Activation("tanh"), BatchNorm()]), Dense(3)], 5
    )
    X = np.random.RandomState(2).randn(4, 5)
    before = X.copy()
    clf.predict_proba(X)
    np.testing.assert_array_equal(X, before)


def test_conv2d_same_padding_keeps_ceil_side_over_stride():
    assert Conv2D(2, 3, strides=2, padding="same").output_shape((7, 7, 1)) == (4, 4, 2)
    assert Conv2D(2, 3, strides=2).output_shape((7, 7, 1)) == (3, 3, 2)
    with pytest.raises(ValueError, match="larger than its input"):
        Conv2D(2, 5).output_shape((4, 4, 1))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Dense(0), "units must be a positive integer"),
        (lambda: Dense(3, activation="gelu"), "activation must be one of"),
        (lambda: Conv2D(2, (3, 3, 3)), "kernel_size must be"),
        (lambda: Conv2D(2, 3, padding="full"), "padding must be one of"),
        (lambda: Dropout(1.0), r"rate must be a number in \[0, 1\)"),
        (lambda: BatchNorm(epsilon=0), "epsilon must be a positive number"),
        (lambda: MaxPool2D(True), "pool_size must be"),
        (lambda: Residual([]), "at least one layer"),
        (lambda: Residual(Dense(3)), "must be a list of layers"),
    ],
)
def test_bad_parameters_are_refused_when_the_layer_is_made(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_numpy_integers_are_integers():
    layer = Conv2D(np.int64(4), np.int32(3), strides=np.uint8(2))
    assert layer.get_config()["kernel_size"] == [3, 3]
    assert type(layer.filters) is int and type(layer.strides[0]) is int


def test_keras_names_for_activations_are_accepted():
    assert Dense(3, activation="sigmoid") == Dense(3, activation="logistic")
    assert Dense(3, activation="linear").activation == "identity"


def test_configurations_round_trip_and_compare():
    for layers, _ in CASES.values():
        for layer in layers:
            again = skmnist.layers.layer_from_config(layer.get_config())
            assert again == layer and repr(again) == repr(layer)
    assert Conv2D(8, 3) != Conv2D(8, 3, padding="same")
    assert repr(Conv2D(8, 3)) == "Conv2D(filters=8, kernel_size=(3, 3))"
    assert (
        repr(MaxPool2D(3, strides=2)) == "MaxPool2D(pool_size=(3, 3), strides=(2, 2))"
    )
