"""skmnist: the classic Keras MNIST networks as scikit-learn estimators.

``import skmnist`` loads neither TensorFlow nor Keras; they load when a model
is first trained.
"""

from ._cnn import MNISTCNNClassifier
from ._datasets import MNISTUnavailableError, load_mnist
from ._mlp import MNISTMLPClassifier
from ._onnx import to_onnx
from ._persistence import load, save
from ._pipeline import make_mnist_pipeline
from ._preprocessing import MNISTPreprocessor
from ._version import __version__

__all__ = [
    "MNISTCNNClassifier",
    "MNISTMLPClassifier",
    "MNISTPreprocessor",
    "MNISTUnavailableError",
    "__version__",
    "load",
    "load_mnist",
    "make_mnist_pipeline",
    "save",
    "to_onnx",
]
