"""RandomShift written with ``keras.ops`` only, so that it runs on every backend."""

import keras
from keras import ops


class RandomShift(keras.layers.Layer):
    """Each training image moved by a random whole number of pixels.

    Up to ``max_shift`` pixels up or down and left or right, drawn per image,
    the uncovered border filled with zeros. The identity at inference.

    ``method`` picks the formulation (all give the same images; which is
    fastest depends on the backend, see ``bench_shift.py``):

    ``"gather"``
        Two batched gathers (``take_along_axis``) from the zero-padded
        images: rows, then columns (today's TensorFlow layer).
    ``"gather_flat"``
        One gather of every output pixel from the flattened padded image.
    ``"one_hot"``
        Two batched matrix products with one-hot row and column selectors
        (exact: each output is one input times 1 plus zeros).
    ``"select"``
        For each of the ``2 * max_shift + 1`` offsets per axis, a slice of
        the padded image kept where the image's offset is that one.
    """

    METHODS = ("gather", "gather_flat", "one_hot", "select")

    def __init__(self, max_shift, seed=None, method="gather", **kwargs):
        super().__init__(**kwargs)
        if method not in self.METHODS:
            raise ValueError(f"method must be one of {self.METHODS}, got {method!r}")
        self.max_shift = int(max_shift)
        self.seed = seed
        self.method = method
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=False):
        if not training or self.max_shift == 0:
            return images
        k = self.max_shift
        # Offsets in [0, 2k]: the top-left corner of each image's window in
        # the padded image (k is no shift).
        offsets = keras.random.randint(
            (ops.shape(images)[0], 2), 0, 2 * k + 1, seed=self.seed_generator
        )
        return getattr(self, f"_{self.method}")(images, offsets, k)

    @staticmethod
    def _padded(images, k):
        return ops.pad(images, [[0, 0], [k, k], [k, k], [0, 0]])

    def _gather(self, images, offsets, k):
        height, width = images.shape[1], images.shape[2]
        padded = self._padded(images, k)
        rows = offsets[:, :1] + ops.arange(height, dtype="int32")[None]
        columns = offsets[:, 1:] + ops.arange(width, dtype="int32")[None]
        shifted = ops.take_along_axis(padded, rows[:, :, None, None], axis=1)
        return ops.take_along_axis(shifted, columns[:, None, :, None], axis=2)

    def _gather_flat(self, images, offsets, k):
        height, width, channels = images.shape[1], images.shape[2], images.shape[3]
        padded_width = width + 2 * k
        padded = ops.reshape(
            self._padded(images, k), (-1, (height + 2 * k) * padded_width, channels)
        )
        rows = offsets[:, :1] + ops.arange(height, dtype="int32")[None]
        columns = offsets[:, 1:] + ops.arange(width, dtype="int32")[None]
        index = rows[:, :, None] * padded_width + columns[:, None, :]
        flat = ops.take_along_axis(
            padded, ops.reshape(index, (-1, height * width, 1)), axis=1
        )
        return ops.reshape(flat, (-1, height, width, channels))

    def _one_hot(self, images, offsets, k):
        height, width = images.shape[1], images.shape[2]
        dtype = images.dtype
        # select[b, i, j] = 1 where output row i reads input row j of image b.
        rows = offsets[:, :1] - k + ops.arange(height, dtype="int32")[None]
        columns = offsets[:, 1:] - k + ops.arange(width, dtype="int32")[None]
        # A comparison rather than ops.one_hot: PyTorch's one_hot rejects
        # indices past the end, which here must select nothing (zeros).
        row_select = ops.cast(rows[:, :, None] == ops.arange(height)[None, None], dtype)
        column_select = ops.cast(
            columns[:, :, None] == ops.arange(width)[None, None], dtype
        )
        return ops.einsum("bih,bhwc,bjw->bijc", row_select, images, column_select)

    def _select(self, images, offsets, k):
        height, width = images.shape[1], images.shape[2]
        padded = self._padded(images, k)
        moved = None
        for offset in range(2 * k + 1):
            keep = ops.cast(offsets[:, 0] == offset, images.dtype)[:, None, None, None]
            part = padded[:, offset : offset + height] * keep
            moved = part if moved is None else moved + part
        shifted = None
        for offset in range(2 * k + 1):
            keep = ops.cast(offsets[:, 1] == offset, images.dtype)[:, None, None, None]
            part = moved[:, :, offset : offset + width] * keep
            shifted = part if shifted is None else shifted + part
        return shifted

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "max_shift": self.max_shift,
            "seed": self.seed,
            "method": self.method,
        }
