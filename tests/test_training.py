"""The Keras side (skmnist.training): the fused Adam update, sharing the data,
the training loop and the trainer's weights and state.

Runs on any Keras backend (``KERAS_BACKEND``); the tests of TensorFlow's own
step (its fused kernel inside ``model.fit``, DLPack sharing, graph tracing)
run on TensorFlow only, as marked.
"""

import collections
import dataclasses

import keras
import numpy as np
import pytest

from skmnist._utils.memory import aligned_empty as _aligned_empty
from skmnist.layers import (
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Image,
    RandomShift,
    Residual,
)
from skmnist.networks._architecture import network_configs
from skmnist.training import Trainer, _keras, _loop

BACKEND = keras.backend.backend()
tensorflow_only = pytest.mark.skipif(
    BACKEND != "tensorflow",
    reason="TensorFlow's training step (another backend is configured)",
)


def _train_with(optimizer, X, y):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((X.shape[1],)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    model.fit(X, y, batch_size=32, epochs=3, shuffle=False, verbose=0)
    return model


@tensorflow_only
@pytest.mark.parametrize("amsgrad", [False, True])
def test_fused_adam_matches_keras_adam(amsgrad):
    rng = np.random.default_rng(0)
    X = rng.random((256, 20), dtype=np.float32)
    y = rng.integers(0, 3, 256)
    ours = _train_with(_keras.step_module().FusedAdam(0.01, amsgrad=amsgrad), X, y)
    keras_ = _train_with(keras.optimizers.Adam(0.01, amsgrad=amsgrad), X, y)

    assert int(ours.optimizer.iterations) == int(keras_.optimizer.iterations) == 24
    # The same formula in another order of operations: equal up to rounding,
    # for the weights and for the moments kept for continued training.
    for a, b in zip(ours.get_weights(), keras_.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    for a, b in zip(ours.optimizer.variables, keras_.optimizer.variables, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-5)
    assert not np.array_equal(
        ours.get_weights()[0], _train_with("sgd", X, y).get_weights()[0]
    )


def test_the_training_loop_s_adam_matches_keras_adam(mnist_small):
    # Each backend's Adam in skmnist's loop (TensorFlow's and PyTorch's fused
    # kernels, Keras's own on JAX) against Keras's, from the same start.
    (X, y), _ = mnist_small
    X, y = np.asarray(X[:1000]), np.asarray(y[:1000])
    architecture = network_configs([Dense(32, activation="relu")], 784, 10)
    trainers = [
        Trainer(
            architecture, 784, np.random.RandomState(0), "mlp", "adam", 0.002,
            stock=stock,
        )
        for stock in (False, True)
    ]  # fmt: skip
    # The same start (on JAX, skmnist's initializer draws other weights).
    trainers[1].set_weights(*trainers[0].weights())
    stock = trainers[1].model.optimizer
    assert isinstance(stock, keras.optimizers.Adam)  # (PyTorch's Keras subclasses it)
    if BACKEND != "jax":  # JAX trains with Keras's own Adam, which XLA fuses
        assert not isinstance(stock, type(trainers[0].model.optimizer))
    for trainer in trainers:
        trainer.train(
            X, y, None, np.arange(len(X)), batch_size=100, shuffle=True, seed=1,
            epochs=3, verbose=0, learning_rate=_constant,
        )  # fmt: skip
    (ours, _), (stock, _) = (trainer.weights() for trainer in trainers)
    for a, b in zip(ours, stock, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    to_numpy = _keras.step_module().to_numpy
    first, second = (
        [to_numpy(v) for v in trainer.model.optimizer.variables] for trainer in trainers
    )
    assert int(first[0]) == int(second[0]) == 30  # iterations
    for a, b in zip(first, second, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    start = Trainer(architecture, 784, np.random.RandomState(0), "mlp", "adam", 0.002)
    assert not np.allclose(start.weights()[0][0], ours[0], atol=1e-3)


@pytest.mark.parametrize("shape", [(784, 512), (3, 3, 32, 64)])
def test_initial_kernels_are_glorot_uniform_from_their_seed(shape):
    # The training initializer draws Keras's distribution, and the same
    # values from the same seed; on JAX it is skmnist's NumPy draw (Keras's
    # compiles an XLA function per kernel shape), a decision docs/design.md
    # records, elsewhere Keras's own class.
    initializer = _keras.KERNEL_INITIALIZER
    stock = keras.initializers.GlorotUniform

    def draw(cls, seed):
        return keras.ops.convert_to_numpy(cls(seed=seed)(shape))

    values, again, other = (draw(initializer, seed) for seed in (3, 3, 4))
    keras_values = draw(stock, 3)
    assert values.dtype == np.float32 and values.shape == shape
    np.testing.assert_array_equal(values, again)
    assert not np.array_equal(values, other)
    limit = np.sqrt(6 / (np.prod(shape[:-2]) * (shape[-2] + shape[-1])))
    for drawn in (values, keras_values):
        assert -limit <= drawn.min() < -0.99 * limit
        assert 0.99 * limit < drawn.max() <= limit
        assert abs(drawn.mean()) < 0.01 * limit
        np.testing.assert_allclose(drawn.std(), limit / np.sqrt(3), rtol=0.01)
    if BACKEND == "jax":
        assert initializer is not stock and issubclass(initializer, stock)
        assert not np.array_equal(values, keras_values)
    else:
        assert initializer is stock


def test_models_handed_to_users_are_made_of_keras_classes(mnist_small):
    # to_keras's model saves and loads without skmnist: Keras's Adam and
    # initializer, whatever the backend trains with.
    architecture = network_configs(
        [Image(28), Conv2D(4, 3), Flatten(), Dense(8, activation="relu")], 784, 10
    )
    trainer = Trainer(
        architecture, 784, np.random.RandomState(0), "net", "adam", 0.001, stock=True
    )
    kernels = [
        layer.kernel_initializer
        for layer in trainer.model.layers
        if hasattr(layer, "kernel_initializer")
    ]
    assert len(kernels) == 3
    assert {type(k) for k in kernels} == {keras.initializers.GlorotUniform}
    optimizer = type(trainer.model.optimizer)  # PyTorch's Keras has its own Adam
    assert issubclass(optimizer, keras.optimizers.Adam)
    assert optimizer.__module__.startswith("keras.")


@tensorflow_only
def test_aligned_float32_data_is_shared_not_copied():
    X = _aligned_empty((100, 8), np.float32)
    X[:] = 1.0
    tensor = _keras.step_module()._float32_tensor(X)
    X[3, 4] = 7.0  # visible through the tensor: the memory is the same
    assert float(tensor[3, 4]) == 7.0


@tensorflow_only
@pytest.mark.parametrize(
    "make",
    [
        lambda a: a.astype(np.float64),  # another dtype
        lambda a: a[:, ::2],  # not contiguous
        lambda a: _misaligned(a),  # not on a 64-byte boundary
        lambda a: _read_only(a),  # NumPy exports no read-only array
    ],
)
def test_other_arrays_are_copied(make):
    base = _aligned_empty((64, 8), np.float32)
    base[:] = np.arange(8, dtype=np.float32)
    X = make(base)
    tensor = _keras.step_module()._float32_tensor(X)
    assert tensor.dtype == "float32"
    np.testing.assert_array_equal(tensor.numpy(), X.astype(np.float32))
    if X.flags.writeable:
        X[0, 0] = 99.0
        assert float(tensor[0, 0]) != 99.0


def _misaligned(a):
    buffer = _aligned_empty((a.size + 1,), np.float32)
    out = buffer[1:].reshape(a.shape)  # 4 bytes past an aligned start
    out[:] = a
    assert out.ctypes.data % 64 != 0
    return out


def _read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


def _small_network_and_data(mnist_small, width):
    (X, y), _ = mnist_small
    X, y = np.asarray(X, dtype=np.float32), np.asarray(y, dtype=np.int64)
    architecture = network_configs(
        [Dense(width, activation="relu"), Dropout(0.2)], 784, 10
    )
    trainer = Trainer(architecture, 784, np.random.RandomState(0), "mlp", "adam", 0.001)
    return trainer.model, X, y


def _constant(progress):
    return 0.001


def test_training_loop_reports_what_keras_fit_would(mnist_small):
    model, X, y = _small_network_and_data(mnist_small, width=32)
    batches = _loop.Batches(X, y, None, np.arange(len(X)), 128, True, seed=1)
    seen = []
    history = _loop.train(
        model,
        batches,
        epochs=3,
        verbose=0,
        learning_rate=_constant,
        validation_data=(X[:500], y[:500]),
        on_epoch_end=lambda logs: seen.append(logs) or len(seen) == 2,
    )

    assert set(history) == {"accuracy", "loss", "val_loss", "val_accuracy"}
    assert all(len(values) == 2 for values in history.values())  # stopped at 2
    assert [logs["loss"] for logs in seen] == history["loss"]
    assert history["loss"][1] < history["loss"][0]
    assert int(model.optimizer.iterations) == 2 * batches.n_batches
    # Validation figures are those of Keras's own evaluate on the same rows.
    loss, accuracy = model.evaluate(X[:500], y[:500], verbose=0)
    assert history["val_loss"][-1] == pytest.approx(loss, rel=1e-5)
    assert history["val_accuracy"][-1] == pytest.approx(accuracy, abs=1e-6)


def _trained_weights(model, X, y, seed, n=300):
    batches = _loop.Batches(X[:n], y[:n], None, np.arange(n), 128, True, seed)
    _loop.train(model, batches, epochs=1, verbose=0, learning_rate=_constant)
    return [w.numpy().copy() for w in model.weights]


@tensorflow_only
def test_later_calls_and_models_reuse_the_traced_training_function(
    mnist_small, monkeypatch
):
    # partial_fit calls (a Hyperband search makes many) and new models of
    # the same structure (each fit builds one) must not pay for a new trace,
    # whatever the number of rows: the variables are the graph's arguments.
    from skmnist.training import _step_tensorflow

    monkeypatch.setattr(_step_tensorflow, "_TRACED", collections.OrderedDict())
    models = []
    for seed, n in [(1, 300), (2, 1000), (3, 257)]:
        model, X, y = _small_network_and_data(mnist_small, width=16)
        _trained_weights(model, X, y, seed, n)
        _trained_weights(model, X, y, seed + 10, n)  # a later call
        models.append(model)
    assert [key[2][:3] for key in _step_tensorflow._TRACED] == [
        ("training_steps", 128, False)
    ]
    # Each model trained its own variables, and only those.
    iterations = [int(model.optimizer.iterations) for model in models]
    assert iterations == [2 * 3, 2 * 8, 2 * 3]

    weights = np.ones(100, dtype=np.float32)
    model = models[0]
    batches = _loop.Batches(X[:100], y[:100], weights, np.arange(100), 50, True, 4)
    _loop.train(model, batches, epochs=1, verbose=0, learning_rate=_constant)
    other, _, _ = _small_network_and_data(mnist_small, width=17)
    _trained_weights(other, X, y, 1)
    added = list(_step_tensorflow._TRACED)
    assert [key[2][:3] for key in added[1:]] == [
        ("training_steps", 50, True),  # another batch size, weighted: traced anew
        ("training_steps", 128, False),  # another structure: traced anew
    ]
    assert added[2][0] != added[0][0]


def _state_values(model):
    from skmnist.training import _step_tensorflow

    return [v.numpy().copy() for v in _step_tensorflow._state(model, True)]


@tensorflow_only
@pytest.mark.parametrize(
    "layers, optimizer, weighted",
    [
        ([Dense(16, activation="relu"), Dropout(0.2)], "adam", False),
        ([Dense(8), Residual([Dense(8), BatchNorm()])], "sgd", True),
        ([Image(28), RandomShift(2), Conv2D(2, 3), Flatten()], "rmsprop", False),
        ([Dense(8, activation="relu")], "adamw", True),
    ],
    ids=["dropout", "batch-statistics", "random-shift", "adamw"],
)
def test_a_shared_trace_trains_each_model_as_its_own_would(
    mnist_small, monkeypatch, layers, optimizer, weighted
):
    # A model trained (and scored) by the graphs traced with another model is
    # the model its own traces train, to the bit: weights, batch statistics,
    # the seed generators' and the optimizer's state, the validation scores.
    # And it leaves the other model's state alone.
    from skmnist.training import _step_tensorflow

    (X, y), _ = mnist_small
    X, y = np.asarray(X[:300], np.float32), np.asarray(y[:300], np.int64)
    weights = np.linspace(0.5, 2, 300).astype(np.float32) if weighted else None
    architecture = network_configs(layers, 784, 10)

    def trained(seed):
        rng = np.random.RandomState(seed)
        model = Trainer(architecture, 784, rng, "net", optimizer, 0.01).model
        batches = _loop.Batches(X, y, weights, np.arange(300), 128, True, seed)
        history = _loop.train(
            model,
            batches,
            epochs=2,
            verbose=0,
            learning_rate=_constant,
            validation_data=(X[:100], y[:100]),
        )
        return model, history

    monkeypatch.setattr(_step_tensorflow, "_TRACED", collections.OrderedDict())
    first, _ = trained(0)
    first_state = _state_values(first)
    second, shared_history = trained(5)
    assert len(_step_tensorflow._TRACED) == 2  # the first model's two graphs
    for before, after in zip(first_state, _state_values(first), strict=True):
        np.testing.assert_array_equal(before, after)

    monkeypatch.setattr(_step_tensorflow, "_TRACED", collections.OrderedDict())
    alone, own_history = trained(5)
    assert shared_history == own_history
    shared, own = _state_values(second), _state_values(alone)
    assert len(shared) == len(own) == len(first_state)
    for a, b in zip(shared, own, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not all(
        np.array_equal(a, b) for a, b in zip(shared, first_state, strict=True)
    )


@tensorflow_only
def test_a_shared_graph_keeps_no_model_alive(mnist_small, monkeypatch):
    # The cache holds the graph, not the model it was traced with (nor its
    # weights and optimizer slots): a model of the structure trains after it.
    import gc
    import weakref

    from skmnist.training import _step_tensorflow

    monkeypatch.setattr(_step_tensorflow, "_TRACED", collections.OrderedDict())
    model, X, y = _small_network_and_data(mnist_small, width=16)
    _trained_weights(model, X, y, 1)
    gone = weakref.ref(model)
    del model
    gc.collect()
    assert gone() is None
    later, _, _ = _small_network_and_data(mnist_small, width=16)
    _trained_weights(later, X, y, 2)
    assert len(_step_tensorflow._TRACED) == 1
    assert int(later.optimizer.iterations) == 3


def test_keras_settings_a_trace_bakes_in_are_part_of_the_structure(monkeypatch):
    # A fit after keras.config.set_epsilon (or another dtype policy, image
    # data format) must not reuse a graph traced before it.
    architecture = network_configs([Dense(4)], 784, 10)

    def structure():
        trainer = Trainer(
            architecture, 784, np.random.RandomState(0), "net", "adam", 0.001
        )
        return _keras.network_facts(trainer.model).structure

    before = structure()
    assert structure() == before  # seeds are no part of it
    epsilon = keras.config.epsilon()
    monkeypatch.setattr(keras.config, "epsilon", lambda: epsilon * 10)
    assert structure() != before


@tensorflow_only
def test_a_graph_capturing_a_variable_is_kept_for_its_model(mnist_small, monkeypatch):
    # A variable left out of the graph's arguments is captured: the graph
    # then computes its own model only, and is not shared.
    from skmnist.training import _step_tensorflow

    state = _step_tensorflow._state
    monkeypatch.setattr(
        _step_tensorflow, "_state", lambda model, training: state(model, training)[1:]
    )
    monkeypatch.setattr(_step_tensorflow, "_TRACED", collections.OrderedDict())
    traces = []
    function = _step_tensorflow.tf.function
    monkeypatch.setattr(
        _step_tensorflow.tf,
        "function",
        lambda f, **options: traces.append(f) or function(f, **options),
    )
    models = []
    for seed in (1, 2):
        model, X, y = _small_network_and_data(mnist_small, width=16)
        _trained_weights(model, X, y, seed)
        assert int(model.optimizer.iterations) == 3
        models.append(model)
    assert [key[0] for key in _step_tensorflow._TRACED] == [id(m) for m in models]
    _trained_weights(models[0], X, y, 3)  # its own graph again, not traced anew
    assert len(traces) == len(_step_tensorflow._TRACED) == 2
    assert int(models[0].optimizer.iterations) == 6


@pytest.mark.skipif(BACKEND != "jax", reason="JAX's compiled step (not configured)")
def test_later_calls_and_models_reuse_the_compiled_training_function(mnist_small):
    # JAX compiles for shapes: calls on as many rows reuse one compilation,
    # and so does a new model of the same structure (each fit builds one).
    from skmnist.training import _step_jax

    before = set(_step_jax._COMPILED)
    for seed in (1, 2, 3):
        model, X, y = _small_network_and_data(mnist_small, width=16)
        batches = _loop.Batches(X[:300], y[:300], None, np.arange(300), 128, True, seed)
        _loop.train(model, batches, epochs=1, verbose=0, learning_rate=_constant)
        assert int(model.optimizer.iterations) == 3
    new = [key for key in _step_jax._COMPILED if key not in before]
    assert [key[2] for key in new] == [("training_steps", 128)]
    # One compilation: the epoch's last batch runs padded (see below).
    assert _step_jax._COMPILED[new[0]][1]._cache_size() == 1
    other, X, y = _small_network_and_data(mnist_small, width=17)
    batches = _loop.Batches(X[:300], y[:300], None, np.arange(300), 128, True, 1)
    _loop.train(other, batches, epochs=1, verbose=0, learning_rate=_constant)
    added = set(_step_jax._COMPILED) - before - set(new)
    assert [key[2] for key in added] == [("training_steps", 128)]  # another one


@pytest.mark.skipif(BACKEND != "jax", reason="JAX's compiled step (not configured)")
@pytest.mark.parametrize("weighted", [False, True])
def test_a_padded_last_batch_trains_as_the_smaller_batch(mnist_small, weighted):
    # JAX pads the epoch's last batch of networks that train row by row to
    # a full one, weighted 0, in the function compiled for full batches: the
    # same training as a batch of the real rows alone, compiled separately
    # (to float32's rounding: XLA fuses the two differently). No dropout,
    # whose masks depend on the batch's size.
    from skmnist.training import _step_jax

    (X, y), _ = mnist_small
    X, y = np.asarray(X[:300], dtype=np.float32), np.asarray(y[:300], dtype=np.int64)
    weights = np.linspace(0.5, 2, 300).astype(np.float32) if weighted else None
    architecture = network_configs([Dense(24, activation="relu")], 784, 10)

    def trained(padded):
        trainer = Trainer(
            architecture, 784, np.random.RandomState(0), "mlp", "adam", 0.001
        )
        facts = _keras.network_facts(trainer.model)
        assert facts.rows_independent  # Dense layers: no batch statistics
        facts = dataclasses.replace(
            facts,
            rows_independent=padded,
            structure=(facts.structure, padded, weighted),  # compiled apart
        )
        _keras.keep_network_facts(trainer.model, facts)
        batches = _loop.Batches(X, y, weights, np.arange(300), 128, True, 1)
        history = _loop.train(
            trainer.model, batches, epochs=2, verbose=0, learning_rate=_constant
        )
        compiled = next(
            function
            for key, (_, function) in _step_jax._COMPILED.items()
            if key[0] == facts.structure
        )
        assert int(trainer.model.optimizer.iterations) == 6
        return compiled._cache_size(), history, trainer.model.weights

    compilations_padded, history_padded, padded = trained(True)
    compilations_apart, history_apart, apart = trained(False)
    assert (compilations_padded, compilations_apart) == (1, 2)
    for name in ("loss", "accuracy"):
        np.testing.assert_allclose(history_padded[name], history_apart[name], rtol=1e-5)
    for a, b in zip(padded, apart, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_networks_with_batch_statistics_do_not_train_padded():
    # Batch normalisation's statistics would count the padding's rows.
    from skmnist.layers import BatchNorm, Residual

    def facts(layers):
        architecture = network_configs(layers, 784, 10)
        trainer = Trainer(
            architecture, 784, np.random.RandomState(0), "net", "adam", 0.001
        )
        return _keras.network_facts(trainer.model)

    assert facts([Dense(8), Dropout(0.1)]).rows_independent
    assert not facts([Dense(8), BatchNorm()]).rows_independent
    assert not facts([Dense(8), Residual([Dense(8), BatchNorm()])]).rows_independent
    assert facts([Dense(8), Residual([Dense(8)])]).rows_independent
    # A model skmnist did not build: no padding, its own compiled functions.
    foreign = _keras.network_facts(keras.Sequential([keras.Input((3,))]))
    assert (foreign.rows_independent, foreign.structure) == (False, None)


@pytest.mark.skipif(BACKEND != "jax", reason="JAX's compiled step (not configured)")
def test_wide_networks_run_a_compiled_step_a_call(mnist_small, monkeypatch):
    # XLA's CPU backend runs the steps of networks with wide layers (as
    # convolutions have) several times slower in a compiled loop than one
    # by one: those run a compiled step a call, the same steps (XLA fuses
    # them differently: equal to float32's rounding, not to the bit).
    from skmnist.layers import Conv2D, Flatten, Image, MaxPool2D
    from skmnist.training import _step_jax

    (X, y), _ = mnist_small
    X, y = np.asarray(X[:300], dtype=np.float32), np.asarray(y[:300], dtype=np.int64)
    architecture = network_configs(
        [Image(28), Conv2D(8, 3, activation="relu"), MaxPool2D(2), Flatten()],
        784,
        10,
    )

    def trained(threshold):
        monkeypatch.setattr(_step_jax, "LOOPED_VALUES_PER_ROW", threshold)
        trainer = Trainer(
            architecture, 784, np.random.RandomState(0), "cnn", "adam", 0.001
        )
        before = set(_step_jax._COMPILED)
        batches = _loop.Batches(X, y, None, np.arange(300), 128, True, 1)
        history = _loop.train(
            trainer.model, batches, epochs=2, verbose=0, learning_rate=_constant
        )
        assert int(trainer.model.optimizer.iterations) == 6
        # Which compiled function trained it: the loop or the single step.
        compiled = [key[2][0] for key in _step_jax._COMPILED if key not in before]
        weights = [w.numpy() for w in trainer.model.weights]
        width = _keras.network_facts(trainer.model).values_per_row
        return width, compiled, history, weights

    width, compiled_one, history_one, weights_one = trained(
        _step_jax.LOOPED_VALUES_PER_ROW
    )
    assert width > _step_jax.LOOPED_VALUES_PER_ROW  # 28 x 28 x 8 and more
    _, compiled_all, history_all, weights_all = trained(width)
    assert (compiled_one, compiled_all) == (["training_step"], ["training_steps"])
    assert history_one.keys() == history_all.keys()
    for a, b in zip(weights_one, weights_all, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
