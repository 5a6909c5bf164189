"""What the peer-expectation modules share: small networks and the peers' data.

``tests/test_peers_sklearn.py``, ``test_peers_scikeras.py`` and
``test_peers_skorch.py`` restate other projects' classifier tests in
skmnist's terms (``docs/peer_expectations.md`` lists the translation and the
differences kept on purpose). Every case runs on each network here, in a
configuration small enough to train in a fraction of a second on the peers'
toy data: no dropout and no random shifts unless a case needs them, a
learning rate that learns a few hundred rows in tens of epochs, batches of 32.
"""

import numpy as np
from sklearn.datasets import load_digits, load_iris, make_classification
from sklearn.preprocessing import MinMaxScaler

from skmnist import MNISTCNNClassifier, MNISTMLPClassifier

# Marks a defect of issue 17 that a case here found or reproduces: the case
# states what skmnist will do, fails today, and turns the run red once fixed
# (strict), so that the marker is removed with the fix.
ISSUE_17 = "issue 17 point {}: fixed in phase 2"
PEER_FINDING = "found by the peer port, not yet in issue 17: {}"


class Network:
    """A factory of one small skmnist network, with its own parameter names.

    ``hidden=`` stands for the network's hidden dense widths: the MLP's
    ``hidden_layer_sizes`` (scikit-learn's name), the ConvNet's
    ``dense_units``. Every other keyword is the estimator's own.
    """

    def __init__(self, name, cls, hidden, **params):
        self.name, self.cls, self.hidden, self.params = name, cls, hidden, params

    def __call__(self, **params):
        if "hidden" in params:
            params[self.hidden] = params.pop("hidden")
        return self.cls(**{**self.params, **params})

    def __repr__(self):
        return self.name


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
}


def network_of(clf):
    """The :class:`Network` that made ``clf``, for a second one of its kind."""
    return next(net for net in NETWORKS.values() if isinstance(clf, net.cls))


# The training-only randomness each network has, for the cases about its state
# (dropout masks, random shifts) that must survive pickling and copying.
RANDOM_LAYERS = {
    "mlp": {"dropout": 0.2},
    "cnn": {"dropout": 0.2, "max_shift": 1},
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
