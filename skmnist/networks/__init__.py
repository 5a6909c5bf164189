"""The estimators: the shared network core and the networks built on it."""

from ._cnn import MNISTCNNClassifier
from ._mlp import MNISTMLPClassifier
from ._pipeline import make_mnist_pipeline

__all__ = ["MNISTCNNClassifier", "MNISTMLPClassifier", "make_mnist_pipeline"]
