"""Data augmentation inside the network: random shifts of the training images."""

import functools
import math

from ._base import IMAGES, Cost, Layer, non_negative_int
from ._base import register_layer as _register


@_register
class RandomShift(Layer):
    """During training, move each image by a random whole number of pixels.

    Up to ``max_shift`` pixels up or down and left or right, drawn per image
    from the network's seeded generator, the uncovered border filled with
    zeros: a shifted digit stays a digit on black. At prediction time the
    layer passes its input through.

    Parameters
    ----------
    max_shift : int >= 0, default=2
        The largest shift, in pixels; 0 for none.

    Examples
    --------
    >>> from skmnist.layers import RandomShift
    >>> RandomShift(2).output_shape((28, 28, 1))
    (28, 28, 1)
    """

    kind = "random_shift"
    rows_independent = True
    takes = IMAGES

    def __init__(self, max_shift=2):
        self.max_shift = non_negative_int(max_shift, "max_shift")

    def cost(self, shape):
        return Cost(0, math.prod(shape))

    def forward(self, Z, weights):
        return Z

    def keras_layer(self, build):
        return keras_random_shift()(
            self.max_shift,
            seed=build.seed(),
            name=build.name("random_shift", numbered=False),
        )

    @classmethod
    def keras_objects(cls):
        return [keras_random_shift()]

    def to_onnx(self, graph, X, shape, weights):
        return X


@functools.cache
def keras_random_shift():
    """The Keras layer of :class:`RandomShift`, defined once Keras is imported.

    Registered with Keras as ``skmnist>RandomShift``, so that models from
    :meth:`~skmnist.NetworkClassifier.to_keras` that use it save and load with
    Keras's own tools once skmnist's training side is imported.
    """
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="skmnist")
    class RandomShift(keras.layers.Layer):
        """Each training image moved by a random whole number of pixels.

        Two batched gathers from the zero-padded images (rows, then
        columns), a fraction of the cost of Keras's ``RandomTranslation`` (an
        image transform per image). Written with ``keras.ops``, so it runs on
        every backend. The identity at inference.
        """

        def __init__(self, max_shift, seed=None, **kwargs):
            super().__init__(**kwargs)
            self.max_shift = int(max_shift)
            self.seed = seed
            self.seed_generator = keras.random.SeedGenerator(seed)

        def call(self, images, training=False):
            if not training or self.max_shift == 0:
                return images
            k = self.max_shift
            height, width = images.shape[1], images.shape[2]
            shifts = keras.random.randint(
                (ops.shape(images)[0], 2), -k, k + 1, seed=self.seed_generator
            )
            # Each image's window starts at its shift plus k in the padded image.
            shifts = ops.cast(shifts, "int32") + k
            padded = ops.pad(images, [[0, 0], [k, k], [k, k], [0, 0]])
            rows = shifts[:, :1] + ops.arange(height, dtype="int32")[None]
            columns = shifts[:, 1:] + ops.arange(width, dtype="int32")[None]
            shifted = ops.take_along_axis(padded, rows[:, :, None, None], axis=1)
            return ops.take_along_axis(shifted, columns[:, None, :, None], axis=2)

        def compute_output_shape(self, input_shape):
            return input_shape

        def get_config(self):
            return {
                **super().get_config(),
                "max_shift": self.max_shift,
                "seed": self.seed,
            }

    return RandomShift
