"""Which rows an epoch trains on, in an order that does not depend on input order.

Two rules make sample weights and row order behave the way scikit-learn
expects of a fitted model:

* an integer weight ``k`` means the row counts ``k`` times, so it is repeated
  ``k`` times (0 drops it): training on weighted rows is then exactly training
  on repeated rows, dropout masks and mini-batches included;
* rows are put in a canonical order, sorted by their content, before the
  seeded shuffle; so the same rows in any order, or repeated rather than
  weighted, give the same batches and the same model for a fixed
  ``random_state``.

Weights that are not all integers scale each sample's loss instead,
normalised to a mean of 1 so the learning rate keeps its meaning.
"""

import numpy as np


def training_rows(X, y, sample_weight):
    """Rows to train on (indices into ``X``) and their loss weights or None."""
    if sample_weight is None:
        rows, row_weights = np.arange(len(X)), None
    elif np.array_equal(sample_weight, np.round(sample_weight)):
        rows, row_weights = (
            np.repeat(np.arange(len(X)), sample_weight.astype(np.int64)),
            None,
        )
    else:
        rows = np.flatnonzero(sample_weight)
        kept = sample_weight[rows]
        row_weights = np.zeros(len(X), dtype=np.float32)
        row_weights[rows] = kept * (len(kept) / kept.sum())
    return rows[_content_order(X[rows], y[rows])], row_weights


def _content_order(X, y):
    """A permutation sorting rows by content (two random projections, then y).

    Two independent float32 projections make a tie between different rows
    vanishingly unlikely; identical rows tie, and their order cannot matter.
    """
    projections = (
        np.random.RandomState(0).standard_normal((X.shape[1], 2)).astype(X.dtype)
    )
    keys = X @ projections
    return np.lexsort((y, keys[:, 1], keys[:, 0]))
