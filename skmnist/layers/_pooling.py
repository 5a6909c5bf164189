"""Pooling: the largest or mean value of each window, or of each whole channel."""

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._base import IMAGES, Cost, Layer, check_takes, pair
from ._base import register_layer as _register
from ._convolution import spatial_output, torch_channels_first


class _Pool2D(Layer):
    """What max- and average pooling share: windows, strides, "valid" edges."""

    takes = IMAGES
    onnx_float32_only = True
    _keras_class = None
    _onnx_op = None
    _torch_function = None
    _jax_reduction = None

    def __init__(self, pool_size=2, strides=None):
        self.pool_size = pair(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else pair(strides, "strides")

    def __repr__(self):
        # strides follow pool_size unless given: show each only when it is not
        # what the defaults would make it.
        shown = []
        if self.pool_size != (2, 2):
            shown.append(f"pool_size={self.pool_size!r}")
        if self.strides != self.pool_size:
            shown.append(f"strides={self.strides!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    def output_shape(self, shape):
        check_takes(self, shape)
        sides = [
            spatial_output(size, window, stride, "valid")
            for size, window, stride in zip(
                shape[:2], self.pool_size, self.strides, strict=True
            )
        ]
        if None in sides:
            raise ValueError(
                f"its {self.pool_size} window is larger than its input {shape[:2]}"
            )
        return (*sides, shape[2])

    def min_input_side(self, side):
        return (side - 1) * max(self.strides) + max(self.pool_size)

    def cost(self, shape):
        out = math.prod(self.output_shape(shape))
        return Cost(out * math.prod(self.pool_size), 2 * math.prod(shape) + out)

    def _pool(self, Z, ufunc):
        """``ufunc`` (maximum or add) folded over each window of ``Z``.

        Windows that tile the image are a reshape of it (the edge rows and
        columns no window covers dropped, as Keras's "valid" pooling does);
        overlapping or gapped ones a strided view. Each window's axes are
        folded in halves (:func:`_fold`): element-wise operations on whole
        arrays, a few times faster than NumPy's reduction over short strided
        axes, in a number of steps that grows with the logarithm of the
        window, not its size.
        """
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        n, height, width, channels = Z.shape
        if (sh, sw) == (ph, pw):
            out_h, out_w = height // ph, width // pw
            tiled = Z[:, : out_h * ph, : out_w * pw]
            windows = tiled.reshape(n, out_h, ph, out_w, pw, channels)
            return _fold(_fold(windows, 4, ufunc), 2, ufunc)
        windows = sliding_window_view(Z, (ph, pw), axis=(1, 2))[:, ::sh, ::sw]
        return _fold(_fold(windows, 5, ufunc), 4, ufunc)

    def keras_layer(self, build):
        keras_class = getattr(build.keras.layers, self._keras_class)
        return keras_class(
            self.pool_size, strides=self.strides, name=build.name("pool")
        )

    def _plain_keras_pooling(self, keras_layer):
        """Whether ``keras_layer`` is Keras's own pooling, channels last, valid."""
        import keras

        return (
            type(keras_layer) is getattr(keras.layers, self._keras_class)
            and keras_layer.data_format == "channels_last"
            and keras_layer.padding == "valid"
        )

    def torch_training_call(self, keras_layer, generator):
        """Keras's pooling on the channels-last batch as it is.

        Keras's PyTorch backend pools a channels-first copy of the batch,
        several times slower than PyTorch's channels-last pooling of the
        batch's permuted view (:func:`torch_channels_first`); the windows and
        their values are the same.
        """
        import torch

        if not self._plain_keras_pooling(keras_layer):
            return None
        pool = getattr(torch.nn.functional, self._torch_function)
        size, strides = tuple(keras_layer.pool_size), tuple(keras_layer.strides)

        def pooling(x, **_):
            return pool(torch_channels_first(x), size, strides).permute(0, 2, 3, 1)

        return pooling

    def jax_training_call(self, keras_layer):
        """Keras's pooling of tiling windows as a reduction of a reshape.

        XLA's CPU backend runs window reductions, and max pooling's gradient
        (a select-and-scatter) most of all, several times slower than a
        reduction over two axes of the batch reshaped into its windows
        (windows that tile the image, the edges no window covers dropped:
        ``_pool``'s layout). The same values (a max exactly, a mean to
        float32's rounding); a tie in a window shares the max's gradient
        where Keras's gives it to one value.
        """
        size, strides = tuple(keras_layer.pool_size), tuple(keras_layer.strides)
        if not self._plain_keras_pooling(keras_layer) or strides != size:
            return None
        (ph, pw), reduction = size, self._jax_reduction

        def pooling(x, **_):
            n, height, width, channels = x.shape
            out_h, out_w = height // ph, width // pw
            windows = x[:, : out_h * ph, : out_w * pw].reshape(
                n, out_h, ph, out_w, pw, channels
            )
            return getattr(windows, reduction)(axis=(2, 4))

        return pooling

    def to_onnx(self, graph, X, shape, weights):
        return graph.node(
            self._onnx_op,
            [X],
            kernel_shape=list(self.pool_size),
            strides=list(self.strides),
        )


@_register
class MaxPool2D(_Pool2D):
    """The largest value of each window, per channel, as Keras's ``MaxPooling2D``.

    Parameters
    ----------
    pool_size : int or (int, int), default=2
        Height and width of the windows.

    strides : int or (int, int), default=None
        Step between windows; the pool size when None (windows that tile
        the image). Edges that fill no window are dropped ("valid").

    Examples
    --------
    >>> from skmnist.layers import MaxPool2D
    >>> MaxPool2D(2).output_shape((27, 27, 8))
    (13, 13, 8)
    >>> MaxPool2D(3, strides=2).output_shape((27, 27, 8))
    (13, 13, 8)
    """

    kind = "max_pool2d"
    rows_independent = True
    commutes_with_monotone = True
    _keras_class = "MaxPooling2D"
    _onnx_op = "MaxPool"
    _torch_function = "max_pool2d"
    _jax_reduction = "max"

    def forward(self, Z, weights):
        return self._pool(Z, np.maximum)


@_register
class AvgPool2D(_Pool2D):
    """The mean of each window, per channel, as Keras's ``AveragePooling2D``.

    Parameters
    ----------
    pool_size : int or (int, int), default=2
        Height and width of the windows.

    strides : int or (int, int), default=None
        Step between windows; the pool size when None.

    Examples
    --------
    >>> from skmnist.layers import AvgPool2D
    >>> AvgPool2D(2).output_shape((28, 28, 6))
    (14, 14, 6)
    """

    kind = "avg_pool2d"
    rows_independent = True
    _keras_class = "AveragePooling2D"
    _onnx_op = "AveragePool"
    _torch_function = "avg_pool2d"
    _jax_reduction = "mean"

    def forward(self, Z, weights):
        out = self._pool(Z, np.add)
        size = self.pool_size[0] * self.pool_size[1]
        if size > 1:  # a 1 x 1 window passes its input through
            out *= out.dtype.type(1 / size)
        return out


@_register
class GlobalAvgPool2D(Layer):
    """The mean of each channel over the whole image: images to rows of channels.

    Examples
    --------
    >>> from skmnist.layers import GlobalAvgPool2D
    >>> GlobalAvgPool2D().output_shape((7, 7, 32))
    (32,)
    """

    kind = "global_avg_pool2d"
    rows_independent = True
    takes = IMAGES
    onnx_float32_only = True

    def __init__(self):
        pass

    def output_shape(self, shape):
        check_takes(self, shape)
        return (shape[2],)

    def min_input_side(self, side):
        return 1

    def cost(self, shape):
        return Cost(math.prod(shape), math.prod(shape) + shape[2])

    def forward(self, Z, weights):
        return Z.mean(axis=(1, 2))

    def keras_layer(self, build):
        return build.keras.layers.GlobalAveragePooling2D(name=build.name("pool"))

    def to_onnx(self, graph, X, shape, weights):
        pooled = graph.node("GlobalAveragePool", [X])  # (n, c, 1, 1)
        return graph.node("Flatten", [pooled], axis=1)


def _fold(a, axis, ufunc):
    """``ufunc`` reduced over ``axis`` by folding it in halves, on whole arrays.

    A new array, unless ``axis`` has length 1 (a view of ``a`` then).
    """
    a = np.moveaxis(a, axis, 0)
    while len(a) > 1:
        half = len(a) // 2
        out = ufunc(a[:half], a[half : 2 * half])
        if len(a) % 2:  # the odd one out joins the first
            ufunc(out[:1], a[2 * half :], out=out[:1])
        a = out
    return a[0]
