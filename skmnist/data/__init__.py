"""MNIST itself: loading the data set, preprocessing it, and converting pictures."""

from ._images import image_to_mnist
from ._mnist import MNISTUnavailableError, load_mnist
from ._preprocessing import MNISTPreprocessor

__all__ = [
    "MNISTPreprocessor",
    "MNISTUnavailableError",
    "image_to_mnist",
    "load_mnist",
]
