"""Thread pools sized to the cores this process was given, on every backend.

joblib's workers (loky, so GridSearchCV with ``n_jobs``) and Dask's set
``OMP_NUM_THREADS`` to their share of the machine; a CPU affinity mask
narrower than the machine says the same; ``SKMNIST_NUM_THREADS`` overrides
both. Each backend reads these differently:

* TensorFlow reads none of them: its intra- and inter-op pools are set with
  ``tf.config.threading`` before its first operation.
* JAX (XLA's CPU client) sizes its pools from the environment variable
  ``NPROC`` or else the affinity mask, once, when the client starts (the
  first array operation), never from ``OMP_NUM_THREADS``. ``prepare`` sets
  ``NPROC`` only for the moment the client starts and puts the environment
  back, so nothing leaks into the user's process or its children.
* PyTorch reads ``OMP_NUM_THREADS`` and the affinity mask itself; only
  ``SKMNIST_NUM_THREADS`` needs ``torch.set_num_threads``. Its OpenMP
  threads spin while they wait for each other; when another process holds
  one of the cores, a step can take ten to fifty times as long (measured on
  two shared cores, ``bench_omp.py``). ``OMP_WAIT_POLICY=PASSIVE`` makes them
  sleep instead; OpenMP reads it once, when PyTorch is first imported, so
  ``prepare`` sets it only around that import (unless the user set it, or
  imported PyTorch already). ``SKMNIST_PROTOTYPE_SPIN=1`` keeps PyTorch's
  default, for the A/B measurement.

A pool that the user's own code sized or started already is left alone.
"""

import os
import sys


def cores_given():
    """How many cores this process was given, or None for the backend's default."""
    for variable in ("SKMNIST_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(variable, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    if hasattr(os, "sched_getaffinity"):
        allowed = len(os.sched_getaffinity(0))
        if allowed < (os.cpu_count() or allowed):
            return allowed
    return None


def configured_backend():
    """The backend Keras will use, read as Keras reads it, without importing it."""
    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    name = os.environ.get("KERAS_BACKEND")
    if name:
        return name
    home = os.environ.get("KERAS_HOME") or os.path.join(
        os.path.expanduser("~"), ".keras"
    )
    try:
        import json

        with open(os.path.join(home, "keras.json")) as f:
            return json.load(f).get("backend", "tensorflow")
    except (OSError, ValueError):
        return "tensorflow"


def prepare():
    """Size the configured backend's pools; call before the first operation."""
    backend = configured_backend()
    if backend == "torch":
        _import_torch_passive()
    threads = cores_given()
    if threads is None:
        return
    if backend == "jax":
        _start_jax_client(threads)
    elif backend == "torch":
        _size_torch(threads)
    elif backend == "tensorflow":
        _size_tensorflow(threads)


def _start_jax_client(threads):
    import jax
    from jax._src import xla_bridge

    if xla_bridge.backends_are_initialized():  # the user's code ran JAX first
        return
    saved = os.environ.get("NPROC")
    os.environ["NPROC"] = str(threads)
    try:
        jax.devices()  # starts the CPU client, which reads NPROC now
    finally:
        if saved is None:
            del os.environ["NPROC"]
        else:
            os.environ["NPROC"] = saved


def _import_torch_passive():
    if "torch" in sys.modules or "OMP_WAIT_POLICY" in os.environ:
        return
    if os.environ.get("SKMNIST_PROTOTYPE_SPIN") == "1":
        return
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        import torch  # noqa: F401  (OpenMP reads the policy now)
    finally:
        del os.environ["OMP_WAIT_POLICY"]


def _size_torch(threads):
    import torch

    if os.environ.get("SKMNIST_NUM_THREADS") or torch.get_num_threads() > threads:
        torch.set_num_threads(threads)


def _size_tensorflow(threads):
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # TensorFlow ran an operation already
        pass
