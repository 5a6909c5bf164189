"""Keras and its backend, imported quietly, with thread pools sized to the process.

Importing this module is what loads TensorFlow: the estimators import the
training side only to train, so ``import skmnist``, prediction and unpickling
stay free of it. It also holds the optimizers skmnist trains with.
"""

import contextlib
import logging
import os
import sys


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


# Later INFO and WARNING messages (retracing notes and the like) obey this
# variable; a value the user set on purpose wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
with _native_stderr_silenced():
    import tensorflow as tf

    tf.config.list_physical_devices()  # the CUDA probe, while silenced

import keras  # noqa: E402


class _HideRetracingNotes(logging.Filter):
    """Drop TensorFlow's "triggered tf.function retracing" warnings.

    Each ``fit`` builds a new network and so new graph functions; after a few
    fits in one process (a grid search) TensorFlow warns about the
    retracing, which is expected here and nothing a user can act on.
    """

    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


tf.get_logger().addFilter(_HideRetracingNotes())


def _cores_given():
    """How many cores this process was given, or None to keep TensorFlow's default.

    joblib's workers (loky, and so GridSearchCV with ``n_jobs``) and Dask's
    set ``OMP_NUM_THREADS`` to their share of the machine; a CPU affinity mask
    narrower than the machine says the same. TensorFlow reads neither, and its
    pools, sized to every core in every worker, oversubscribe the machine.
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


def _size_thread_pools(threads):
    # The pools can be sized only before TensorFlow runs its first operation;
    # if the user's code ran one already, their configuration stands.
    if threads is None:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        pass


_size_thread_pools(_cores_given())


class FusedAdam(keras.optimizers.Adam):
    """Keras's Adam, each variable's update done by one fused TensorFlow kernel.

    Keras writes Adam's update as about ten element-wise operations per
    variable, each a pass over memory and a dispatch of its own; TensorFlow's
    ``ResourceApplyAdam`` computes the same formula (the bias-corrected step
    ``lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)`` and ``epsilon`` outside the
    square root) in one pass. On the tutorial network this took about a sixth
    off each training step in A/B timings of the step alone. The
    state lives in Keras's own variables (``iterations``, the momentums and
    velocities), so saving, loading and continuing training are unchanged;
    AMSGrad uses Keras's code.
    """

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad:
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        index = self._get_variable_index(variable)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle,
            m=self._momentums[index].value.handle,
            v=self._velocities[index].value.handle,
            beta1_power=tf.pow(beta_1, step),
            beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype),
            beta1=beta_1,
            beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype),
        )


KERAS_OPTIMIZERS = {
    "adam": FusedAdam,
    "adamw": keras.optimizers.AdamW,
    "rmsprop": keras.optimizers.RMSprop,
    "sgd": keras.optimizers.SGD,
}


# Keras's own classes, for models handed to users (``to_keras``): they save
# and load with Keras's tools without skmnist.
STOCK_OPTIMIZERS = {**KERAS_OPTIMIZERS, "adam": keras.optimizers.Adam}
