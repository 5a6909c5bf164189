"""JAX's training step: its own calls of Keras's layers compute what Keras's do.

The step runs the Keras layers of skmnist's ``Conv2D`` as one matrix product
of the unfolded windows, and of ``MaxPool2D`` and ``AvgPool2D`` with tiling
windows as reductions of a reshape (each kind's ``jax_training_call``),
inside ``model.stateless_call``'s scope of values
(``skmnist/training/_step_jax.py``). These tests compare them with Keras's
own on the JAX backend, in a process of their own (a process trains on one
backend, and this one may be another), so they run in every pass.
"""

import pytest
from _helpers import measure_on_backend

NETWORKS = ("mlp", "cnn", "lenet5", "resnet", "uneven_padding")

_MEASURE = """
import json, sys
import jax
import jax.numpy as jnp
import keras
import numpy as np
assert keras.backend.backend() == "jax", keras.backend.backend()
sys.path.insert(0, "tests")
from _networks import single_layer_cases, small_network, uneven_padding_network
from sklearn.datasets import load_digits
from skmnist.training import _step_jax as step

X, y = load_digits(return_X_y=True)
X = (X / 16).astype(np.float32)
x = jnp.asarray(X[:50])


def gap(a, b):
    return max([float(jnp.abs(u - v).max()) for u, v in zip(a, b)] + [0.0])


def with_gradients(call, trainable):
    # The output, the state after the call, and the gradients of a weighted
    # sum of the output.
    def weighted(trainable):
        proba, state = call(trainable)
        weights = jnp.linspace(-1, 1, proba.size).reshape(proba.shape)
        return jnp.sum(proba * weights), (proba, state)

    (_, (proba, state)), grads = jax.value_and_grad(weighted, has_aux=True)(
        trainable
    )
    return proba, state, grads


out = {}
for name in sys.argv[1].split(","):
    if name == "uneven_padding":
        clf = uneven_padding_network()
    else:
        clf = small_network(name, epochs=1)
    model = clf.fit(X[:64], y[:64])._keras_model()
    for layer in model.layers:  # the masks are drawn the same either way
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0
    trainable = [v.value for v in model.trainable_variables]
    start = [v.value for v in model.non_trainable_variables]
    forward = step.training_forward(model)
    keras_call = with_gradients(
        lambda t: model.stateless_call(t, start, x, training=True), trainable
    )
    kinds_call = with_gradients(
        lambda t: step._stateless_training_call(model, forward, t, start, x),
        trainable,
    )
    out[name] = {
        "lean": sorted(forward.lean_layers),
        "convolutions_and_tiling_pools": sorted(
            layer.name
            for layer in model.layers
            if type(layer) is keras.layers.Conv2D
            or (
                type(layer)
                in (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)
                and tuple(layer.strides) == tuple(layer.pool_size)
            )
        ),
        "output_gap": gap([kinds_call[0]], [keras_call[0]]),
        "state_gap": gap(kinds_call[1], keras_call[1]),
        "state_moved": gap(keras_call[1], start),
        "gradient_gap": gap(kinds_call[2], keras_call[2]),
        "gradient_size": gap(keras_call[2], [0 * g for g in keras_call[2]]),
        "shape": list(kinds_call[0].shape),
    }
# Single layers: the kind's call against Keras's (None: Keras's own runs).
images, cases = single_layer_cases()
images = jnp.asarray(images)
out["layers"] = []
for kind, layer in cases:
    call = kind.jax_training_call(layer)
    out["layers"].append(
        None if call is None else gap([call(images)], [layer(images)])
    )
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def measured():
    return measure_on_backend("jax", _MEASURE, ",".join(NETWORKS))


def test_single_layers_compute_what_keras_computes(measured):
    # Strided "valid" and uneven "same" convolutions, no bias, tiling pools
    # that leave edges out: to float32's rounding. Pooling windows that do
    # not tile (the fifth case) are Keras's own.
    gaps = measured["layers"]
    assert gaps[4] is None
    assert all(gap is not None and gap <= 1e-5 for i, gap in enumerate(gaps) if i != 4)


@pytest.mark.parametrize("name", NETWORKS)
def test_the_training_forward_pass_computes_what_keras_computes(measured, name):
    forward = measured[name]
    assert forward["shape"] == [50, 10]
    # Every convolution and tiling pooling runs by its kind's JAX call, and
    # only those: a network without them (the MLP) is Keras's own call.
    assert forward["lean"] == forward["convolutions_and_tiling_pools"]
    assert bool(forward["lean"]) == (name != "mlp")
    # Keras's values to float32's rounding (the products sum in another
    # order): about 1e-8 here, on probabilities and gradients of about 0.1.
    assert forward["output_gap"] <= 1e-6
    assert 0 < forward["gradient_size"]
    assert forward["gradient_gap"] <= 1e-5 * forward["gradient_size"]
    # The random layers' seeds and batch normalisation's statistics move on
    # as Keras's layers move them (the statistics to rounding).
    assert forward["state_gap"] <= 1e-6
    if name == "mlp":
        assert forward["output_gap"] == forward["gradient_gap"] == 0


def test_a_network_with_random_layers_moves_their_state(measured):
    # The state compared above is not trivially constant.
    assert measured["cnn"]["state_moved"] > 0
    assert measured["resnet"]["state_moved"] > 0
