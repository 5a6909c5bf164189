"""Two-dimensional convolution."""

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._activations import ACTIVATIONS, activation_name
from ._base import IMAGES, Cost, Layer, check_takes, choice, pair, positive_int
from ._base import register_layer as _register
from ._core import _as_float64

PADDINGS = ("valid", "same")


def spatial_output(size, kernel, stride, padding):
    """An output side, as Keras computes it (``None`` when the kernel overhangs)."""
    if padding == "same":
        return -(-size // stride)
    if kernel > size:
        return None
    return (size - kernel) // stride + 1


def same_padding(size, kernel, stride):
    """``(before, after)`` zeros of "same" padding, as Keras and TensorFlow pad."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def same_sides(sides, kernel_size, strides):
    """``[(top, bottom), (left, right)]``: :func:`same_padding` of both sides."""
    return [
        same_padding(size, k, s)
        for size, k, s in zip(sides, kernel_size, strides, strict=True)
    ]


@_register
class Conv2D(Layer):
    """A 2-D convolution over images, channels last, as Keras's ``Conv2D``.

    Parameters
    ----------
    filters : int
        Number of output channels.

    kernel_size : int or (int, int)
        Height and width of the kernel.

    strides : int or (int, int), default=1
        Step between windows, down and across.

    padding : {"valid", "same"}, default="valid"
        ``"valid"``: windows inside the image only; ``"same"``: zeros around
        the image so that the output has ``ceil(side / stride)`` pixels a
        side, as in Keras.

    activation : str, default="identity"
        As for :class:`Dense`; applied to every output value (``"softmax"``
        over the channels of each pixel).

    Notes
    -----
    Its weights are a kernel of shape ``(kernel_h, kernel_w, channels,
    filters)`` (Keras's layout) and a bias of ``(filters,)``. Prediction
    computes it as one matrix product of the unfolded windows.

    Examples
    --------
    >>> from skmnist.layers import Conv2D
    >>> Conv2D(6, 5, padding="same", activation="tanh").output_shape((28, 28, 1))
    (28, 28, 6)
    >>> Conv2D(16, 5, strides=2).output_shape((14, 14, 6))
    (5, 5, 16)
    """

    kind = "conv2d"
    rows_independent = True
    takes = IMAGES
    weighted = True
    defers_activation = True
    # onnxruntime's CPU Conv computes in float32 only.
    onnx_float32_only = True

    def __init__(
        self, filters, kernel_size, strides=1, padding="valid", activation="identity"
    ):
        self.filters = positive_int(filters, "filters")
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.strides = pair(strides, "strides")
        self.padding = choice(padding, "padding", PADDINGS)
        self.activation = activation_name(activation, "Conv2D")

    def output_shape(self, shape):
        check_takes(self, shape)
        sides = [
            spatial_output(size, kernel, stride, self.padding)
            for size, kernel, stride in zip(
                shape[:2], self.kernel_size, self.strides, strict=True
            )
        ]
        if None in sides:
            raise ValueError(
                f"its {self.kernel_size} kernel is larger than its input "
                f"{shape[:2]} (padding='valid')"
            )
        return (*sides, self.filters)

    def min_input_side(self, side):
        overhang = max(self.kernel_size) if self.padding == "valid" else 1
        return (side - 1) * max(self.strides) + overhang

    def weight_shapes(self, shape):
        return (*self.kernel_size, shape[2], self.filters), (self.filters,)

    def cost(self, shape):
        out_h, out_w, _ = self.output_shape(shape)
        patch = math.prod(self.kernel_size) * shape[2]
        return Cost(
            out_h * out_w * patch * self.filters,
            math.prod(shape) + out_h * out_w * (patch + self.filters),
        )

    def inference_weights(self, coef, intercept, dtype, shape=None):
        kernel = np.asarray(coef, dtype=dtype)
        bias = np.asarray(intercept, dtype=dtype)
        block = self._block(shape)
        if block == 1:
            return kernel, bias, None
        return (
            kernel,
            bias,
            (block, _blocked_kernel(kernel, block), np.tile(bias, block)),
        )

    def _block(self, shape):
        """Output columns computed by one row of the matrix product (1: plain).

        A convolution with few filters is a matrix product with few columns,
        which BLAS runs at a fraction of its speed, after an unfolding that
        copies each input value ``kh * kw`` times. Computing ``block``
        neighbouring outputs of a row at once multiplies the columns by
        ``block`` and divides the copy by almost as much, at the price of
        ``(block + kw - 1) / kw`` times the arithmetic: worth it up to about
        64 columns. The block divides the output width, so that no column is
        computed for nothing.
        """
        if shape is None or self.strides != (1, 1):
            return 1
        width = self.output_shape(shape)[1]
        target = max(1, 64 // self.filters)
        return max(d for d in range(1, min(target, width) + 1) if width % d == 0)

    def forward(self, Z, weights, activate=True):
        kernel, bias, blocked = next(weights)
        (top, bottom), (left, right) = (
            same_sides(Z.shape[1:3], self.kernel_size, self.strides)
            if self.padding == "same"
            else [(0, 0), (0, 0)]
        )
        if top or bottom or left or right:
            Z = np.pad(Z, ((0, 0), (top, bottom), (left, right), (0, 0)))
        if blocked is not None:
            out = _blocked_convolution(Z, kernel, *blocked)
        else:
            out = _unfolded_convolution(Z, kernel, bias, self.strides)
        if activate:
            ACTIVATIONS[self.activation].numpy(out, out=out)
        return out

    @property
    def accepts_affine(self):
        """Whether a per-output scale and shift after it folds into its weights."""
        return self.activation == "identity"

    def fold_affine(self, coef, intercept, scale, shift):
        """The weights that compute this layer, then ``* scale + shift``."""
        return coef * scale, intercept * scale + shift

    def keras_layer(self, build):
        keras = build.keras
        return keras.layers.Conv2D(
            self.filters,
            self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            activation=ACTIVATIONS[self.activation].keras,
            kernel_initializer=build.kernel_initializer(),
            name=build.name("conv"),
        )

    def torch_training_call(self, keras_layer, generator):
        """Keras's convolution, without its layout round trip.

        Keras's PyTorch backend copies each image batch to channels-first
        and back to channels-last memory before the convolution (Keras
        3.15). An NHWC batch already is a
        channels-last NCHW tensor (a permuted view), so the same oneDNN
        convolution runs on it with no copy, and its output, permuted back, is
        NHWC again: the same arithmetic, bias added and activation applied
        after it as Keras does.
        """
        import torch

        if not _plain_keras_convolution(keras_layer):
            return None
        kernel, bias = keras_layer.kernel, keras_layer.bias
        activation, strides = keras_layer.activation, tuple(keras_layer.strides)
        size, same = tuple(keras_layer.kernel_size), keras_layer.padding == "same"

        def convolution(x, **_):  # the graph passes its call's training=None
            images, padding = torch_channels_first(x), 0
            if same:
                images, padding = _torch_same_padding(images, size, strides)
            weights = kernel.value.permute(3, 2, 0, 1)
            z = torch.nn.functional.conv2d(
                images,
                weights.contiguous(memory_format=torch.channels_last),
                stride=strides,
                padding=padding,
            ).permute(0, 2, 3, 1)
            return activation(z if bias is None else z + bias.value)

        return convolution

    def jax_training_call(self, keras_layer):
        """Keras's convolution as one matrix product of the unfolded windows.

        XLA's CPU convolutions (and their gradients) run several times slower
        than its matrix products for the same arithmetic: the windows are
        unfolded by slicing, in Keras's (kh, kw, channels) order, and
        multiplied by the kernel as a (kh * kw * channels, filters) matrix.
        The same values as Keras's call to float32's rounding (another order
        of the sums).
        """
        if not _plain_keras_convolution(keras_layer):
            return None
        kernel, bias = keras_layer.kernel, keras_layer.bias
        activation, strides = keras_layer.activation, tuple(keras_layer.strides)
        same = keras_layer.padding == "same"

        def convolution(x, **_):  # the graph passes its call's training=None
            import jax.numpy as jnp

            weights = kernel.value
            if same:
                sides = same_sides(x.shape[1:3], weights.shape[:2], strides)
                x = jnp.pad(x, ((0, 0), *sides, (0, 0)))
            z = _jax_unfolded_convolution(x, weights, strides)
            return activation(z if bias is None else z + bias.value)

        return convolution

    def keras_weights(self, keras_layer):
        return _as_float64(keras_layer.kernel), _as_float64(keras_layer.bias)

    def set_keras_weights(self, keras_layer, coef, intercept):
        keras_layer.kernel.assign(np.asarray(coef, dtype=np.float32))
        keras_layer.bias.assign(np.asarray(intercept, dtype=np.float32))

    def to_onnx(self, graph, X, shape, weights):
        kernel, bias, _ = next(weights)
        (top, bottom), (left, right) = (
            same_sides(shape[:2], self.kernel_size, self.strides)
            if self.padding == "same"
            else [(0, 0), (0, 0)]
        )
        # Keras kernels are (kh, kw, in, out); ONNX's are (out, in, kh, kw).
        Z = graph.node(
            "Conv",
            [
                X,
                graph.weight("kernel", np.transpose(kernel, (3, 2, 0, 1))),
                graph.weight("bias", bias),
            ],
            kernel_shape=list(self.kernel_size),
            strides=list(self.strides),
            pads=[top, left, bottom, right],
        )
        return ACTIVATIONS[self.activation].to_onnx(graph, Z)


def _plain_keras_convolution(keras_layer):
    """Whether ``keras_layer`` is Keras's own Conv2D, channels last, undilated."""
    import keras

    return (
        type(keras_layer) is keras.layers.Conv2D  # not a subclass's own call
        and keras_layer.data_format == "channels_last"
        and tuple(keras_layer.dilation_rate) == (1, 1)
        and keras_layer.groups == 1
    )


def _jax_unfolded_convolution(x, kernel, strides):
    """The "valid" convolution of the JAX batch ``x``, as one matrix product."""
    import jax.numpy as jnp

    kh, kw, channels, filters = kernel.shape
    (sh, sw), (n, height, width, _) = strides, x.shape
    out_h, out_w = (height - kh) // sh + 1, (width - kw) // sw + 1
    windows = [
        x[:, i : i + (out_h - 1) * sh + 1 : sh, j : j + (out_w - 1) * sw + 1 : sw]
        for i in range(kh)
        for j in range(kw)
    ]
    columns = jnp.concatenate(windows, axis=-1).reshape(-1, kh * kw * channels)
    out = columns @ kernel.reshape(kh * kw * channels, filters)
    return out.reshape(n, out_h, out_w, filters)


def torch_channels_first(images):
    """A PyTorch batch of NHWC images as NCHW, in channels-last memory.

    The permuted view of a contiguous batch (no copy), which PyTorch's
    convolutions and pooling take as channels-last; a copy for any other
    memory layout.
    """
    import torch

    images = images.permute(0, 3, 1, 2)
    if images.is_contiguous(memory_format=torch.channels_last):
        return images
    return images.contiguous(memory_format=torch.channels_last)


def _torch_same_padding(images, kernel_size, strides):
    """``(images, padding)`` for PyTorch's convolution, "same" as Keras pads.

    Even padding is the convolution's own; uneven (the extra zero after) is
    padded first, as Keras's PyTorch backend does.
    """
    import torch

    sides = same_sides(images.shape[2:], kernel_size, strides)
    if all(before == after for before, after in sides):
        return images, [before for before, _ in sides]
    (top, bottom), (left, right) = sides
    return torch.nn.functional.pad(images, (left, right, top, bottom)), 0


def _unfolded_convolution(Z, kernel, bias, strides):
    """The convolution of the padded ``Z`` as one product of its unfolded windows.

    The windows are unfolded in Keras's (kh, kw, channels) order, and the
    kernel is a (kh * kw * channels, filters) matrix.
    """
    kh, kw, channels, filters = kernel.shape
    patches = sliding_window_view(Z, (kh, kw), axis=(1, 2))
    sh, sw = strides
    if (sh, sw) != (1, 1):
        patches = patches[:, ::sh, ::sw]
    n, out_h, out_w = patches.shape[:3]
    columns = patches.transpose(0, 1, 2, 4, 5, 3).reshape(-1, kh * kw * channels)
    out = columns @ kernel.reshape(kh * kw * channels, filters)
    out += bias
    return out.reshape(n, out_h, out_w, filters)


def _blocked_kernel(kernel, block):
    """The kernel as the matrix that maps ``block + kw - 1`` input columns of
    ``kh`` rows to ``block`` neighbouring outputs (zero where a kernel column
    does not reach)."""
    kh, kw, channels, filters = kernel.shape
    matrix = np.zeros((kh, block + kw - 1, channels, block, filters), kernel.dtype)
    offset = np.arange(block)
    for j in range(kw):  # the kernel's columns, each on ``block`` diagonals
        matrix[:, offset + j, :, offset, :] = kernel[:, j]
    return matrix.reshape(kh * (block + kw - 1) * channels, block * filters)


def _blocked_convolution(Z, kernel, block, matrix, bias):
    """A stride-1 convolution of the padded ``Z``, ``block`` outputs a window."""
    kh, kw, channels, filters = kernel.shape
    n, out_h, out_w = Z.shape[0], Z.shape[1] - kh + 1, Z.shape[2] - kw + 1
    windows = sliding_window_view(Z, (kh, block + kw - 1), axis=(1, 2))[:, :, ::block]
    columns = windows.transpose(0, 1, 2, 4, 5, 3).reshape(
        -1, kh * (block + kw - 1) * channels
    )
    out = columns @ matrix
    out += bias
    return out.reshape(n, out_h, out_w, filters)
