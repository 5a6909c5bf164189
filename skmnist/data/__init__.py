"""MNIST itself: loading the data set, preprocessing it, and converting pictures."""

from ._mnist import MNISTUnavailableError, load_mnist
from ._preprocessing import MNISTPreprocessor

__all__ = ["MNISTPreprocessor", "MNISTUnavailableError", "load_mnist"]
