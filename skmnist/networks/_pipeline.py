"""The tutorial's whole workflow as one pipeline."""

from sklearn.pipeline import Pipeline

from .._registry import make_network, registered_networks
from ..data._preprocessing import MNISTPreprocessor


def make_mnist_pipeline(network="mlp", **classifier_params):
    """Build ``MNISTPreprocessor`` followed by one of skmnist's networks.

    Parameters
    ----------
    network : str, default="mlp"
        A registered network (``skmnist.registered_networks()``): ``"mlp"``
        for :class:`MNISTMLPClassifier` (the Keras tutorial's network),
        ``"cnn"`` for :class:`MNISTCNNClassifier` (its sequel, a ConvNet),
        ``"lenet5"`` and ``"resnet"`` for :class:`NetworkClassifier` with
        LeNet-5's layers or a small residual network's.

    **classifier_params : dict
        Parameters of that classifier, such as ``epochs=10`` or
        ``random_state=0``. The defaults are the network's own.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Steps ``"preprocess"`` and ``"classifier"``, so search grids name
        parameters ``classifier__<name>``.

    Examples
    --------
    >>> from skmnist import make_mnist_pipeline
    >>> pipe = make_mnist_pipeline(epochs=10, random_state=0)
    >>> [name for name, _ in pipe.steps]
    ['preprocess', 'classifier']
    >>> pipe.get_params()["classifier__epochs"]
    10
    >>> type(make_mnist_pipeline("cnn")[-1]).__name__
    'MNISTCNNClassifier'
    >>> type(make_mnist_pipeline("lenet5")[-1]).__name__
    'NetworkClassifier'
    """
    if network not in registered_networks():
        raise ValueError(
            f"network must be one of {sorted(registered_networks())}, got {network!r}."
        )
    return Pipeline(
        [
            ("preprocess", MNISTPreprocessor()),
            ("classifier", make_network(network, **classifier_params)),
        ]
    )
