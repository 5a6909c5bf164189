"""The tutorial's whole workflow as one pipeline."""

from sklearn.pipeline import Pipeline

from ..data._preprocessing import MNISTPreprocessor
from ._cnn import MNISTCNNClassifier
from ._mlp import MNISTMLPClassifier

NETWORKS = {"mlp": MNISTMLPClassifier, "cnn": MNISTCNNClassifier}


def make_mnist_pipeline(network="mlp", **classifier_params):
    """Build ``MNISTPreprocessor`` followed by one of skmnist's networks.

    Parameters
    ----------
    network : {"mlp", "cnn"}, default="mlp"
        The classifier: ``"mlp"`` for :class:`MNISTMLPClassifier` (the Keras
        tutorial's network), ``"cnn"`` for :class:`MNISTCNNClassifier` (its
        sequel, a ConvNet).

    **classifier_params : dict
        Parameters of that classifier, such as ``epochs=10`` or
        ``random_state=0``. The defaults are the classifier's own.

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
    """
    if network not in NETWORKS:
        raise ValueError(f"network must be one of {sorted(NETWORKS)}, got {network!r}.")
    return Pipeline(
        [
            ("preprocess", MNISTPreprocessor()),
            ("classifier", NETWORKS[network](**classifier_params)),
        ]
    )
