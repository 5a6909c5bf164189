"""Prototype of skmnist's backend-neutral training loop (issue 20, phase 1).

Superseded by ``skmnist/training`` (phase 2: ``_loop.py`` and the
``_step_<backend>.py`` modules); kept for ``bench_fit.py``'s ``keras-cnn``
contender (its ``_network.default_convnet``) and its by-name ``prototype``
contenders.

One Python epoch loop (:mod:`._loop`) around a small per-backend *step*
(:mod:`._steps_tensorflow`, :mod:`._steps_jax`, :mod:`._steps_torch`), for
the backend Keras is configured with (``KERAS_BACKEND`` or ``keras.json``).
Self-contained on purpose: it imports nothing from ``skmnist.training``, so
that it can be measured and tested while that package is being rewritten, and
moved into the new ``Trainer`` in phase 2. Importing the package sizes the
backend's thread pools (:mod:`._threads`), which must happen before the
backend runs its first operation (importing Keras runs none).

Run its checks with ``KERAS_BACKEND=jax pytest benchmarks/_backend_prototype``
and time it with ``python benchmarks/_backend_prototype/bench.py``.
"""

from . import _threads

_threads.prepare()
