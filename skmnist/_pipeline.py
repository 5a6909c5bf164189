"""The tutorial's whole workflow as one pipeline."""

from sklearn.pipeline import Pipeline

from ._classifier import MNISTMLPClassifier
from ._preprocessing import MNISTPreprocessor


def make_mnist_pipeline(**classifier_params):
    """Build ``MNISTPreprocessor`` followed by ``MNISTMLPClassifier``.

    Parameters
    ----------
    **classifier_params : dict
        Parameters of :class:`MNISTMLPClassifier`, such as ``epochs=10`` or
        ``random_state=0``. The defaults are the Keras tutorial's.

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
    """
    return Pipeline(
        [
            ("preprocess", MNISTPreprocessor()),
            ("classifier", MNISTMLPClassifier(**classifier_params)),
        ]
    )
