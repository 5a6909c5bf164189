"""Which rows an epoch trains on, in an order that does not depend on input order.

Two rules make sample weights and row order behave the way scikit-learn
expects of a fitted model:

* an integer weight ``k`` means the row counts ``k`` times, so it is repeated
  ``k`` times (0 drops it): training on weighted rows is then exactly training
  on repeated rows, dropout masks and mini-batches included. Only while the
  repeated rows number at most ``MAX_REPEAT`` times the rows given: larger
  integer weights (``10**6`` each, say) scale the loss like any other
  weights, so that an epoch never costs more than that many passes;
* rows are put in a canonical order, sorted by a hash of their content and
  then by label, before the seeded shuffle; so the same rows in any order,
  or repeated rather than weighted, give the same batches and the same model
  for a fixed ``random_state``. The hash is of the float32 values training
  uses, so float64 data and its float32 copy train alike. The only
  exception is two different rows with the same label whose two 64-bit
  hashes both collide.

Weights that are not all integers scale each sample's loss instead,
normalised to a mean of 1 so the learning rate keeps its meaning.
"""

import numpy as np

# Integer weights are repeated rows while they add up to at most this many
# times the number of rows.
MAX_REPEAT = 10


def training_rows(X, y, sample_weight):
    """Rows to train on (indices into ``X``) and their loss weights or None."""
    if sample_weight is None:
        rows, row_weights = np.arange(len(X)), None
    elif np.array_equal(sample_weight, np.round(sample_weight)) and (
        sample_weight.sum() <= MAX_REPEAT * len(X)
    ):
        rows, row_weights = (
            np.repeat(np.arange(len(X)), sample_weight.astype(np.int64)),
            None,
        )
    else:
        rows = np.flatnonzero(sample_weight)
        kept = sample_weight[rows]
        row_weights = np.zeros(len(X), dtype=np.float32)
        row_weights[rows] = kept * (len(kept) / kept.sum())
    # Hash every row once and index the keys, rather than hashing ``X[rows]``:
    # that copy would be as large as the training data. The plain hash comes
    # first, so rows whose plain hashes differ keep the order (and a fixed
    # random_state the model) of skmnist 0.2; the folded hash settles the
    # rows where the plain one collides.
    plain, folded = _row_hashes(X)
    return rows[np.lexsort((y[rows], folded[rows], plain[rows]))], row_weights


def _row_hashes(X, *, chunk_rows=512):
    """Two 64-bit hashes of each row's values as float32, the precision training uses.

    Hashing the float32 values, not the input's, makes a float64 ``X`` and
    its float32 copy (or rows that only differ below float32's precision,
    which train as the same rows) hash alike; each chunk is cast on its own,
    so no float32 copy of ``X`` is made. The hash is integer arithmetic on
    the values' bit patterns (a product with wrapping uint64 multiply-adds,
    NumPy's own loop, not BLAS), exact, so it is the same whatever the row's
    position, the number of threads or the machine: a floating-point
    projection would round differently with the thread count and reorder
    near-ties. In the plain hash, values whose low mantissa bits are all zero
    (``k / 16``, small integers) leave the low bits zero and collide often;
    in the folded one, each value's high half is first folded into its low
    half, so every value spreads over all 64 bits. Identical rows hash alike,
    and their order cannot matter. Returns ``(plain, folded)``.
    """
    multipliers = np.random.RandomState(0).randint(
        1, 2**62, size=X.shape[1], dtype=np.int64
    ).astype(np.uint64) | np.uint64(1)
    plain = np.empty(len(X), dtype=np.uint64)
    folded = np.empty(len(X), dtype=np.uint64)
    half = np.uint64(16)  # half of a float32's 32 bits
    for start in range(0, len(X), chunk_rows):
        rows = slice(start, start + chunk_rows)
        values = np.ascontiguousarray(X[rows], np.float32)
        block = values.view(np.uint32).astype(np.uint64)
        plain[rows] = block @ multipliers  # uint64 arithmetic wraps: modulo 2**64
        block ^= block >> half
        folded[rows] = block @ multipliers
    return plain, folded
