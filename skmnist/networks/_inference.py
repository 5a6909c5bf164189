"""A fitted network's forward pass in NumPy, without TensorFlow.

A network is plain data: its architecture (a list of layer descriptions, see
:mod:`skmnist.networks._architecture`) and the kernels and biases of its weighted
layers. Each layer kind has one small kernel here. Prediction runs here rather
than through Keras: it needs no TensorFlow import and is fast for a single
image. It computes in the input's precision, as scikit-learn's MLP does:
float32 rows (what :class:`~skmnist.MNISTPreprocessor` makes) in float32,
anything else in float64, where a row's output does not depend on where the
row sits in the batch.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# Rows per pass through the layers of a network with convolutions: their
# unfolded patches take tens of kilobytes per image, so long batches go in
# chunks and memory stays bounded.
CONVOLUTION_CHUNK_ROWS = 256


def _relu(Z):
    return np.maximum(Z, 0, out=Z)


def _tanh(Z):
    return np.tanh(Z, out=Z)


def _logistic(Z):
    # exp(-log(1 + exp(-z))) is 1 / (1 + exp(-z)) without overflow warnings.
    return np.exp(-np.logaddexp(0, -Z, out=Z), out=Z)


def _identity(Z):
    return Z


def _softmax(Z):
    Z -= Z.max(axis=-1, keepdims=True)
    np.exp(Z, out=Z)
    Z /= Z.sum(axis=-1, keepdims=True)
    return Z


ACTIVATIONS = {
    "identity": _identity,
    "logistic": _logistic,
    "tanh": _tanh,
    "relu": _relu,
    "softmax": _softmax,
}


def compute_dtype(X):
    """float32 for float32 input, float64 for anything else."""
    return np.float32 if X.dtype == np.float32 else np.float64


def forward(X, architecture, weights):
    """Class probabilities of the 2-D ``X`` for a network described as data.

    ``weights`` holds one ``(kernel, bias)`` pair per weighted layer (dense
    and conv2d), in layer order, already in the precision to compute in.
    """
    dtype = weights[0][0].dtype if weights else compute_dtype(X)
    X = np.asarray(X, dtype=dtype)
    has_convolutions = any(layer["kind"] == "conv2d" for layer in architecture)
    if not has_convolutions or len(X) <= CONVOLUTION_CHUNK_ROWS:
        return _layers(X, architecture, weights)
    out = None
    for start in range(0, len(X), CONVOLUTION_CHUNK_ROWS):
        chunk = _layers(
            X[start : start + CONVOLUTION_CHUNK_ROWS], architecture, weights
        )
        if out is None:
            out = np.empty((len(X), chunk.shape[1]), dtype=chunk.dtype)
        out[start : start + len(chunk)] = chunk
    return out


def _layers(Z, architecture, weights):
    pairs = iter(weights)
    deferred = None
    for i, layer in enumerate(architecture):
        kind = layer["kind"]
        if kind == "conv2d":
            Z = _convolve(Z, *next(pairs))
            # Every activation here is non-decreasing, so it commutes with a
            # max-pooling after it: applied to the pooled output, it touches a
            # quarter of the values.
            pooled_next = i + 1 < len(architecture) and (
                architecture[i + 1]["kind"] == "max_pool2d"
            )
            if pooled_next:
                deferred = layer["activation"]
            else:
                ACTIVATIONS[layer["activation"]](Z)
        elif kind == "dense":
            Z = _dense(Z, layer, *next(pairs))
        else:
            Z = KERNELS[kind](Z, layer)
            if deferred is not None:
                ACTIVATIONS[deferred](Z)
                deferred = None
    return Z


def _dense(Z, layer, coef, intercept):
    # The bias is added in place: ``Z @ coef + intercept`` would allocate a
    # second (n_samples, width) array, as costly as a tenth of the product.
    # Each output element is the same dot product either way.
    out = Z @ coef
    out += intercept
    return ACTIVATIONS[layer["activation"]](out)


def _convolve(Z, kernel, bias):
    """A "valid", stride-1 convolution plus bias, before the activation.

    One matrix product of the unfolded patches, in Keras's (kh, kw, channels)
    patch order, with the kernel as a (kh * kw * channels, filters) matrix.
    """
    kh, kw, channels, filters = kernel.shape
    n, height, width, _ = Z.shape
    out_h, out_w = height - kh + 1, width - kw + 1
    patches = sliding_window_view(Z, (kh, kw), axis=(1, 2))
    columns = patches.transpose(0, 1, 2, 4, 5, 3).reshape(-1, kh * kw * channels)
    out = columns @ kernel.reshape(kh * kw * channels, filters)
    out += bias
    return out.reshape(n, out_h, out_w, filters)


def _max_pool2d(Z, layer):
    """Non-overlapping max pooling; edge rows and columns that fill no window drop."""
    ph, pw = layer["pool_size"]
    out_h, out_w = Z.shape[1] // ph, Z.shape[2] // pw
    # The maximum over the window's strided slices: element-wise, with no
    # reduction over scattered axes.
    out = None
    for i in range(ph):
        for j in range(pw):
            window = Z[:, i : i + out_h * ph : ph, j : j + out_w * pw : pw]
            out = window.copy() if out is None else np.maximum(out, window, out=out)
    return out


def _flatten(Z, layer):
    return Z.reshape(len(Z), -1)


def _image(Z, layer):
    """Rows as square single-channel images, zero-padded as the layer says."""
    side, padding = layer["side"], layer["padding"]
    n, width = Z.shape
    if width != side * side:
        Z = np.concatenate([Z, np.zeros((n, side * side - width), Z.dtype)], axis=1)
    Z = Z.reshape(n, side, side, 1)
    if padding:
        Z = np.pad(Z, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    return Z


def _inactive(Z, layer):
    """Dropout and augmentation act during training only."""
    return Z


# The kernels of the layers without weights; dense and conv2d layers are run
# by ``_layers`` itself.
KERNELS = {
    "image": _image,
    "max_pool2d": _max_pool2d,
    "flatten": _flatten,
    "dropout": _inactive,
    "random_shift": _inactive,
}
