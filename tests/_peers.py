"""What the peer-expectation modules share: small networks and the peers' data.

``tests/test_peers_sklearn.py``, ``test_peers_scikeras.py`` and
``test_peers_skorch.py`` restate other projects' classifier tests in
skmnist's terms (``docs/peer_expectations.md`` lists the translation and the
differences kept on purpose). Every case runs on each network here: the two
presets and a :class:`~skmnist.NetworkClassifier` of layers (a convolution,
a max-pool and a dense layer), in configurations small enough to train
in a fraction of a second on the peers' toy data: no dropout and no random
shifts unless a case needs them, a learning rate that learns a few hundred
rows in tens of epochs, batches of 32.
"""

import weakref

import numpy as np
from sklearn.datasets import load_digits, load_iris, make_classification
from sklearn.preprocessing import MinMaxScaler

from skmnist import MNISTCNNClassifier, MNISTMLPClassifier, NetworkClassifier
from skmnist.layers import (
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    RandomShift,
    layer_from_config,
)

# Each estimator a Network made, and the Network (a class alone cannot
# tell: the presets are NetworkClassifier subclasses).
_MADE_BY = weakref.WeakKeyDictionary()


class Network:
    """A factory of one small skmnist network, with its own parameter names.

    ``hidden=`` stands for the network's hidden dense widths: the MLP's
    ``hidden_layer_sizes`` (scikit-learn's name), the ConvNet's
    ``dense_units``. Every other keyword is the estimator's own.
    """

    def __init__(self, name, cls, hidden, **params):
        self.name, self.cls, self.hidden, self.params = name, cls, hidden, params

    def __call__(self, **params):
        clf = self.cls(**{**self.params, **self.translate(params)})
        _MADE_BY[clf] = self
        return clf

    def translate(self, params):
        """``params`` in the estimator's own names (``hidden=`` is renamed)."""
        params = dict(params)
        if "hidden" in params:
            params[self.hidden] = params.pop("hidden")
        return params

    def __repr__(self):
        return self.name


class LayersNetwork(Network):
    """A :class:`~skmnist.NetworkClassifier` of a named network's layers.

    The presets' knobs (``hidden=``, ``activation=``, ``dropout=``,
    ``max_shift=``) become a change of ``layers``: ``hidden`` replaces the
    dense layers by layers of those widths, ``activation`` every activation
    but the output's, ``dropout`` adds dropout after each dense layer (or
    after the last layer), and ``max_shift`` random shifts before the first.
    Without knobs the layers are the named network's own.
    """

    KNOBS = ("hidden", "activation", "dropout", "max_shift")

    def __init__(self, name, layers, dense_activation, **params):
        super().__init__(name, NetworkClassifier, "layers", **params)
        self.layers, self.dense_activation = layers, dense_activation

    def translate(self, params):
        params = dict(params)
        knobs = {name: params.pop(name) for name in self.KNOBS if name in params}
        if knobs or "layers" not in params:
            params["layers"] = self.build(**knobs)
        return params

    def build(self, hidden=None, activation=None, dropout=0.0, max_shift=0):
        layers = self.layers()
        if hidden is not None:
            layers = [layer for layer in layers if not isinstance(layer, Dense)]
            layers += [Dense(w, activation=self.dense_activation) for w in hidden]
        if activation is not None:
            layers = [_with_activation(layer, activation) for layer in layers]
        if dropout:
            dense = [i for i, layer in enumerate(layers) if isinstance(layer, Dense)]
            for i in reversed(dense or [len(layers) - 1]):
                layers.insert(i + 1, Dropout(dropout))
        if max_shift:
            layers.insert(0, RandomShift(max_shift))
        return layers


def _with_activation(layer, activation):
    """``layer`` (and the layers inside it) with ``activation`` wherever one is set."""

    def replace(config):
        if isinstance(config, dict):
            return {
                key: activation
                if key == "activation" and value != "identity"
                else replace(value)
                for key, value in config.items()
            }
        if isinstance(config, list):
            return [replace(item) for item in config]
        return config

    return layer_from_config(replace(layer.get_config()))


NETWORKS = {
    "mlp": Network(
        "mlp",
        MNISTMLPClassifier,
        "hidden_layer_sizes",
        hidden_layer_sizes=(16,),
        dropout=0.0,
        learning_rate=0.01,
        batch_size=32,
        epochs=5,
        random_state=0,
    ),
    "cnn": Network(
        "cnn",
        MNISTCNNClassifier,
        "dense_units",
        filters=(4,),
        dense_units=(16,),
        dropout=0.0,
        max_shift=0,
        learning_rate=0.01,
        batch_size=32,
        epochs=5,
        random_state=0,
    ),
    # A NetworkClassifier of layers: a convolution and a max-pool on the
    # 8 x 8 digits, then a dense layer, the ConvNet above written as layers
    # (they train alike). The named networks of the zoo (LeNet-5, the
    # residual network) go through tests/test_network_contract.py.
    "network": LayersNetwork(
        "network",
        lambda: [
            Conv2D(4, 3, activation="relu"),
            MaxPool2D(2),
            Flatten(),
            Dense(16, activation="relu"),
        ],
        "relu",
        learning_rate=0.01,
        batch_size=32,
        epochs=5,
        random_state=0,
    ),
}


def network_of(clf):
    """The :class:`Network` that made ``clf``, for a second one of its kind."""
    return _MADE_BY[clf]


# The training-only randomness each network has, for the cases about its state
# (dropout masks, random shifts) that must survive pickling and copying.
RANDOM_LAYERS = {
    "mlp": {"dropout": 0.2},
    "cnn": {"dropout": 0.2, "max_shift": 1},
    "network": {"dropout": 0.2, "max_shift": 1},
}


def same_weights(a, b):
    """Whether two fitted networks have bitwise-equal kernels and biases."""
    return all(
        np.array_equal(u, v)
        for u, v in zip(
            [*a.coefs_, *a.intercepts_], [*b.coefs_, *b.intercepts_], strict=True
        )
    )


# scikit-learn's test_mlp.py data: the first 200 digits of 3 and of 2 classes,
# scaled to [0, 1], and iris as it comes.
def _digits(n_class):
    X, y = load_digits(n_class=n_class, return_X_y=True)
    return MinMaxScaler().fit_transform(X[:200]), y[:200]


X_DIGITS_MULTI, Y_DIGITS_MULTI = _digits(3)
X_DIGITS_BINARY, Y_DIGITS_BINARY = _digits(2)
X_IRIS, Y_IRIS = load_iris(return_X_y=True)

# skorch's classifier_data fixture: 1,000 rows of 20 features, two classes.
X_SKORCH, Y_SKORCH = make_classification(1000, 20, n_informative=10, random_state=0)
X_SKORCH = X_SKORCH.astype(np.float32)
