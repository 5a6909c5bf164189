"""
The Keras MNIST MLP tutorial
============================

This example reproduces the classic Keras MNIST multi-layer perceptron
tutorial with skmnist: it loads the digits, shows a few of them, builds the
tutorial's network as a scikit-learn pipeline
(:class:`~skmnist.MNISTPreprocessor` followed by
:class:`~skmnist.MNISTMLPClassifier`), trains it, prints the Keras model
summary and the test accuracy, and shows predicted test digits.

The tutorial trains for 5 epochs on all 60,000 training images, which takes
about 25-50 s on 2 CPU cores. To keep the documentation build quick, this page
trains for **2 epochs** (on all 60,000 images). From the command line the
defaults are the same; ``--epochs 5`` gives the tutorial's training::

    python examples/plot_tutorial.py --epochs 5 --data /path/to/mnist.npz

``--subset N`` trains on the first ``N`` training images only, and
``--output-dir DIR`` also saves the two figures as PNG files. The figures need
matplotlib (``pip install "skmnist[plot]"``).
"""

# %%
# Options
# -------
# The page you are reading ran this script without any options. MNIST is
# found through ``SKMNIST_DATA`` (or the Keras cache, or downloaded) unless
# ``--data`` names a local copy; see :func:`skmnist.load_mnist`.

import argparse
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import log_loss

from skmnist import load_mnist, make_mnist_pipeline

parser = argparse.ArgumentParser(description="The Keras MNIST MLP tutorial.")
parser.add_argument("--data", metavar="PATH", help="mnist.npz or an IDX folder")
parser.add_argument("--epochs", type=int, default=2, metavar="N")
parser.add_argument("--subset", type=int, default=None, metavar="N")
parser.add_argument("--random-state", type=int, default=0, metavar="SEED")
parser.add_argument("--output-dir", type=Path, default=None, metavar="DIR")
# parse_known_args: runners such as sphinx-gallery may add arguments of their
# own, which this script ignores.
args, _ = parser.parse_known_args()

# %%
# Load the data
# -------------
# :func:`~skmnist.load_mnist` returns what ``keras.datasets.mnist.load_data()``
# returns: uint8 images of 28 x 28 pixels and uint8 labels.

(X_train, y_train), (X_test, y_test) = load_mnist(args.data)
X_train, y_train = X_train[: args.subset], y_train[: args.subset]
print(f"X_train: {X_train.shape} {X_train.dtype}, y_train: {y_train.shape}")
print(f"X_test:  {X_test.shape} {X_test.dtype}, y_test:  {y_test.shape}")

# %%
# A grid of training digits, titled with their labels:

fig_digits, axes = plt.subplots(4, 8, figsize=(8, 4.6))
for i, ax in enumerate(axes.ravel()):
    ax.imshow(X_train[i], cmap="gray_r")
    ax.set_title(str(y_train[i]), fontsize=10)
    ax.set_axis_off()
fig_digits.suptitle("The first 32 training digits and their labels")
fig_digits.tight_layout()

# %%
# The model
# ---------
# The pipeline flattens and scales the images (the tutorial's
# ``x.reshape(-1, 784).astype("float32") / 255``), then trains
# ``Dense(512, relu) -> Dropout(0.2) -> Dense(512, relu) -> Dropout(0.2) ->
# Dense(10, softmax)`` with Adam on the categorical cross-entropy, in batches
# of 128. ``verbose=2`` prints one line per epoch, as Keras does.

pipeline = make_mnist_pipeline(
    epochs=args.epochs, random_state=args.random_state, verbose=2
)
start = time.perf_counter()
pipeline.fit(X_train, y_train)
print(f"Trained in {time.perf_counter() - start:.1f} s")

# %%
# The Keras model summary of the trained network:

classifier = pipeline.named_steps["classifier"]
print(classifier.summary())

# %%
# Evaluate
# --------
# Prediction runs in NumPy, from the trained weights; it does not need
# TensorFlow.

proba = pipeline.predict_proba(X_test)
y_pred = classifier.classes_[np.argmax(proba, axis=1)]
print(f"Test loss: {log_loss(y_test, proba):.4f}")
print(f"Test accuracy: {np.mean(y_pred == y_test):.4f}")

# %%
# The first 25 test digits, titled with their predicted labels; wrong
# predictions are red, with the true label in brackets.

fig_predictions, axes = plt.subplots(5, 5, figsize=(6, 6.6))
for i, ax in enumerate(axes.ravel()):
    ax.imshow(X_test[i], cmap="gray_r")
    right = y_pred[i] == y_test[i]
    title = f"{y_pred[i]}" if right else f"{y_pred[i]} ({y_test[i]})"
    ax.set_title(title, color="black" if right else "red", fontsize=10)
    ax.set_axis_off()
fig_predictions.suptitle("Predicted labels of the first 25 test digits")
fig_predictions.tight_layout()

if args.output_dir is not None:
    args.output_dir.mkdir(parents=True, exist_ok=True)
    fig_digits.savefig(args.output_dir / "mnist_digits.png", dpi=100)
    fig_predictions.savefig(args.output_dir / "mnist_predictions.png", dpi=100)
    print(f"Saved the figures in {args.output_dir}")

plt.show()
