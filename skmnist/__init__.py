"""skmnist: the classic Keras MNIST networks as scikit-learn estimators.

``import skmnist`` loads neither TensorFlow nor Keras; they load when a model
is first trained.
"""

from . import _legacy
from ._registry import (
    register_estimator,
    register_network,
    registered_estimators,
    registered_networks,
)
from ._version import __version__
from .data import (
    MNISTPreprocessor,
    MNISTUnavailableError,
    image_to_mnist,
    load_mnist,
)
from .export import to_onnx
from .networks import (
    MNISTCNNClassifier,
    MNISTMLPClassifier,
    NetworkClassifier,
    make_mnist_pipeline,
)
from .persistence import load, save

_legacy.install()

__all__ = [
    "MNISTCNNClassifier",
    "MNISTMLPClassifier",
    "MNISTPreprocessor",
    "MNISTUnavailableError",
    "NetworkClassifier",
    "__version__",
    "image_to_mnist",
    "load",
    "load_mnist",
    "make_mnist_pipeline",
    "register_estimator",
    "register_network",
    "registered_estimators",
    "registered_networks",
    "save",
    "to_onnx",
]
