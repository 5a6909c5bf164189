"""Named networks: the two presets and two classic ConvNets built from layers.

Each is registered under a short name (``skmnist.registered_networks()``),
which :func:`skmnist.make_mnist_pipeline` and ``skmnist train --network``
take.
"""

from .._registry import register_network
from ..layers import (
    Activation,
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Flatten,
    GlobalAvgPool2D,
    MaxPool2D,
    Residual,
)
from ._cnn import MNISTCNNClassifier
from ._mlp import MNISTMLPClassifier
from ._network import NetworkClassifier


def lenet5():
    """The layers of LeNet-5 (LeCun et al., 1998), in Keras's modern form.

    Two convolutions with tanh, each followed by 2 x 2 average pooling, and
    two dense tanh layers: ``Conv2D(6, 5, "same") -> AvgPool2D(2) ->
    Conv2D(16, 5) -> AvgPool2D(2) -> Flatten -> Dense(120) -> Dense(84)``
    (the classifier adds the softmax output).

    Returns
    -------
    layers : list of Layer

    Examples
    --------
    >>> from skmnist import NetworkClassifier
    >>> from skmnist.networks import lenet5
    >>> clf = NetworkClassifier(layers=lenet5())
    >>> [type(layer).__name__ for layer in clf.layers][:2]
    ['Conv2D', 'AvgPool2D']
    """
    return [
        Conv2D(6, 5, padding="same", activation="tanh"),
        AvgPool2D(2),
        Conv2D(16, 5, activation="tanh"),
        AvgPool2D(2),
        Flatten(),
        Dense(120, activation="tanh"),
        Dense(84, activation="tanh"),
    ]


def residual_network(widths=(16, 32)):
    """The layers of a small residual network with batch normalisation.

    For each width: a "same" convolution, batch normalisation, ReLU and 2 x 2
    max-pooling, then one residual block of two such convolutions (the
    second without ReLU before the addition) and ReLU; then the mean of each
    channel (global average pooling). With the default widths, a 28 x 28
    digit is pooled to 14 x 14 before the first block and to 7 x 7 before
    the second. The batch normalisations keep their
    moving averages with a momentum of 0.9 (PyTorch's default) rather than
    Keras's 0.99, so that they settle within the few hundred steps of a fit
    on a small data set too.

    Parameters
    ----------
    widths : tuple of int, default=(16, 32)
        The channels of each stage.

    Returns
    -------
    layers : list of Layer

    Examples
    --------
    >>> from skmnist.networks import residual_network
    >>> layers = residual_network()
    >>> type(layers[4]).__name__, type(layers[-1]).__name__
    ('Residual', 'GlobalAvgPool2D')
    """
    layers = []
    for width in widths:
        layers += [
            Conv2D(width, 3, padding="same"),
            BatchNorm(momentum=0.9),
            Activation("relu"),
            MaxPool2D(2),
            Residual(
                [
                    Conv2D(width, 3, padding="same"),
                    BatchNorm(momentum=0.9),
                    Activation("relu"),
                    Conv2D(width, 3, padding="same"),
                    BatchNorm(momentum=0.9),
                ]
            ),
            Activation("relu"),
        ]
    return [*layers, GlobalAvgPool2D()]


def _network_of(layers, **defaults):
    """A factory of NetworkClassifier with ``layers()`` and these defaults."""

    def make(**params):
        return NetworkClassifier(**{"layers": layers(), **defaults, **params})

    return make


register_network(
    "mlp", MNISTMLPClassifier, "the Keras tutorial's MLP (MNISTMLPClassifier)"
)
register_network(
    "cnn", MNISTCNNClassifier, "a ConvNet after Keras's example (MNISTCNNClassifier)"
)
register_network(
    "lenet5",
    _network_of(
        lenet5, epochs=10, learning_rate=0.003, learning_rate_schedule="cosine"
    ),
    "LeNet-5 (NetworkClassifier)",
)
register_network(
    "resnet",
    _network_of(
        residual_network,
        epochs=5,
        learning_rate=0.003,
        learning_rate_schedule="cosine",
    ),
    "a small residual network with batch normalisation (NetworkClassifier)",
)
