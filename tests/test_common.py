"""scikit-learn's own estimator checks, run on both skmnist estimators."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skmnist import MNISTMLPClassifier, MNISTPreprocessor

# Checks that cannot pass, with the reason each cannot. Aim: none.
EXPECTED_FAILED_CHECKS = {"MNISTMLPClassifier": {}, "MNISTPreprocessor": {}}


def _estimators():
    # scikit-learn trains its own MLPClassifier with max_iter=100 in these
    # checks: the tutorial's 5 epochs over a few dozen samples are 5 gradient
    # steps, too few to learn the checks' toy problems (check_classifiers_train
    # asks for 83% training accuracy). So only the number of epochs changes
    # here; every other parameter is the tutorial's default.
    yield MNISTMLPClassifier(epochs=100, random_state=0)
    yield MNISTPreprocessor()


@parametrize_with_checks(
    list(_estimators()),
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS[type(est).__name__],
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
