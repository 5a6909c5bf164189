"""PyTorch's training step: a plain eager loop of mini-batch steps.

Each step gathers its batch from tensors sharing the NumPy arrays' memory
(``torch.from_numpy``), runs the Keras model forward (its graph, with Keras's
layers run straight on PyTorch where their kind says how: see
:func:`training_forward`),
takes the gradients with ``torch.autograd.grad`` (no ``.grad`` buffers to
zero) and applies them with the model's optimizer. Loss and accuracy sums
stay tensors until the end of the call, so a call reads back from PyTorch
once. Keras's Adam is replaced by :class:`FusedAdam`, the same update in one
fused kernel per step. The module interface is the one :mod:`._loop`
documents.
"""

import math

import keras
import numpy as np
import torch

from ._keras import kinds_forward


def epoch_orders(rows, shuffle, seed):
    """Each epoch's rows (an int64 tensor), permuted by NumPy's generator."""
    rows = np.asarray(rows, dtype=np.int64)
    rng = np.random.default_rng(seed)
    while True:
        yield torch.from_numpy(rows[rng.permutation(len(rows))] if shuffle else rows)


def _shared_tensor(array, dtype):
    """``array`` as a tensor sharing its memory (any alignment will do)."""
    array = np.asarray(array)
    if array.dtype != dtype or not array.flags.c_contiguous:
        array = np.ascontiguousarray(array, dtype=dtype)
    if not array.flags.writeable:  # PyTorch warns on read-only memory
        array = array.copy()
    return torch.from_numpy(array)


class Steps:
    """Training steps of ``model`` on ``(X, y, sample_weight)`` in batches."""

    def __init__(self, model, X, y, sample_weight, batch_size):
        self.model = model
        self.batch_size = batch_size
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        self.features = _shared_tensor(X, np.float32)
        self.targets = torch.from_numpy(np.asarray(y, dtype=np.int64))
        self.weights = (
            None if sample_weight is None else _shared_tensor(sample_weight, np.float32)
        )
        self._forward = training_forward(model)

    def run(self, order, start, stop, learning_rate):
        """Steps ``start`` to ``stop`` of the epoch ``order``; the three sums."""
        model, optimizer = self.model, self.model.optimizer
        optimizer.learning_rate = learning_rate
        trainable = model.trainable_variables
        parameters = [v.value for v in trainable]
        fused = getattr(optimizer, "fused_update", None)
        sums = torch.zeros(3)
        for i in range(start, stop):
            index = order[i * self.batch_size : (i + 1) * self.batch_size]
            x = self.features.index_select(0, index)
            y = self.targets.index_select(0, index)
            w = None if self.weights is None else self.weights.index_select(0, index)
            proba = self._forward(x)
            loss = batch_loss(y, proba, w)
            grads = torch.autograd.grad(loss, parameters)
            with torch.no_grad():
                if fused is not None:
                    fused(grads, learning_rate)
                else:
                    optimizer.apply(list(grads), trainable)
                hit = (proba.argmax(dim=1) == y).float()
                n = float(len(index))
                if w is None:
                    sums += torch.stack([loss * n, hit.sum(), torch.tensor(n)])
                else:
                    sums += torch.stack([loss * n, (hit * w).sum(), w.sum()])
        return tuple(sums.tolist())

    def validation_set(self, X, y):
        return (
            torch.from_numpy(np.array(X, dtype=np.float32)),
            torch.from_numpy(np.asarray(y, dtype=np.int64)),
        )

    def score(self, x, y):
        """The summed loss and number of hits on a chunk of the validation set."""
        with torch.no_grad():
            proba = self.model(x, training=False)
            loss = keras.losses.sparse_categorical_crossentropy(y, proba).sum()
            hits = (proba.argmax(dim=1) == y).float().sum()
        return float(loss), float(hits)


def training_forward(model):
    """``model(x, training=True)``, with the kinds' PyTorch calls.

    A layer built by a skmnist kind that gives a PyTorch call for it
    (``Layer.torch_training_call``) runs that way (see
    :func:`._keras.kinds_forward`, whose ``lean_layers`` it has).
    """
    generator = torch.Generator()
    return kinds_forward(
        model, lambda kind, layer: kind.torch_training_call(layer, generator)
    )


def batch_loss(y, proba, sample_weight):
    """Keras's ``SparseCategoricalCrossentropy()(y, proba, sample_weight)``.

    The same sum over the batch divided by its size, without the loss
    object's checks and reshapes, which cost more than the sum on a batch.
    """
    losses = keras.losses.sparse_categorical_crossentropy(y, proba)
    if sample_weight is None:
        return losses.mean()
    return (losses * sample_weight).sum() / len(losses)


def to_numpy(variable):
    """A Keras variable's value as a new NumPy array."""
    return variable.value.detach().cpu().numpy().copy()


class FusedAdam(keras.optimizers.Adam):
    """Keras's Adam, one ``torch._fused_adam_`` kernel a step for all variables.

    Keras's own (``_foreach`` operations) makes about ten passes over the
    weights and moments; PyTorch's fused Adam makes one. PyTorch's formula
    puts epsilon after the bias correction of the velocity, ``sqrt(v /
    (1 - beta_2**t)) + eps``, Keras's before, ``(sqrt(v) + eps) / sqrt(1 -
    beta_2**t)``: given ``eps / sqrt(1 - beta_2**t)`` PyTorch computes
    Keras's update (to rounding). The state stays in Keras's variables
    (``iterations``, momentums, velocities), so saving and continuing work
    as with Keras's Adam. ``fused_update`` is what :class:`Steps` calls;
    ``apply`` (Keras's, as ``model.fit`` uses) keeps Keras's update.

    The kernel reads each tensor as a flat array: a gradient that is a
    strided view (a convolution kernel's gradient is one, its axes permuted)
    would silently get the wrong update, so gradients are made contiguous
    first (no copy for those that are).
    """

    def fused_update(self, grads, learning_rate):
        if (
            self.amsgrad
            or self.weight_decay
            or self.clipnorm
            or self.clipvalue
            or self.global_clipnorm
        ):
            return self.apply(list(grads), self._trainable_variables)
        variables = [v.value for v in self._trainable_variables]
        iterations = self._iterations.value
        iterations.add_(1)
        t = float(iterations)
        torch._fused_adam_(
            variables,
            [g.contiguous() for g in grads],
            [m.value for m in self._momentums],
            [v.value for v in self._velocities],
            [],
            [torch.tensor(t)] * len(variables),
            lr=float(learning_rate),
            beta1=self.beta_1,
            beta2=self.beta_2,
            weight_decay=0.0,
            eps=self.epsilon / math.sqrt(1 - self.beta_2**t),
            amsgrad=False,
            maximize=False,
        )
