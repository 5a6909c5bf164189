"""
Any architecture: LeNet-5 and a residual network with NetworkClassifier
=======================================================================

:class:`~skmnist.NetworkClassifier` trains any network built from skmnist's
layer kinds (:mod:`skmnist.layers`) and keeps the contract of the two
presets: scikit-learn's checks, NumPy prediction without TensorFlow, the safe
file format, ONNX export. This example writes two classic ConvNets with it —
LeNet-5, and a small residual network with batch normalisation — trains them
and the two presets on the same images, and compares their test accuracy,
training time and size.

To run in about two minutes on 2 CPU cores, every network trains on the
first **10,000** training images for **3 epochs** (the presets' defaults are
5 and 10 epochs on all 60,000; see the performance page for those figures),
with a cosine learning-rate schedule for the two new networks.
"""

# %%
# The two networks, layer by layer
# --------------------------------
# A network is a list of layers; the classifier reads each row of 784 pixels
# as a 28 x 28 image before the first convolution and adds the softmax output
# layer for the ten classes after the last layer.

import time

import matplotlib.pyplot as plt

from skmnist import (
    MNISTPreprocessor,
    NetworkClassifier,
    load_mnist,
    make_mnist_pipeline,
)
from skmnist.layers import (
    Activation,
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Flatten,
    GlobalAvgPool2D,
    MaxPool2D,
    Residual,
)

lenet5 = [
    Conv2D(6, 5, padding="same", activation="tanh"),
    AvgPool2D(2),
    Conv2D(16, 5, activation="tanh"),
    AvgPool2D(2),
    Flatten(),
    Dense(120, activation="tanh"),
    Dense(84, activation="tanh"),
]


def stage(width):
    """A "same" convolution, 2 x 2 pooling, then a residual block of two."""
    return [
        Conv2D(width, 3, padding="same"),
        BatchNorm(momentum=0.9),
        Activation("relu"),
        MaxPool2D(2),
        Residual(
            [
                Conv2D(width, 3, padding="same"),
                BatchNorm(momentum=0.9),
                Activation("relu"),
                Conv2D(width, 3, padding="same"),
                BatchNorm(momentum=0.9),
            ]
        ),
        Activation("relu"),
    ]


resnet = [*stage(16), *stage(32), GlobalAvgPool2D()]

# %%
# Train the four networks
# -----------------------
# The presets come from :func:`~skmnist.make_mnist_pipeline`; the new ones
# are a :class:`~skmnist.NetworkClassifier` behind the same preprocessor.

from sklearn.pipeline import make_pipeline  # noqa: E402

(X_train, y_train), (X_test, y_test) = load_mnist()
X_train, y_train = X_train[:10_000], y_train[:10_000]

common = {"epochs": 3, "random_state": 0}
pipelines = {
    "MLP (preset)": make_mnist_pipeline("mlp", **common),
    "ConvNet (preset)": make_mnist_pipeline("cnn", **common),
    "LeNet-5": make_pipeline(
        MNISTPreprocessor(),
        NetworkClassifier(layers=lenet5, learning_rate_schedule="cosine", **common),
    ),
    "ResNet": make_pipeline(
        MNISTPreprocessor(),
        NetworkClassifier(layers=resnet, learning_rate_schedule="cosine", **common),
    ),
}
results = {}
for name, pipeline in pipelines.items():
    start = time.perf_counter()
    pipeline.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    classifier = pipeline[-1]
    results[name] = {
        "accuracy": pipeline.score(X_test, y_test),
        "seconds": seconds,
        "parameters": sum(
            coef.size + intercept.size
            for coef, intercept in zip(
                classifier.coefs_, classifier.intercepts_, strict=True
            )
        ),
    }
    print(
        f"{name:17s} test accuracy {results[name]['accuracy']:.4f}, "
        f"{results[name]['parameters']:>9,} parameters, trained in {seconds:.0f} s"
    )

# %%
# The residual network's layers, as Keras prints them: the ``Add`` layers
# are the residual connections.

print(pipelines["ResNet"][-1].summary())

# %%
# Accuracy, time and size
# -----------------------
# The convolutional networks make a fraction of the MLP's mistakes with a
# fraction of its parameters; the residual network's convolutions at full
# resolution cost the most time.

fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
names = list(results)
for ax, (key, label) in zip(
    axes,
    [
        ("accuracy", "test error (%)"),
        ("seconds", "training time (s)"),
        ("parameters", "parameters"),
    ],
    strict=True,
):
    values = [results[name][key] for name in names]
    if key == "accuracy":
        values = [100 * (1 - value) for value in values]
    ax.barh(names, values, color=["#999999", "#999999", "#3b75af", "#3b75af"])
    ax.set_xlabel(label)
    ax.invert_yaxis()
for ax in axes[1:]:
    ax.set_yticklabels([])
axes[2].set_xscale("log")
fig.suptitle("Four networks on 10,000 MNIST digits, 3 epochs each")
fig.tight_layout()
plt.show()

# %%
# Each network is a plain scikit-learn estimator: LeNet-5's fitted layers,
# as its file stores them.

for layer in pipelines["LeNet-5"][-1].architecture_[:4]:
    print(layer)
assert all(results[name]["accuracy"] > 0.9 for name in results)
