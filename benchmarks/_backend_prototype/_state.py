"""The optimizer per backend, and a model's state as plain NumPy arrays.

The arrays are backend-free (Keras variables are the same on every
backend: a seed generator's state is two uint32 counters, the optimizer's
variables are ``iterations``, ``learning_rate`` and the moments in variable
order), so a state saved on one backend restores on another.
"""

import importlib

import keras
import numpy as np


def adam(learning_rate):
    """The configured backend's fused Adam: Keras's update, fewer passes."""
    backend = keras.backend.backend()
    if backend == "jax":  # XLA fuses Keras's own update inside the jitted step
        return keras.optimizers.Adam(learning_rate=learning_rate)
    module = importlib.import_module(f"._steps_{backend}", __package__)
    return module.FusedAdam(learning_rate=learning_rate)


def compile_model(model, learning_rate, optimizer=None):
    model.compile(
        optimizer=optimizer or adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    model.optimizer.build(model.trainable_variables)
    return model


def tensor_to_numpy(tensor):
    """A backend tensor as a NumPy array, on every backend.

    Not ``keras.ops.convert_to_numpy``: on TensorFlow variables and on
    PyTorch tensors it calls ``np.array`` of an object whose ``__array__``
    takes no ``copy`` argument, which NumPy 2 deprecates (an error in
    skmnist's tests); nor ``Variable.numpy()``, which does the same on JAX.
    Each backend's own conversion is clean.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return tensor.numpy()
    if backend == "torch":
        return tensor.detach().cpu().numpy()
    return np.asarray(tensor)  # a JAX array: NumPy 2's protocol


def to_numpy(variable):
    """A variable's value as a new NumPy array."""
    return np.array(tensor_to_numpy(variable.value))


def get_state(model):
    """Every model variable (weights, statistics, seed states) and the optimizer's."""
    state = {f"model_{i}": to_numpy(v) for i, v in enumerate(model.variables)}
    for i, v in enumerate(model.optimizer.variables):
        state[f"optimizer_{i}"] = to_numpy(v)
    return state


def set_state(model, state):
    for prefix, variables in (
        ("model", model.variables),
        ("optimizer", model.optimizer.variables),
    ):
        for i, variable in enumerate(variables):
            value = np.asarray(state[f"{prefix}_{i}"])
            if value.shape != tuple(variable.shape):
                raise ValueError(f"{variable.path}: shape {value.shape}")
            variable.assign(value.astype(variable.dtype))
