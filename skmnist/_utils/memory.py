"""Memory that the training backends can share without a copy."""

import math

import numpy as np

# TensorFlow can use an array's memory without copying it only when the data
# starts on a 64-byte boundary; NumPy guarantees 16.
TENSOR_ALIGNMENT = 64


def aligned_empty(shape, dtype):
    """An uninitialised C-ordered array whose data is TENSOR_ALIGNMENT-aligned.

    Training hands the scaled images to TensorFlow without a copy when they
    are aligned, which saves the time and the memory of a second copy of the
    training set.
    """
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    buffer = np.empty(nbytes + TENSOR_ALIGNMENT, dtype=np.uint8)
    start = -buffer.ctypes.data % TENSOR_ALIGNMENT
    return buffer[start : start + nbytes].view(dtype).reshape(shape)
