"""Each NumPy layer kernel against the Keras layer it stands for, on random data.

A network is a list of layer descriptions; ``_network.build_model`` turns
each into Keras layers and ``_inference.forward`` runs each with its own
NumPy kernel. Here every kind is compared on its own (and in the
combinations whose kernels cooperate, such as a convolution whose activation
is applied after the pooling that follows it), in float32 and float64.
"""

import numpy as np
import pytest

from skmnist.networks import _inference
from skmnist.networks._architecture import check_weights, image_side, weight_shapes
from skmnist.training import _keras as _network

RNG = np.random.RandomState(0)


def _keras_output(architecture, n_features, weights, X):
    """The Keras model of ``architecture`` with ``weights``, applied to ``X``."""
    model = _network.build_model(
        architecture, n_features, np.random.RandomState(1), "t"
    )
    _network.set_weights(model, [w for w, _ in weights], [b for _, b in weights])
    return np.asarray(model(X.astype(np.float32), training=False))


def _random_weights(architecture, n_features, dtype=np.float64):
    return [
        (
            RNG.normal(scale=0.5, size=kernel).astype(dtype),
            RNG.normal(scale=0.5, size=bias).astype(dtype),
        )
        for kernel, bias in weight_shapes(architecture, n_features)
    ]


def _softmax_head(n_inputs_layers):
    return [*n_inputs_layers, {"kind": "dense", "units": 3, "activation": "softmax"}]


IMAGE_CASES = {
    "square 784": (784, {"kind": "image", "side": 28, "padding": 0}),
    "padded 10 to 4x4, framed by 2": (10, {"kind": "image", "side": 4, "padding": 2}),
}


@pytest.mark.parametrize("case", sorted(IMAGE_CASES))
def test_image_kernel_equals_keras(case):
    n_features, layer = IMAGE_CASES[case]
    X = RNG.rand(5, n_features)
    architecture = _softmax_head([layer, {"kind": "flatten"}])
    weights = _random_weights(architecture, n_features)
    np.testing.assert_allclose(
        _inference.forward(X, architecture, weights),
        _keras_output(architecture, n_features, weights, X),
        atol=1e-5,
    )
    images = _inference.KERNELS["image"](X, layer)
    side = layer["side"] + 2 * layer["padding"]
    assert images.shape == (5, side, side, 1)
    assert images.sum() == pytest.approx(X.sum())  # zeros added, nothing moved out


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
@pytest.mark.parametrize("pooled", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_and_max_pool2d_kernels_equal_keras(activation, pooled, dtype):
    # Two convolutions: one input channel (the first layer) and several.
    architecture = [{"kind": "image", "side": 12, "padding": 0}]
    for filters, kernel in [(3, [3, 3]), (4, [2, 3])]:
        architecture.append(
            {
                "kind": "conv2d",
                "filters": filters,
                "kernel_size": kernel,
                "activation": activation,
            }
        )
        if pooled:
            architecture.append({"kind": "max_pool2d", "pool_size": [2, 2]})
    architecture = _softmax_head([*architecture, {"kind": "flatten"}])
    X = RNG.rand(7, 144).astype(dtype)
    weights = _random_weights(architecture, 144, dtype)
    proba = _inference.forward(X, architecture, weights)
    assert proba.dtype == dtype
    np.testing.assert_allclose(
        proba, _keras_output(architecture, 144, weights, X), atol=1e-5
    )


def test_max_pool2d_drops_edges_that_fill_no_window():
    Z = RNG.rand(2, 7, 5, 3)
    pooled = _inference.KERNELS["max_pool2d"](Z, {"pool_size": [3, 2]})
    assert pooled.shape == (2, 2, 2, 3)
    assert pooled[1, 1, 0, 2] == Z[1, 3:6, 0:2, 2].max()


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
def test_dense_kernel_equals_keras(activation):
    architecture = _softmax_head(
        [{"kind": "dense", "units": 6, "activation": activation}]
    )
    X = RNG.rand(9, 5)
    weights = _random_weights(architecture, 5)
    np.testing.assert_allclose(
        _inference.forward(X, architecture, weights),
        _keras_output(architecture, 5, weights, X),
        atol=1e-5,
    )


def test_training_only_layers_are_inactive_at_prediction():
    base = [
        {"kind": "image", "side": 6, "padding": 1},
        {"kind": "conv2d", "filters": 2, "kernel_size": [3, 3], "activation": "relu"},
        {"kind": "flatten"},
    ]
    noisy = [
        base[0],
        {"kind": "random_shift", "max_shift": 2},
        base[1],
        base[2],
        {"kind": "dropout", "rate": 0.5},
    ]
    X = RNG.rand(4, 36)
    weights = _random_weights(_softmax_head(base), 36)
    expected = _inference.forward(X, _softmax_head(base), weights)
    np.testing.assert_array_equal(
        _inference.forward(X, _softmax_head(noisy), weights), expected
    )
    np.testing.assert_allclose(
        _keras_output(_softmax_head(noisy), 36, weights, X), expected, atol=1e-5
    )


def test_long_batches_go_in_chunks_with_the_same_result(monkeypatch):
    architecture = _softmax_head(
        [
            {"kind": "image", "side": 5, "padding": 0},
            {
                "kind": "conv2d",
                "filters": 2,
                "kernel_size": [2, 2],
                "activation": "relu",
            },
            {"kind": "flatten"},
        ]
    )
    X = RNG.rand(25, 25)
    weights = _random_weights(architecture, 25)
    whole = _inference.forward(X, architecture, weights)
    monkeypatch.setattr(_inference, "CONVOLUTION_CHUNK_ROWS", 4)
    np.testing.assert_allclose(
        _inference.forward(X, architecture, weights), whole, rtol=1e-12
    )


def test_image_side_takes_the_smallest_square_and_frames_small_images():
    assert image_side(784, min_side=10) == (28, 0)
    assert image_side(785, min_side=10) == (29, 0)
    assert image_side(64, min_side=10) == (8, 1)
    assert image_side(2, min_side=10) == (2, 4)
    assert image_side(1, min_side=1) == (1, 0)


@pytest.mark.parametrize(
    ("architecture", "message"),
    [
        ([{"kind": "lstm"}], "unknown layer kind"),
        ([{"kind": "dense", "units": 0, "activation": "relu"}], "bad units"),
        ([{"kind": "dense", "units": 3, "activation": "gelu"}], "bad activation"),
        ([{"kind": "flatten", "extra": 1}], "fields"),
        (
            [
                {
                    "kind": "conv2d",
                    "filters": 2,
                    "kernel_size": [3, 3],
                    "activation": "relu",
                }
            ],
            "needs images",
        ),
        ([{"kind": "dense", "units": 3, "activation": "relu"}], "last layer"),
        ([], "non-empty"),
    ],
)
def test_descriptions_this_skmnist_cannot_run_are_refused(architecture, message):
    with pytest.raises(ValueError, match=message):
        weight_shapes(architecture, 4)


def test_check_weights_names_what_does_not_fit():
    architecture = _softmax_head([{"kind": "dense", "units": 4, "activation": "relu"}])
    weights = _random_weights(architecture, 5)
    coefs, intercepts = [w for w, _ in weights], [b for _, b in weights]
    check_weights(architecture, 5, 3, coefs, intercepts)
    with pytest.raises(ValueError, match=r"coefs_\[1\] has shape"):
        check_weights(architecture, 5, 3, [coefs[0], coefs[1][:2]], intercepts)
    with pytest.raises(ValueError, match="NaN or infinite"):
        check_weights(architecture, 5, 3, [coefs[0] * np.inf, coefs[1]], intercepts)
    with pytest.raises(ValueError, match="3 units for 4 classes"):
        check_weights(architecture, 5, 4, coefs, intercepts)
    with pytest.raises(ValueError, match="2 weighted layers"):
        check_weights(architecture, 5, 3, coefs[:1], intercepts[:1])
