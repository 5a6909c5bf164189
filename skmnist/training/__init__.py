"""The Keras side of skmnist: building and training networks.

The only subpackage that imports Keras (and its backend); the estimators
import it only to train, so prediction and loading never need it. Its one
interface to the estimators is :class:`Trainer`.
"""

from ._trainer import Trainer, optimizer_of

__all__ = ["Trainer", "optimizer_of"]
