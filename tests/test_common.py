"""scikit-learn's own estimator checks, run on every skmnist estimator."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skmnist import MNISTCNNClassifier, MNISTMLPClassifier, MNISTPreprocessor

# Checks that cannot pass, with the reason each cannot. Aim: none.
EXPECTED_FAILED_CHECKS = {
    "MNISTMLPClassifier": {},
    "MNISTCNNClassifier": {},
    "MNISTPreprocessor": {},
}


def _estimators():
    # scikit-learn trains its own MLPClassifier with max_iter=100 in these
    # checks: the default 5 (MLP) or 10 (ConvNet) epochs over a few dozen
    # samples are too few gradient steps to learn the checks' toy problems
    # (check_classifiers_train asks for 83% training accuracy). So only the
    # number of epochs changes here; every other parameter is the default.
    yield MNISTMLPClassifier(epochs=100, random_state=0)
    yield MNISTCNNClassifier(epochs=100, random_state=0)
    yield MNISTPreprocessor()


@parametrize_with_checks(
    list(_estimators()),
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS[type(est).__name__],
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
