"""PyTorch's training step: its own calls of Keras's layers compute what Keras's do.

The step runs the Keras layers of skmnist's ``Dense``, ``Dropout``,
``Conv2D``, ``MaxPool2D`` and ``AvgPool2D`` as PyTorch operations (each
kind's ``torch_training_call``) and the loss without the loss object
(``skmnist/training/_step_torch.py``). These tests compare them with Keras's
own on the PyTorch backend, in a process of their own (a process trains on
one backend, and this one may be another), so they run in every pass, not
only in CI's PyTorch one. The training contract on PyTorch
(reproducibility, continuing, files, accuracy) is tests/test_backends.py's,
run on each backend by ``.ci/run``.
"""

import pytest
from _helpers import measure_on_backend

NETWORKS = ("mlp", "cnn", "lenet5", "resnet", "uneven_padding")

_MEASURE = """
import importlib.abc, json, os, sys

class SeeTorchImported(importlib.abc.MetaPathFinder):
    environment = None

    def find_spec(self, name, path, target=None):
        if name == "torch" and self.environment is None:
            self.environment = dict(os.environ)

spy = SeeTorchImported()
sys.meta_path.insert(0, spy)
import skmnist.training  # imports PyTorch, as a fit would
openmp = {
    name: (spy.environment.get(name), os.environ.get(name))
    for name in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")
}
import keras
import numpy as np
import torch
assert keras.backend.backend() == "torch", keras.backend.backend()
sys.path.insert(0, "tests")
from _networks import single_layer_cases, small_network, uneven_padding_network
from sklearn.datasets import load_digits
from skmnist.training import _step_torch as step

X, y = load_digits(return_X_y=True)
X = (X / 16).astype(np.float32)
out = {"forward": {}, "openmp": openmp}

def states(model):
    return [np.array(v.numpy()) for v in model.non_trainable_variables]

def gap(a, b):
    return max([float(np.abs(u - v).max()) for u, v in zip(a, b)] + [0.0])

# The layers whose kinds give a PyTorch call for them.
LEAN = (
    keras.layers.Dense,
    keras.layers.Dropout,
    keras.layers.Conv2D,
    keras.layers.MaxPooling2D,
    keras.layers.AveragePooling2D,
)


def network(name):
    if name == "uneven_padding":
        return uneven_padding_network()
    return small_network(name, epochs=1)


def outputs_and_gradients(run, model, x):
    # The output, and the gradients of a weighted sum of it.
    out = run(x)
    weights = torch.linspace(-1, 1, out.numel()).reshape(out.shape)
    grads = torch.autograd.grad(
        (out * weights).sum(), [v.value for v in model.trainable_variables]
    )
    return [out.detach().numpy()], [g.numpy() for g in grads]


# Each network's training forward pass and its gradients, its dropouts off
# (their masks are drawn differently), from the same state of the random
# layers and statistics.
for name in sys.argv[1].split(","):
    model = network(name).fit(X[:64], y[:64])._keras_model()
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0
    x = torch.from_numpy(X[:50])
    start = states(model)
    expected, expected_grads = outputs_and_gradients(
        lambda x: model(x, training=True), model, x
    )
    after_keras = states(model)
    for variable, value in zip(model.non_trainable_variables, start):
        variable.assign(value)
    forward = step.training_forward(model)
    got, got_grads = outputs_and_gradients(forward, model, x)
    out["forward"][name] = {
        "lean": sorted(forward.lean_layers),
        "with_kind_calls": sorted(
            layer.name for layer in model.layers if type(layer) in LEAN
        ),
        "output_gap": gap(got, expected),
        "gradient_gap": gap(got_grads, expected_grads),
        "gradient_size": gap(got_grads, [0 * g for g in got_grads]),
        "state_gap": gap(states(model), after_keras),
        "state_moved": gap(after_keras, start),
        "shape": list(got[0].shape),
    }

# Single layers: the kind's call against Keras's.
images, cases = single_layer_cases()
images = torch.from_numpy(images)
out["layers"] = [
    gap(
        [kind.torch_training_call(layer, torch.Generator())(images).detach().numpy()],
        [layer(images).detach().numpy()],
    )
    for kind, layer in cases
]

# One dropout layer, as the step calls it and as Keras does.
from skmnist.layers import Dropout
layer = keras.layers.Dropout(0.3, seed=5)
call = Dropout(0.3).torch_training_call(layer, torch.Generator())
ones = torch.ones(400, 50)
start = layer.seed_generator.state.numpy().copy()
first = call(ones).numpy()
after_lean = layer.seed_generator.state.numpy().copy()
second = call(ones).numpy()
layer.seed_generator.state.assign(start)
again = call(ones).numpy()
layer.seed_generator.state.assign(start)
layer(ones, training=True)
out["dropout"] = {
    "values": sorted(set(np.round(first, 6).ravel().tolist())),
    "kept": float((first != 0).mean()),
    "repeat_equal": bool((again == first).all()),
    "next_equal": bool((second == first).all()),
    "state_after_lean": after_lean.tolist(),
    "state_after_keras": layer.seed_generator.state.numpy().tolist(),
    "state_before": start.tolist(),
    "inference_is_identity": bool(
        (layer(ones, training=False).numpy() == 1).all()
    ),
}

# The loss, against Keras's loss object with and without sample weights.
rng = np.random.default_rng(0)
proba = torch.softmax(torch.from_numpy(rng.normal(size=(64, 10))).float(), 1)
labels = torch.from_numpy(rng.integers(0, 10, 64))
weights = torch.from_numpy(rng.uniform(0, 3, 64)).float()
keras_loss = keras.losses.SparseCategoricalCrossentropy()
out["loss"] = {
    "unweighted": [float(step.batch_loss(labels, proba, None)),
                   float(keras_loss(labels, proba))],
    "weighted": [float(step.batch_loss(labels, proba, weights)),
                 float(keras_loss(labels, proba, sample_weight=weights))],
}
print(json.dumps(out))
"""


def _measure(networks=NETWORKS, **environment):
    return measure_on_backend("torch", _MEASURE, ",".join(networks), **environment)


@pytest.fixture(scope="module")
def measured():
    with pytest.MonkeyPatch.context() as patch:  # as a user who set neither
        patch.delenv("GOMP_SPINCOUNT", raising=False)
        patch.delenv("OMP_WAIT_POLICY", raising=False)
        return _measure()


def test_pytorch_is_imported_with_openmp_threads_that_spin_briefly(measured):
    # A decision (docs/performance.md, "Backends"): GNU OpenMP's threads spin
    # 3,000 times, not its 300,000, before they sleep, so that a fit sharing
    # the cores slows less, and they do not sleep at once (PASSIVE), which
    # slows a fit on a quiet machine. Set only while PyTorch is imported.
    assert measured["openmp"]["GOMP_SPINCOUNT"] == ["3000", None]
    assert measured["openmp"]["OMP_WAIT_POLICY"] == [None, None]


def test_the_user_openmp_settings_are_left_alone():
    measured = _measure(["mlp"], OMP_WAIT_POLICY="ACTIVE")
    assert measured["openmp"]["GOMP_SPINCOUNT"] == [None, None]
    assert measured["openmp"]["OMP_WAIT_POLICY"] == ["ACTIVE", "ACTIVE"]


@pytest.mark.parametrize("name", NETWORKS)
def test_the_training_forward_pass_computes_what_keras_computes(measured, name):
    forward = measured["forward"][name]
    assert forward["shape"] == [50, 10]
    # The same arithmetic as Keras's layers. The kinds' calls keep image
    # batches in channels-last memory where Keras's leave some in
    # channels-first, and a sum over a batch's pixels runs in memory order:
    # the output is Keras's to the bit except after a mean over each whole
    # channel (the residual network's GlobalAvgPool2D), and some gradients
    # (biases, batch normalisation) are Keras's to float32's rounding.
    if name == "resnet":
        assert forward["output_gap"] <= 1e-6
    else:
        assert forward["output_gap"] == 0
    assert 0 < forward["gradient_size"]
    assert forward["gradient_gap"] <= 1e-5 * forward["gradient_size"]
    # The random layers' seeds and batch normalisation's statistics move on
    # exactly as Keras's layers move them.
    assert forward["state_gap"] == 0
    # ... with every Dense, Dropout, Conv2D and pooling layer run by its kind
    # as PyTorch operations (the kinds say how: skmnist.layers'
    # torch_training_call).
    assert forward["with_kind_calls"]
    assert forward["lean"] == forward["with_kind_calls"]


def test_single_layers_compute_what_keras_computes(measured):
    # Strided "valid" and uneven "same" convolutions, no bias, pools that
    # leave edges out or do not tile: to the bit.
    assert measured["layers"] == [0.0] * 6


def test_a_network_with_random_layers_moves_their_state(measured):
    # The state compared above is not trivially constant: augmentation and
    # batch normalisation move it in training mode.
    assert measured["forward"]["cnn"]["state_moved"] > 0
    assert measured["forward"]["resnet"]["state_moved"] > 0


def test_a_dropout_keeps_values_at_its_rate_and_scales_them_as_keras(measured):
    dropout = measured["dropout"]
    assert dropout["values"] == [0.0, pytest.approx(1 / 0.7, rel=1e-6)]
    # 20,000 values kept with probability 0.7: within five standard errors.
    assert abs(dropout["kept"] - 0.7) < 5 * (0.7 * 0.3 / 20_000) ** 0.5
    assert dropout["inference_is_identity"]


def test_a_dropout_draws_its_seed_from_the_layer_as_keras_does(measured):
    dropout = measured["dropout"]
    # One draw a call, as Keras's dropout: the saved state continues alike.
    assert dropout["state_after_lean"] == dropout["state_after_keras"]
    assert dropout["state_after_lean"] != dropout["state_before"]
    assert dropout["repeat_equal"]  # the same state gives the same mask
    assert not dropout["next_equal"]  # and the next call another


@pytest.mark.parametrize("weighting", ["unweighted", "weighted"])
def test_the_batch_loss_is_keras_loss(measured, weighting):
    ours, keras_loss = measured["loss"][weighting]
    assert ours == pytest.approx(keras_loss, rel=1e-6)
