"""What makes a loaded model trustworthy: it is the size it claims and it predicts."""

import math
import warnings

import numpy as np

from ._codec import short

PASSTHROUGH = "passthrough"


def is_pipeline(estimator):
    from sklearn.pipeline import Pipeline

    return type(estimator) is Pipeline


def fitted_attributes(estimator):
    """Public attributes set by fitting: names that end, but do not start, in _."""
    return {
        name: value
        for name, value in vars(estimator).items()
        if name.endswith("_") and not name.startswith("_")
    }


# Fitted estimators load only with at most this many input features (what
# their networks may cost is each network's own check).
_MAX_FEATURES = 1 << 20


# -- the loaded model works ---------------------------------------------------


def check_works(model, path):
    """Refuse a loaded model that cannot predict: one row of zeros through it.

    The estimators' own checks (``_validate_fitted_state``) come first; this
    catches what they do not cover, such as a pipeline whose steps do not fit
    together, before a user's data reaches the model.
    """
    if is_pipeline(model):
        steps = [step for _, step in model.steps if not _is_passthrough(step)]
        for step in steps:
            check_works(step, path)
        fitted = [_is_fitted(step) for step in steps]
        if any(fitted) and not all(fitted):
            raise ValueError(
                f"{path}: the model in the file does not work: a pipeline with "
                "fitted and unfitted steps"
            )
        if steps and all(fitted):
            _check_predicts(model, _sample_inputs(steps[0], path), path)
        return
    if _is_fitted(model):
        _check_predicts(model, _sample_inputs(model, path), path)


def _is_passthrough(step):
    return step is None or (isinstance(step, str) and step == PASSTHROUGH)


def _is_fitted(estimator):
    if is_pipeline(estimator):
        return all(
            _is_fitted(step) for _, step in estimator.steps if not _is_passthrough(step)
        )
    return bool(fitted_attributes(estimator))


def _sample_inputs(estimator, path):
    """Zero inputs of the shapes the fitted ``estimator`` takes."""
    if is_pipeline(estimator):
        first = next(s for _, s in estimator.steps if not _is_passthrough(s))
        return _sample_inputs(first, path)
    n_features = vars(estimator).get("n_features_in_")
    if not (
        isinstance(n_features, int | np.integer)
        and not isinstance(n_features, bool)
        and 1 <= n_features <= _MAX_FEATURES
    ):
        raise ValueError(
            f"{path}: corrupt skmnist model file: a fitted "
            f"{type(estimator).__name__} with n_features_in_ {short(n_features)} "
            f"(skmnist loads models of 1 to {_MAX_FEATURES} features)"
        )
    inputs = [np.zeros((1, int(n_features)))]
    shape = vars(estimator).get("image_shape_")
    if shape is not None:  # the preprocessor also takes images of that shape
        if not (
            isinstance(shape, tuple)
            and len(shape) == 2
            and all(isinstance(side, int) and side > 0 for side in shape)
            and math.prod(shape) == n_features
        ):
            raise ValueError(
                f"{path}: corrupt skmnist model file: image_shape_ "
                f"{short(shape)} does not fit {n_features} features"
            )
        inputs.append(np.zeros((1, *shape)))
    return inputs


def _check_predicts(model, inputs, path):
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # such as a feature names warning
            for X in inputs:
                if hasattr(model, "predict_proba"):
                    _check_probabilities(model, X)
                elif hasattr(model, "transform"):
                    if not np.isfinite(np.asarray(model.transform(X), float)).all():
                        raise ValueError("it transforms zeros to NaN or infinity")
    except Exception as exc:
        detail = str(exc) if isinstance(exc, ValueError) else repr(exc)
        raise ValueError(
            f"{path}: the model in the file does not work: {detail}"
        ) from None


def _check_probabilities(model, X):
    proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    n_classes = len(model.classes_)
    if proba.shape != (len(X), n_classes):
        raise ValueError(
            f"it predicts probabilities of shape {proba.shape} for {n_classes} classes"
        )
    if not np.isfinite(proba).all():
        raise ValueError("it predicts NaN or infinite probabilities")
    if proba.min() < 0 or np.abs(proba.sum(axis=1) - 1).max() > 1e-3:
        raise ValueError("its probabilities do not sum to 1")
    model.predict(X)
