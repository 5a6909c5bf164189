"""The layers of the tutorial's MLP: Dense, Activation, Dropout and Flatten."""

import math

import numpy as np

from ._activations import ACTIVATIONS, activation_name
from ._base import ANY, ROWS, Cost, Layer, check_takes, fraction, positive_int
from ._base import register_layer as _register


@_register
class Dense(Layer):
    """A fully connected layer: ``activation(X @ kernel + bias)``.

    Parameters
    ----------
    units : int
        Number of outputs.

    activation : str, default="identity"
        ``"relu"``, ``"tanh"``, ``"logistic"``, ``"identity"`` or
        ``"softmax"`` (Keras's ``"sigmoid"`` and ``"linear"`` too). As in
        Keras, a dense layer is linear unless told otherwise.

    Notes
    -----
    Its weights are ``coefs_[i]`` of shape ``(n_inputs, units)`` and
    ``intercepts_[i]`` of shape ``(units,)``, as in scikit-learn's
    :class:`~sklearn.neural_network.MLPClassifier`; the kernel starts
    Glorot-uniform and the bias zero, as in Keras.

    Examples
    --------
    >>> from skmnist.layers import Dense
    >>> Dense(512, activation="relu")
    Dense(units=512, activation='relu')
    >>> Dense(10).output_shape((784,))
    (10,)
    """

    kind = "dense"
    rows_independent = True
    takes = ROWS
    weighted = True
    defers_activation = True

    def __init__(self, units, activation="identity"):
        self.units = positive_int(units, "units")
        self.activation = activation_name(activation, "Dense")

    def output_shape(self, shape):
        check_takes(self, shape)
        return (self.units,)

    def weight_shapes(self, shape):
        return (shape[0], self.units), (self.units,)

    def cost(self, shape):
        return Cost(shape[0] * self.units, shape[0] + self.units)

    def forward(self, Z, weights, activate=True):
        coef, intercept = next(weights)
        # The bias is added in place: ``Z @ coef + intercept`` would allocate a
        # second (n_samples, units) array; each element is the same either way.
        out = Z @ coef
        out += intercept
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
        return keras.layers.Dense(
            self.units,
            activation=ACTIVATIONS[self.activation].keras,
            kernel_initializer=build.kernel_initializer(),
            name="output" if build.is_output else build.name("hidden"),
        )

    def torch_training_call(self, keras_layer, generator):
        import keras
        import torch

        if type(keras_layer) is not keras.layers.Dense:  # a subclass's own
            return None
        kernel, bias = keras_layer.kernel, keras_layer.bias
        activation = keras_layer.activation

        def dense(x, **_):  # the graph passes its call's training=None
            if x.dim() != 2:
                return keras_layer(x, training=True)
            # Keras's product, then its sum (not addmm, which rounds the two
            # together): the same arithmetic as Keras's own call.
            z = torch.matmul(x, kernel.value)
            return activation(z if bias is None else z + bias.value)

        return dense

    def keras_weights(self, keras_layer):
        return _as_float64(keras_layer.kernel), _as_float64(keras_layer.bias)

    def set_keras_weights(self, keras_layer, coef, intercept):
        keras_layer.kernel.assign(np.asarray(coef, dtype=np.float32))
        keras_layer.bias.assign(np.asarray(intercept, dtype=np.float32))

    def to_onnx(self, graph, X, shape, weights):
        coef, intercept = next(weights)
        Z = graph.node("MatMul", [X, graph.weight("coefficient", coef)])
        Z = graph.node("Add", [Z, graph.weight("intercept", intercept)])
        return ACTIVATIONS[self.activation].to_onnx(graph, Z)


@_register
class Activation(Layer):
    """An activation applied on its own, element by element.

    (``"softmax"`` normalises over the last axis: the features of a row, the
    channels of an image.)

    Parameters
    ----------
    activation : str
        One of the names :class:`Dense` takes.

    Examples
    --------
    >>> import numpy as np
    >>> from skmnist.layers import Activation
    >>> Activation("relu").forward(np.array([[-1.0, 2.0]]), iter([]))
    array([[0., 2.]])
    """

    kind = "activation"
    rows_independent = True
    takes = ANY

    def __init__(self, activation):
        self.activation = activation_name(activation, "Activation")

    def forward(self, Z, weights):
        return ACTIVATIONS[self.activation].numpy(Z)

    def keras_layer(self, build):
        return build.keras.layers.Activation(
            ACTIVATIONS[self.activation].keras, name=build.name("activation")
        )

    def to_onnx(self, graph, X, shape, weights):
        return ACTIVATIONS[self.activation].to_onnx(graph, X)


@_register
class Dropout(Layer):
    """During training, zero a random fraction ``rate`` of the values.

    Each kept value is scaled by ``1 / (1 - rate)``, as in Keras; at
    prediction time the layer passes its input through.

    Parameters
    ----------
    rate : float in [0, 1)
        The fraction dropped.

    Examples
    --------
    >>> from skmnist.layers import Dropout
    >>> Dropout(0.2)
    Dropout(rate=0.2)
    """

    kind = "dropout"
    rows_independent = True
    takes = ANY

    def __init__(self, rate):
        self.rate = fraction(rate, "rate")

    def cost(self, shape):
        return Cost(0, math.prod(shape))

    def forward(self, Z, weights):
        return Z

    def keras_layer(self, build):
        return build.keras.layers.Dropout(
            self.rate, seed=build.seed(), name=build.name("dropout")
        )

    def torch_training_call(self, keras_layer, generator):
        """Keras's dropout, its mask drawn faster: the seed comes from the
        layer's seed generator as Keras's does (one draw a call, so a saved
        state continues alike), and a value is kept where a uniform draw of
        ``generator`` reseeded with it is at least the rate (the distribution
        of Keras's Bernoulli mask)."""
        import keras
        import torch

        if (
            type(keras_layer) is not keras.layers.Dropout  # a subclass's own
            or keras_layer.noise_shape is not None
        ):
            return None
        rate, seeds = float(keras_layer.rate), keras_layer.seed_generator
        if rate == 0:
            return lambda x, **_: x
        scale = 1.0 / (1.0 - rate)

        def dropout(x, **_):
            seed = seeds.next().tolist()
            generator.manual_seed((seed[0] + seed[1]) & 0xFFFFFFFF)
            kept = torch.rand(x.shape, generator=generator) >= rate
            return torch.where(kept, x * scale, 0.0)

        return dropout

    def to_onnx(self, graph, X, shape, weights):
        return X


@_register
class Flatten(Layer):
    """Images to rows, channels last, as Keras's ``Flatten``.

    Examples
    --------
    >>> from skmnist.layers import Flatten
    >>> Flatten().output_shape((5, 5, 48))
    (1200,)
    """

    kind = "flatten"
    rows_independent = True
    takes = ANY

    def __init__(self):
        pass

    def output_shape(self, shape):
        return (math.prod(shape),)

    def cost(self, shape):
        return Cost(0, 2 * math.prod(shape))

    def forward(self, Z, weights):
        return Z.reshape(len(Z), -1)

    def keras_layer(self, build):
        return build.keras.layers.Flatten(name=build.name("flatten", numbered=False))

    def to_onnx(self, graph, X, shape, weights):
        if len(shape) == 1:
            return X
        # Keras flattens channels last: back to (n, h, w, c) before the rows.
        nhwc = graph.node("Transpose", [X], perm=[0, 2, 3, 1])
        return graph.node("Flatten", [nhwc], axis=1)


def _as_float64(variable):
    return np.asarray(variable.numpy(), dtype=np.float64)
