"""A network as data (skmnist.networks._architecture): shapes, weights, costs.

How a list of layers becomes ``architecture_`` (rows read as images, the
output layer added), what a configuration read from a file must satisfy, the
budget a loaded network must keep, and prediction in chunks.
"""

import numpy as np
import pytest

import skmnist
from skmnist.layers import (
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool2D,
    MaxPool2D,
    Residual,
    image_side,
)
from skmnist.networks import _architecture
from skmnist.networks._architecture import Architecture, network_configs


def test_image_side_takes_the_smallest_square_and_frames_small_images():
    assert image_side(784, min_side=10) == (28, 0)
    assert image_side(785, min_side=10) == (29, 0)
    assert image_side(64, min_side=10) == (8, 1)
    assert image_side(2, min_side=10) == (2, 4)
    assert image_side(1, min_side=1) == (1, 0)


def test_rows_become_images_framed_to_what_the_layers_need():
    # LeNet-5: 5x5 "same", pool 2, 5x5 valid, pool 2 need 12 x 12 at least.
    configs = network_configs(skmnist.networks.lenet5(), 64, 10)
    assert configs[0] == {"kind": "image", "side": 8, "padding": 2}
    assert configs[-1] == {"kind": "dense", "units": 10, "activation": "softmax"}
    assert network_configs(skmnist.networks.lenet5(), 784, 10)[0]["padding"] == 0
    # Layers of rows only: no image layer.
    assert network_configs([Dense(4), Dropout(0.1)], 5, 2)[0]["kind"] == "dense"
    assert network_configs([], 5, 2) == [
        {"kind": "dense", "units": 2, "activation": "softmax"}
    ]


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        (
            [Conv2D(8, 3, padding="same"), Residual([Conv2D(4, 3)]), Flatten()],
            r"layer 1 \(Residual\): its layers turn inputs of shape \(\d+, \d+, 8\)",
        ),
        ([Conv2D(8, 3)], "end them with Flatten"),
        ([Conv2D(8, 3), Dense(4)], r"layer 1 \(Dense\): needs rows"),
        ([Dense(4), Conv2D(2, 3)], r"layer 1 \(Conv2D\): needs images"),
    ],
)
def test_networks_that_do_not_fit_together_are_refused_naming_the_layer(
    layers, message
):
    with pytest.raises(ValueError, match=message):
        network_configs(layers, 64, 3)


@pytest.mark.parametrize(
    ("configs", "message"),
    [
        ([{"kind": "lstm"}], "unknown layer kind 'lstm'"),
        ([{"kind": "dense", "units": 0}], "units must be a positive integer"),
        ([{"kind": "dense", "units": 3, "activation": "gelu"}], "activation"),
        ([{"kind": "flatten", "extra": 1}], r"no parameters \['extra'\]"),
        ([{"kind": "conv2d", "filters": 2, "kernel_size": [3, 3]}], "needs images"),
        ([{"kind": "dense", "units": True}], "positive integer"),
        ([], "non-empty"),
        ("dense", "non-empty"),
        ([["dense"]], "not a layer configuration"),
    ],
)
def test_configurations_this_skmnist_cannot_run_are_refused(configs, message):
    with pytest.raises(ValueError, match=message):
        Architecture(configs, 4)


def test_configurations_of_earlier_versions_fill_in_new_parameters():
    old = {"kind": "conv2d", "filters": 2, "kernel_size": [3, 3], "activation": "relu"}
    image = {"kind": "image", "side": 5, "padding": 0}
    network = Architecture(
        [image, old, {"kind": "max_pool2d", "pool_size": [2, 2]}, {"kind": "flatten"}],
        25,
    )
    assert network.layers[1] == Conv2D(2, 3, activation="relu")
    assert network.layers[2].strides == (2, 2)


def _weights(network, rng):
    return [
        (rng.normal(size=coef), rng.normal(size=intercept))
        for coef, intercept in network.weight_shapes()
    ]


def test_check_weights_names_what_does_not_fit():
    network = Architecture(network_configs([Dense(4, activation="relu")], 5, 3), 5)
    pairs = _weights(network, np.random.RandomState(0))
    coefs, intercepts = [c for c, _ in pairs], [b for _, b in pairs]
    network.check_weights(coefs, intercepts, 3)
    with pytest.raises(ValueError, match=r"coefs_\[1\] has shape"):
        network.check_weights([coefs[0], coefs[1][:2]], intercepts, 3)
    with pytest.raises(ValueError, match="NaN or infinite"):
        network.check_weights([coefs[0] * np.inf, coefs[1]], intercepts, 3)
    with pytest.raises(ValueError, match="dense softmax layer of 4 units"):
        network.check_weights(coefs, intercepts, 4)
    with pytest.raises(ValueError, match="2 weighted layers"):
        network.check_weights(coefs[:1], intercepts[:1], 3)
    with pytest.raises(ValueError, match="not an array of floats"):
        network.check_weights([coefs[0].astype(int), coefs[1]], intercepts, 3)


def test_a_negative_moving_variance_is_refused():
    network = Architecture(
        network_configs([Dense(4), skmnist.layers.BatchNorm()], 5, 3), 5
    )
    pairs = _weights(network, np.random.RandomState(0))
    coefs, intercepts = [c for c, _ in pairs], [b for _, b in pairs]
    coefs[1][2] = -1.0
    with pytest.raises(ValueError, match="moving variance is negative"):
        network.check_weights(coefs, intercepts, 3)


@pytest.mark.parametrize(
    "configs",
    [
        # A 4096 x 4096 max-pool over a 4096 x 4096 image (rows of 2**24).
        [
            {"kind": "image", "side": 4096, "padding": 0},
            {"kind": "max_pool2d", "pool_size": [4096, 4096]},
            {"kind": "flatten"},
        ],
        # A wide 1 x 1 convolution into a 14 x 14 one.
        [
            {"kind": "image", "side": 28, "padding": 0},
            {"kind": "conv2d", "filters": 6000, "kernel_size": [1, 1]},
            {"kind": "conv2d", "filters": 10, "kernel_size": [14, 14]},
            {"kind": "flatten"},
        ],
        # Fields written as NumPy integers count as what they are.
        [
            {"kind": "image", "side": np.int64(28), "padding": np.int64(3000)},
            {"kind": "flatten"},
        ],
    ],
)
def test_networks_beyond_the_budget_are_refused_before_anything_runs(configs):
    n_features = 4096**2 if configs[0]["side"] == 4096 else 784
    network = Architecture(
        [*configs, {"kind": "dense", "units": 2, "activation": "softmax"}], n_features
    )
    with pytest.raises(ValueError, match="skmnist loads networks of at most"):
        network.check_budget()


def test_the_presets_and_the_named_networks_are_well_within_the_budget():
    for name in skmnist.registered_networks():
        clf = skmnist.make_mnist_pipeline(name)[-1]
        cost = Architecture(clf._architecture(784, 10), 784).cost()
        assert cost.multiply_adds < _architecture.MAX_MULTIPLY_ADDS / 20, name
        assert cost.values < _architecture.MAX_VALUES / 20, name


def test_long_batches_go_in_chunks_with_the_same_result(monkeypatch):
    layers = [Conv2D(2, 3, activation="relu"), MaxPool2D(2), GlobalAvgPool2D()]
    network = Architecture(network_configs(layers, 36, 3), 36)
    weights = network.inference_weights(
        *zip(*_weights(network, np.random.RandomState(1)), strict=True), np.float64
    )
    X = np.random.RandomState(2).rand(50, 36)
    whole = network.forward(X, weights)
    per_row = network.cost().values * 8
    monkeypatch.setattr(_architecture, "CHUNK_BYTES", 7 * per_row)
    assert network.chunk_rows(np.float64) == 7
    np.testing.assert_allclose(network.forward(X, weights), whole, rtol=1e-12)
    monkeypatch.setattr(_architecture, "CHUNK_BYTES", 1)
    assert network.chunk_rows(np.float64) == 1  # never fewer than one row
    np.testing.assert_allclose(network.forward(X, weights), whole, rtol=1e-12)


def test_batch_normalisation_folds_into_a_linear_layer_before_it():
    from skmnist.layers import BatchNorm

    def weights_of(layers):
        network = Architecture(network_configs(layers, 25, 2), 25)
        rng = np.random.RandomState(0)
        pairs = [
            (rng.uniform(0.5, 1.5, size=coef), rng.normal(size=intercept))
            for coef, intercept in network.weight_shapes()
        ]
        return network.inference_weights(
            [c for c, _ in pairs], [b for _, b in pairs], np.float64
        )

    folded = weights_of([Conv2D(3, 3), BatchNorm(), Flatten()])
    assert folded[1] is None  # the convolution does its work
    kept = weights_of([Conv2D(3, 3, activation="relu"), BatchNorm(), Flatten()])
    assert kept[1] is not None
    inner = weights_of([Residual([Dense(25), BatchNorm()]), Dense(3)])
    assert inner[1] is None
