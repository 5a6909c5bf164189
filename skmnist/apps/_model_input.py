"""Reading a saved model and what it takes, for the command line and the server."""

import numpy as np

# The one rule for model files, for reading and writing alike: these suffixes,
# in any case (m.PKL too), mean joblib; any other name is skmnist's safe format.
PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")


def is_pickle_path(path):
    """Whether ``path`` names a joblib/pickle file (see ``PICKLE_SUFFIXES``)."""
    from pathlib import Path

    return Path(path).name.lower().endswith(PICKLE_SUFFIXES)


# A joblib/pickle model file larger than this is refused unread.
MAX_PICKLE_BYTES = 4 * 1024**3


def check_trusted(path, *, trust_pickle):
    """Refuse a joblib/pickle ``path`` unless ``trust_pickle``: it runs code.

    The rule of every command that reads a model (``--trust-pickle``).
    """
    if is_pickle_path(path) and not trust_pickle:
        raise ValueError(
            f"{path} is a joblib/pickle file, which runs code when loaded: "
            "pass --trust-pickle if you trust it, or convert it with skmnist.save"
        )


def load_model(path):
    """A saved model: skmnist's safe format, or joblib for pickle suffixes.

    A joblib file is read as every file is (a regular file, of at most
    ``MAX_PICKLE_BYTES``); it runs code from the file: trusted files only.
    """
    if is_pickle_path(path):
        import joblib

        from .._utils.files import open_regular

        with open_regular(path, max_bytes=MAX_PICKLE_BYTES, what="model file") as f:
            try:
                return joblib.load(f)
            except (OSError, KeyboardInterrupt):
                raise
            except BaseException as exc:  # whatever a broken pickle raises
                raise ValueError(
                    f"{path}: cannot load the joblib/pickle file "
                    f"({type(exc).__name__}: {exc})"
                ) from exc
    from ..persistence._format import load

    return load(path)


def model_input(model, images):
    """What ``model`` takes for (n, 28, 28) uint8 ``images``.

    A pipeline that starts with :class:`MNISTPreprocessor` takes the raw
    images; anything else (a bare classifier, trained as in the Keras tutorial)
    gets flat rows of 784 pixels scaled to [0, 1].
    """
    from ..data._preprocessing import MNISTPreprocessor

    if not hasattr(model, "predict_proba"):
        raise ValueError(
            f"the model ({type(model).__name__}) is not a classifier: it has no "
            "predict_proba"
        )
    # A search (GridSearchCV...) predicts with its best estimator.
    steps = getattr(getattr(model, "best_estimator_", model), "steps", None)
    if steps:
        first = next(
            (step for _, step in steps if step not in (None, "passthrough")), None
        )
        if isinstance(first, MNISTPreprocessor):
            return images
    flat = images.reshape(len(images), -1)
    n_features = getattr(model, "n_features_in_", flat.shape[1])
    if n_features != flat.shape[1]:
        raise ValueError(
            f"the model expects {n_features} features per sample, not the "
            f"{flat.shape[1]} pixels of a 28x28 image"
        )
    return np.divide(flat, 255, dtype=np.float32)
