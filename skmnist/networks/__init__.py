"""The classifiers: the shared network core, NetworkClassifier and its presets.

Named networks (``"mlp"``, ``"cnn"``, ``"lenet5"``, ``"resnet"``) are
registered here, for :func:`make_mnist_pipeline` and ``skmnist train``.
"""

from ._cnn import MNISTCNNClassifier
from ._mlp import MNISTMLPClassifier
from ._network import NetworkClassifier
from ._pipeline import make_mnist_pipeline
from ._zoo import lenet5, residual_network

__all__ = [
    "MNISTCNNClassifier",
    "MNISTMLPClassifier",
    "NetworkClassifier",
    "lenet5",
    "make_mnist_pipeline",
    "residual_network",
]
