"""Keras and the backend it is configured with, imported quietly, pools sized.

skmnist trains on the backend Keras is configured with (``KERAS_BACKEND`` or
``keras.json``, as for any Keras program) and never changes it:
TensorFlow, JAX or PyTorch. Importing this module is what loads that
backend: the estimators import the training side only to train, so
``import skmnist``, prediction and unpickling stay free of every backend.
Only the configured backend is imported (TensorFlow imported before
PyTorch's compiler stack crashes the process). The backend's own training
step lives in ``_step_<backend>.py`` (:data:`STEP`); this module also holds
the optimizers skmnist trains with.
"""

import contextlib
import dataclasses
import importlib
import json
import logging
import os
import sys

import numpy as np

SUPPORTED_BACKENDS = ("tensorflow", "jax", "torch")


def configured_backend():
    """The backend Keras uses (or will), read as Keras reads it, importing nothing."""
    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    name = os.environ.get("KERAS_BACKEND")
    if name:
        return name
    home = os.environ.get("KERAS_HOME") or os.path.join(
        os.path.expanduser("~"), ".keras"
    )
    try:
        with open(os.path.join(home, "keras.json")) as f:
            return json.load(f).get("backend", "tensorflow")
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def _cores_given():
    """How many cores this process was given, or None to keep the backend's default.

    joblib's workers (loky, and so GridSearchCV with ``n_jobs``) and Dask's
    set ``OMP_NUM_THREADS`` to their share of the machine; a CPU affinity mask
    narrower than the machine says the same; ``SKMNIST_NUM_THREADS`` overrides
    both. TensorFlow and JAX read none of these, and their pools, sized to
    every core in every worker, oversubscribe the machine.
    """
    for variable in ("SKMNIST_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(variable, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    if hasattr(os, "sched_getaffinity"):
        allowed = len(os.sched_getaffinity(0))
        if allowed < (os.cpu_count() or allowed):
            return allowed
    return None


# -- TensorFlow ----------------------------------------------------------------


@contextlib.contextmanager
def _native_stderr_silenced():
    """Send what C++ code writes to file descriptor 2 to /dev/null.

    TensorFlow's native logging writes its oneDNN banner and CUDA probing
    messages ("Could not find cuda drivers", "failed call to cuInit") before
    ``TF_CPP_MIN_LOG_LEVEL`` is read, straight to the process's stderr. They
    are noise for a scikit-learn user on a CPU machine. Python exceptions are
    unaffected: they propagate after the descriptor is restored.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class _HideRetracingNotes(logging.Filter):
    """Drop TensorFlow's "triggered tf.function retracing" warnings.

    Each ``fit`` builds a new network and so new graph functions; after a few
    fits in one process (a grid search) TensorFlow warns about the
    retracing, which is expected here and nothing a user can act on.
    """

    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


def _prepare_tensorflow(threads):
    # Later INFO and WARNING messages (retracing notes and the like) obey this
    # variable; a value the user set on purpose wins.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _native_stderr_silenced():
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe, while silenced
    tf.get_logger().addFilter(_HideRetracingNotes())
    # The pools can be sized only before TensorFlow runs its first operation;
    # if the user's code ran one already, their configuration stands.
    if threads is not None:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:
            pass


# -- JAX -----------------------------------------------------------------------


def _prepare_jax(threads):
    """Start JAX's CPU client with ``threads`` threads, the environment untouched.

    XLA's CPU client sizes its pools from the environment variable ``NPROC``
    (or else the affinity mask) once, when it starts. ``NPROC`` is set only
    while it starts and put back, so nothing leaks into the user's process or
    its children. A client the user's code started already is left alone.
    """
    if threads is None:
        return
    import jax
    from jax._src import xla_bridge

    if xla_bridge.backends_are_initialized():
        return
    saved = os.environ.get("NPROC")
    os.environ["NPROC"] = str(threads)
    try:
        jax.devices()
    finally:
        if saved is None:
            del os.environ["NPROC"]
        else:
            os.environ["NPROC"] = saved


# -- PyTorch -------------------------------------------------------------------


# Spins of a waiting OpenMP thread before it sleeps (GNU OpenMP's default is
# 300,000, or 1,000 when the threads outnumber the cores).
TORCH_SPIN_COUNT = "3000"


def _prepare_torch(threads):
    """Import PyTorch with OpenMP threads that spin briefly, its pool sized.

    PyTorch's OpenMP threads (GNU OpenMP's) spin a long while waiting for
    each other: when another process holds one of the cores a step takes
    many times as long. Told to sleep at once (``OMP_WAIT_POLICY=PASSIVE``)
    they wake too slowly between a step's parallel loops, and a fit on a
    quiet machine takes longer. A short spin
    (``GOMP_SPINCOUNT``) keeps most of both: see docs/performance.md and
    ``benchmarks/bench_torch_threads.py``. OpenMP reads it once, as PyTorch
    is imported, so it is set only around that import (unless the user set
    either variable or imported PyTorch). PyTorch reads ``OMP_NUM_THREADS``
    and the affinity mask itself; only ``SKMNIST_NUM_THREADS`` needs
    ``torch.set_num_threads``.
    """
    user_set = "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ
    if "torch" not in sys.modules and not user_set:
        os.environ["GOMP_SPINCOUNT"] = TORCH_SPIN_COUNT
        try:
            import torch
        finally:
            del os.environ["GOMP_SPINCOUNT"]
    import torch

    if threads is not None and (
        os.environ.get("SKMNIST_NUM_THREADS") or torch.get_num_threads() > threads
    ):
        torch.set_num_threads(threads)


_PREPARE = {
    "tensorflow": _prepare_tensorflow,
    "jax": _prepare_jax,
    "torch": _prepare_torch,
}

# Importing JAX (or Keras, which then imports it) draws from NumPy's global
# generator: the user's global random state is put back afterwards, so that
# training has no global side effect.
_numpy_global_state = np.random.get_state()  # noqa: NPY002
# Each preparation leaves alone what the user's code set up already.
if configured_backend() in _PREPARE:
    _PREPARE[configured_backend()](_cores_given())

import keras  # noqa: E402

np.random.set_state(_numpy_global_state)  # noqa: NPY002
del _numpy_global_state

BACKEND = keras.backend.backend()


def step_module():
    """The training step of the configured backend (``_step_<backend>``).

    Raises ``RuntimeError`` for a backend skmnist cannot train on; building
    a network (``to_keras``, ``summary``) works on any backend.
    """
    if BACKEND not in SUPPORTED_BACKENDS:
        raise RuntimeError(
            "skmnist trains with Keras's tensorflow, jax or torch backend; Keras "
            f"is configured with {BACKEND!r} (KERAS_BACKEND or keras.json)"
        )
    return importlib.import_module(f"._step_{BACKEND}", __package__)


@dataclasses.dataclass(frozen=True)
class NetworkFacts:
    """What skmnist knows of a Keras model it built, for the backends' steps.

    ``build_model`` keeps it on the model (:func:`network_facts` reads it):

    ``kinds``
        The ``(Keras layer, kind)`` pairs of the layers built by a kind's
        default ``build_keras`` (the kind says how to run its layer:
        :meth:`skmnist.layers.Layer.torch_training_call`).
    ``values_per_row``
        The most values a row holds at once, as the kinds count them
        (``_step_jax`` loops narrow networks only).
    ``rows_independent``
        Whether each row trains independently of its batch
        (:attr:`skmnist.layers.Layer.rows_independent`).
    ``structure``
        What the model computes: its architecture and input width, the
        classes of its layer kinds and Keras layers, and the Keras settings a
        trace bakes in (dtype policy, epsilon, image data format). Backends
        that compile a function once reuse it for every model of the same
        structure.

    A model skmnist did not build gets the defaults: no kinds, a loop, no
    padding, functions of its own.
    """

    kinds: tuple = ()
    values_per_row: int = 0
    rows_independent: bool = False
    structure: object = None


def network_facts(model):
    """The :class:`NetworkFacts` of ``model`` (the defaults for a foreign one)."""
    return model.__dict__.get("_skmnist", None) or NetworkFacts()


def keep_network_facts(model, facts):
    # Not an attribute Keras tracks (it would take the kinds for layers).
    object.__setattr__(model, "_skmnist", facts)


def kinds_forward(model, kind_call):
    """``model(x, training=True)``, run layer by layer, kinds' calls first.

    ``kind_call(kind, keras_layer)`` is a backend's call of a layer built by
    a skmnist kind (the kind's ``torch_training_call`` or
    ``jax_training_call``), or None; a layer gets it as long as it computes
    in float32 without LoRA or quantization (as skmnist builds them). Every
    other layer runs through Keras's call, in training mode. The function's
    ``lean_layers`` names the layers run by their kinds' calls.
    """
    # Keras's functional models run their graph with a function that says how
    # to call each layer: the private hook that Functional.call itself uses.
    run_graph = getattr(model, "_run_through_graph", None)
    if run_graph is None:  # not a functional model: Keras runs it all

        def forward(x):
            return model(x, training=True)

        forward.lean_layers = ()
        return forward
    kinds = {id(keras_layer): kind for keras_layer, kind in network_facts(model).kinds}
    calls, lean = {}, []
    for op in model.operations:
        kind = kinds.get(id(op))
        call = None if kind is None or not _plain_float32(op) else kind_call(kind, op)
        if call is not None:
            lean.append(op.name)
        calls[id(op)] = call or _keras_training_call(op)

    def forward(x):
        outputs = run_graph([x], operation_fn=lambda op: calls[id(op)])
        return outputs[0] if isinstance(outputs, (list, tuple)) else outputs

    forward.lean_layers = tuple(lean)
    return forward


def _keras_training_call(operation):
    if "training" not in getattr(operation, "_call_context_args", ()):
        return operation
    return lambda *args, **kwargs: operation(*args, **{**kwargs, "training": True})


def _plain_float32(layer):
    return (
        layer.compute_dtype == "float32"
        and not getattr(layer, "lora_enabled", False)
        and getattr(layer, "quantization_mode", None) is None
    )


# How many compiled (or traced) functions a backend's step keeps: the least
# recently used beyond these are dropped, with the model each holds.
FUNCTIONS_KEPT = 16


def function_key(model, key):
    """What a function a backend's step compiles for ``model`` computes.

    Its functions take every variable's value as an argument, so a function
    made for one model computes any model of the same structure: the same
    skmnist architecture and input width (``NetworkFacts.structure``; seeds
    set only initial values) and optimizer class (the trainer sets no other
    hyperparameter than the learning rate, a variable), and the same ``key``.
    A model skmnist did not build is its own structure (its ``id``). The
    layer kinds' Keras layers must depend on their configuration only (and
    seeds drawn from ``build.seed()`` must reach Keras as seed generators,
    whose state is a variable, as skmnist's kinds do). Not Keras's
    ``get_config()``: its serialization imports TensorFlow when installed.
    """
    structure = network_facts(model).structure or id(model)
    return (structure, type(model.optimizer), key)


def cached_function(cache, key, model, make):
    """``cache[key]``, made by ``make()`` for ``model`` on a miss.

    An entry keyed by ``model``'s ``id`` keeps the model, so that the id
    names no other model while the entry lives; any other entry keeps none.
    The least recently used beyond :data:`FUNCTIONS_KEPT` are dropped.
    """
    entry = cache.get(key)
    if entry is None:
        entry = cache[key] = (model if key[0] == id(model) else None, make())
        while len(cache) > FUNCTIONS_KEPT:
            cache.popitem(last=False)
    else:
        # Another thread's fit may have dropped it meanwhile: still ours.
        with contextlib.suppress(KeyError):
            cache.move_to_end(key)
    return entry[1]


def _backend_class(name, keras_class):
    """The configured backend step's own class ``name``, or ``keras_class``."""
    if BACKEND not in SUPPORTED_BACKENDS:
        return keras_class
    return getattr(step_module(), name, keras_class)


# TensorFlow's and PyTorch's steps have a fused Adam (Keras's update in fewer
# passes); on JAX, XLA fuses Keras's own update inside the compiled step.
KERAS_OPTIMIZERS = {
    "adam": _backend_class("FusedAdam", keras.optimizers.Adam),
    "adamw": keras.optimizers.AdamW,
    "rmsprop": keras.optimizers.RMSprop,
    "sgd": keras.optimizers.SGD,
}


# JAX's step draws initial kernels with NumPy: Keras's initializer compiles
# a JAX function per kernel shape there (see the class).
KERNEL_INITIALIZER = _backend_class("GlorotUniform", keras.initializers.GlorotUniform)

# Keras's own classes, for models handed to users (``to_keras``): they save
# and load with Keras's tools without skmnist.
STOCK_OPTIMIZERS = {**KERAS_OPTIMIZERS, "adam": keras.optimizers.Adam}


def keras_classes(stock):
    """``(optimizers, kernel_initializer)`` a model is built and compiled with:
    the backend's own while training, Keras's with ``stock``."""
    if stock:
        return STOCK_OPTIMIZERS, keras.initializers.GlorotUniform
    return KERAS_OPTIMIZERS, KERNEL_INITIALIZER
