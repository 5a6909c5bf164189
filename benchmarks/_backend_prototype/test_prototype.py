"""The prototype loop's contract on the configured backend.

Run once per backend, each in its own process::

    for b in tensorflow jax torch; do
        KERAS_BACKEND=$b pytest benchmarks/_backend_prototype -q
    done
"""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from _backend_prototype import _layers, _loop, _network, _state
from _backend_prototype._data import mnist_file

BACKEND = keras.backend.backend()
HERE = os.path.dirname(os.path.abspath(__file__))


def _fit(
    x,
    y,
    *,
    network="mlp",
    seed=0,
    epochs=1,
    weights=None,
    learning_rate=1e-3,
    model=None,
    batches_seed=None,
    batch_norm=False,
    batch_size=128,
    **kwargs,
):
    rng = np.random.RandomState(seed)
    if model is None:
        if network == "mlp":
            model = _network.tutorial_mlp(rng, batch_norm=batch_norm)
        else:
            model = _network.default_convnet(rng, **kwargs)
        _state.compile_model(model, learning_rate)
    steps = _loop.steps_for(model, x, y, weights, batch_size)
    batches = _loop.Batches(
        np.arange(len(x)),
        batch_size,
        True,
        seed=batches_seed if batches_seed is not None else seed + 100,
    )
    history = _loop.train(
        steps, batches, epochs=epochs, learning_rate=lambda p: learning_rate
    )
    return model, steps, history


def _predict(model, x):
    """Probabilities, without ``model.predict``: on PyTorch it converts with
    ``np.array(tensor)``, which NumPy 2 deprecates (an error here)."""
    proba = model(keras.ops.convert_to_tensor(x), training=False)
    return _state.tensor_to_numpy(proba)


def _assert_same_state(a, b):
    sa, sb = _state.get_state(a), _state.get_state(b)
    assert sa.keys() == sb.keys()
    for key in sa:
        np.testing.assert_array_equal(sa[key], sb[key], err_msg=key)


@pytest.mark.parametrize("network", ["mlp", "cnn"])
def test_same_seed_same_model_bitwise(mnist_rows, network):
    x, y, *_ = mnist_rows
    a, _, ha = _fit(x[:1000], y[:1000], network=network, seed=3)
    b, _, hb = _fit(x[:1000], y[:1000], network=network, seed=3)
    _assert_same_state(a, b)
    assert ha == hb
    c, _, _ = _fit(x[:1000], y[:1000], network=network, seed=4)
    assert not np.array_equal(
        _state.to_numpy(a.variables[0]), _state.to_numpy(c.variables[0])
    )


def test_learns_mnist(mnist_rows):
    x, y, x_test, y_test = mnist_rows
    _, steps, history = _fit(x, y, epochs=3)
    assert history["loss"][0] > history["loss"][-1]
    _, hits = steps.score(x_test, y_test)
    assert hits / len(y_test) > 0.88  # 3,000 rows, 3 epochs


def test_convnet_with_shifts_learns(mnist_rows):
    x, y, x_test, y_test = mnist_rows
    _, steps, _ = _fit(x, y, network="cnn", epochs=2, learning_rate=2e-3)
    _, hits = steps.score(x_test, y_test)
    assert hits / len(y_test) > 0.80


@pytest.mark.parametrize("network", ["mlp", "cnn"])
def test_continuing_from_saved_state_is_bitwise_identical(mnist_rows, network):
    """Two calls of one epoch, or one, a save, a rebuild from arrays, one more."""
    x, y, *_ = mnist_rows
    x, y = x[:1100], y[:1100]  # 9 batches, the last one partial
    kwargs = {"batch_norm": True} if network == "mlp" else {}
    straight, _, _ = _fit(x, y, network=network, seed=5, **kwargs)
    _fit(x, y, model=straight, batches_seed=7)

    first, _, _ = _fit(x, y, network=network, seed=5, **kwargs)
    saved = {k: v.copy() for k, v in _state.get_state(first).items()}
    rng = np.random.RandomState(99)  # other seeds: the state must replace them
    rebuilt = (
        _network.tutorial_mlp(rng, **kwargs)
        if network == "mlp"
        else _network.default_convnet(rng)
    )
    _state.compile_model(rebuilt, 1e-3)
    _state.set_state(rebuilt, saved)
    _fit(x, y, model=rebuilt, batches_seed=7)
    _assert_same_state(straight, rebuilt)


def test_batch_norm_statistics_are_trained(mnist_rows):
    x, y, *_ = mnist_rows
    model, _, _ = _fit(x[:1000], y[:1000], batch_norm=True)
    layer = model.get_layer("batch_norm_1")
    mean = _state.to_numpy(layer.moving_mean)
    assert np.all(np.isfinite(mean)) and np.abs(mean).max() > 0.01  # starts at 0
    # Training also advanced the dropout layers' seed generators.
    state = _state.to_numpy(model.get_layer("dropout_1").seed_generator.state)
    assert state[1] == 8  # one draw a step (starts at 0)


def test_zero_learning_rate_leaves_the_weights(mnist_rows):
    x, y, *_ = mnist_rows
    rng = np.random.RandomState(0)
    model = _network.tutorial_mlp(rng)
    _state.compile_model(model, 0.0)
    before = [_state.to_numpy(v) for v in model.trainable_variables]
    _fit(x[:500], y[:500], model=model, learning_rate=0.0)
    for b, v in zip(before, model.trainable_variables, strict=True):
        np.testing.assert_array_equal(b, _state.to_numpy(v))
    assert int(_state.to_numpy(model.optimizer.iterations)) == 4  # the steps did run


def test_sample_weights(mnist_rows):
    x, y, *_ = mnist_rows
    x, y = x[:1000], y[:1000]
    ones, _, h1 = _fit(x, y, weights=np.ones(len(y), np.float32))
    plain, _, h0 = _fit(x, y)
    for a, b in zip(ones.trainable_variables, plain.trainable_variables, strict=True):
        np.testing.assert_allclose(_state.to_numpy(a), _state.to_numpy(b), atol=1e-5)
    np.testing.assert_allclose(h1["loss"], h0["loss"], rtol=1e-5)
    # No weight on the zeros: the model stops predicting them.
    weights = np.where(y == 0, 0.0, 1.0).astype(np.float32)
    zeroless, steps, _ = _fit(x, y, weights=weights, epochs=3)
    proba = _predict(zeroless, x[y == 0])
    assert (proba.argmax(axis=1) == 0).mean() < 0.2
    # The sums a call returns are weighted: the zeros do not count.
    order = np.random.default_rng(0).permutation(len(y)).astype(np.int32)
    _, hits, weight_sum = steps.run(order, 0, 3, 1e-3)
    assert weight_sum == weights[order[:384]].sum()
    assert 0 < hits <= weight_sum


def _keras_adam_reference(w, grads, lr, beta_1=0.9, beta_2=0.999, eps=1e-7):
    """Keras's Adam formula, float64."""
    w = w.astype(np.float64)
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        g = g.astype(np.float64)
        alpha = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        m += (g - m) * (1 - beta_1)
        v += (g * g - v) * (1 - beta_2)
        w -= alpha * m / (np.sqrt(v) + eps)
    return w


def test_adam_is_keras_adam():
    """The backend's Adam computes Keras's update, to float32 rounding."""
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(64, 32)).astype(np.float32)
    # Gradients of all sizes, a few near zero where epsilon matters.
    grads = [
        (rng.normal(size=w0.shape) * 10.0 ** rng.integers(-9, 1, w0.shape)).astype(
            np.float32
        )
        for _ in range(30)
    ]
    results = {}
    for name, optimizer in (
        ("fused", _state.adam(1e-3)),
        ("keras", keras.optimizers.Adam(1e-3)),
    ):
        variable = keras.Variable(w0)
        optimizer.build([variable])
        for g in grads:
            # A strided view, as a convolution kernel's gradient is on PyTorch.
            g = keras.ops.transpose(keras.ops.convert_to_tensor(g.T.copy()))
            if hasattr(optimizer, "fused_update"):
                optimizer.fused_update([g], 1e-3)
            else:
                optimizer.apply([g], [variable])
        results[name] = _state.to_numpy(variable)
        assert int(_state.to_numpy(optimizer.iterations)) == 30
    # Thirty steps of about lr each on weights near 1: float32 rounding of
    # the weights alone accounts for a few 1e-7.
    np.testing.assert_allclose(results["fused"], results["keras"], rtol=0, atol=1e-6)
    expected = _keras_adam_reference(w0, grads, 1e-3)
    for got in results.values():
        np.testing.assert_allclose(got, expected, rtol=0, atol=2e-6)
    print(
        "max |fused - keras|",
        np.abs(results["fused"] - results["keras"]).max(),
        "max |fused - float64|",
        np.abs(results["fused"] - expected).max(),
        "max |keras - float64|",
        np.abs(results["keras"] - expected).max(),
    )


@pytest.mark.parametrize("method", _layers.RandomShift.METHODS)
def test_random_shift_formulations(method):
    rng = np.random.default_rng(1)
    k = 2
    images = rng.random((16, 28, 28, 3), dtype=np.float32)
    offsets = rng.integers(0, 2 * k + 1, (16, 2)).astype(np.int32)
    padded = np.pad(images, [(0, 0), (k, k), (k, k), (0, 0)])
    expected = np.stack(
        [padded[b, r : r + 28, c : c + 28] for b, (r, c) in enumerate(offsets)]
    )
    layer = _layers.RandomShift(k, seed=0, method=method)
    got = getattr(layer, f"_{method}")(
        keras.ops.convert_to_tensor(images), keras.ops.convert_to_tensor(offsets), k
    )
    np.testing.assert_array_equal(_state.tensor_to_numpy(got), expected)


def test_random_shift_layer():
    k = 3
    rng = np.random.default_rng(2)
    images = rng.random((64, 12, 12, 1), dtype=np.float32) + 0.5  # no zero pixel
    layer = _layers.RandomShift(k, seed=4)
    x = keras.ops.convert_to_tensor(images)
    np.testing.assert_array_equal(_state.tensor_to_numpy(layer(x)), images)
    out = _state.tensor_to_numpy(layer(x, training=True))
    padded = np.pad(images, [(0, 0), (k, k), (k, k), (0, 0)])
    seen = set()
    for b in range(len(images)):
        matches = [
            (r, c)
            for r in range(2 * k + 1)
            for c in range(2 * k + 1)
            if np.array_equal(out[b], padded[b, r : r + 12, c : c + 12])
        ]
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) > 20  # of 49 shifts, drawn per image
    again = _state.tensor_to_numpy(layer(x, training=True))
    assert not np.array_equal(out, again)  # the seed generator moved on


_OTHER_BACKEND = """
import sys
sys.path.insert(0, {benchmarks!r})
import _backend_prototype, keras, numpy as np
from _backend_prototype import _loop, _network, _state
from _backend_prototype._data import mnist
x, y, x_test, y_test = mnist({data!r})
with np.load({state!r}) as f:
    saved = dict(f)
model = _network.tutorial_mlp(np.random.RandomState(0))
_state.compile_model(model, 1e-3)
_state.set_state(model, saved)
steps = _loop.steps_for(model, x[:3000], y[:3000], None, 128)
_, before = steps.score(x_test[:1000], y_test[:1000])
_loop.train(steps, _loop.Batches(np.arange(3000), 128, True, 1), epochs=1,
            learning_rate=lambda p: 1e-3)
_, after = steps.score(x_test[:1000], y_test[:1000])
print("RESULT", keras.backend.backend(), before / 1000, after / 1000,
      int(_state.to_numpy(model.optimizer.iterations)))
"""


@pytest.mark.parametrize("other", ["tensorflow", "jax", "torch"])
def test_state_continues_on_another_backend(mnist_rows, tmp_path, other):
    if other == BACKEND:
        other = "tensorflow" if BACKEND != "tensorflow" else "jax"
    x, y, x_test, y_test = mnist_rows
    model, steps, _ = _fit(x, y, epochs=1)
    _, hits = steps.score(x_test, y_test)
    np.savez(tmp_path / "state.npz", **_state.get_state(model))
    code = _OTHER_BACKEND.format(
        benchmarks=os.path.dirname(HERE),
        data=mnist_file(),
        state=str(tmp_path / "state.npz"),
    )
    env = {**os.environ, "KERAS_BACKEND": other}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    line = next(
        (ln for ln in done.stdout.splitlines() if ln.startswith("RESULT")), None
    )
    assert line is not None, done.stderr[-3000:]
    _, backend, before, after, iterations = line.split()
    assert backend == other
    # The weights arrived: the same predictions, to float32 rounding.
    assert abs(float(before) - hits / len(y_test)) <= 0.002
    assert float(after) > 0.85
    assert int(iterations) == 2 * 24  # the optimizer's count continued


_THREADS = """
import os, sys
sys.path.insert(0, {benchmarks!r})
import _backend_prototype, keras
b = keras.backend.backend()
if b == "torch":
    import torch; n = torch.get_num_threads()
elif b == "tensorflow":
    import tensorflow as tf; n = tf.config.threading.get_intra_op_parallelism_threads()
else:  # the CPU client started in prepare(): count its threads
    n = len(os.listdir("/proc/self/task"))
print("RESULT", n, "NPROC" in os.environ)
"""


def test_thread_pools_follow_omp_num_threads():
    counts = {}
    for threads in ("1", "2"):
        env = {**os.environ, "OMP_NUM_THREADS": threads}
        env.pop("SKMNIST_NUM_THREADS", None)
        code = _THREADS.format(benchmarks=os.path.dirname(HERE))
        done = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=1200,
        )
        line = next(ln for ln in done.stdout.splitlines() if ln.startswith("RESULT"))
        counts[threads] = int(line.split()[1])
        assert line.split()[2] == "False"  # no environment variable left behind
    if BACKEND == "jax":  # XLA's pools: threads in proportion to the cores given
        assert counts["2"] > counts["1"]
    else:
        assert counts == {"1": 1, "2": 2}
