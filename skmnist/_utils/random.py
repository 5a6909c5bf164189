"""Integer seeds drawn from the estimator's ``random_state``."""

# Keras initializers, dropout layers, TensorFlow generators and scikit-learn's
# splitters all accept seeds in [0, 2**31 - 1).
_SEED_HIGH = 2**31 - 1


def draw_seed(rng):
    """The next integer seed from the NumPy ``RandomState`` ``rng``."""
    return int(rng.randint(_SEED_HIGH))
