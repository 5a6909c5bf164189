"""Where skmnist 0.2 and earlier defined the MLP; their pickles name this module."""

from ._mlp import MNISTMLPClassifier

__all__ = ["MNISTMLPClassifier"]
