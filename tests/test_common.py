"""scikit-learn's own estimator checks, run on every skmnist estimator.

The networks come from the registry of named networks
(``skmnist.registered_networks()``): the two presets, the
``NetworkClassifier`` configurations (LeNet-5, a residual network with batch
normalisation) and a user's network with a layer kind of its own
(``tests/data/user_networks.py``). A network registered later is checked
without a change here.
"""

import _networks  # noqa: F401  (registers the user's network of tests/data)
from sklearn.utils.estimator_checks import parametrize_with_checks

import skmnist
from skmnist._registry import make_network

# Checks that cannot pass, with the reason each cannot. Aim: none.
EXPECTED_FAILED_CHECKS = {}


def _estimators():
    # scikit-learn trains its own MLPClassifier with max_iter=100 in these
    # checks: the default 5 or 10 epochs over a few dozen samples are too few
    # gradient steps to learn the checks' toy problems (check_classifiers_train
    # asks for 83% training accuracy). So only the number of epochs changes
    # here; every other parameter is the network's default.
    for name in skmnist.registered_networks():
        yield make_network(name, epochs=100, random_state=0)
    yield skmnist.MNISTPreprocessor()


@parametrize_with_checks(
    list(_estimators()),
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS.get(
        type(est).__name__, {}
    ),
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
