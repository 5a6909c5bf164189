"""
The Keras MNIST MLP tutorial with skmnist
=========================================

This script reproduces the classic Keras MNIST multi-layer perceptron tutorial
with skmnist: it loads the digits, builds the tutorial's network as a
scikit-learn pipeline (:class:`~skmnist.MNISTPreprocessor` followed by
:class:`~skmnist.MNISTMLPClassifier`), trains it, prints the Keras model
summary and the test accuracy, and saves a grid of 25 test digits with their
predicted labels as ``mnist_predictions.png``.

The figure needs matplotlib, which is not a dependency of skmnist:
``pip install matplotlib``.

Run it with, for example::

    python examples/plot_tutorial.py --data /path/to/mnist.npz --output-dir out

``--epochs 1 --subset 6000`` gives a quick run; the defaults (all 60,000
training images, 5 epochs) are the tutorial's.
"""

import argparse
import time
from pathlib import Path

import numpy as np

from skmnist import load_mnist, make_mnist_pipeline


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument(
        "--data",
        metavar="PATH",
        help="mnist.npz or a folder of IDX files (default: $SKMNIST_DATA, then "
        "the Keras cache, then a download)",
    )
    parser.add_argument("--epochs", type=_positive_int, default=5, metavar="N")
    parser.add_argument(
        "--subset",
        type=_positive_int,
        default=None,
        metavar="N",
        help="train on the first N training images (default: all 60,000)",
    )
    parser.add_argument("--random-state", type=int, default=0, metavar="SEED")
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=Path("."),
        metavar="DIR",
        help="folder for mnist_predictions.png (default: current directory)",
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)

    # matplotlib is optional for skmnist, so it is imported only here.
    import matplotlib

    matplotlib.use("Agg")  # draw to files; no display needed
    import matplotlib.pyplot as plt

    # Load the data, as keras.datasets.mnist.load_data() does: uint8 arrays.
    (X_train, y_train), (X_test, y_test) = load_mnist(args.data)
    if args.subset is not None:
        X_train, y_train = X_train[: args.subset], y_train[: args.subset]
    print(f"X_train: {X_train.shape} {X_train.dtype}, y_train: {y_train.shape}")
    print(f"X_test:  {X_test.shape} {X_test.dtype}, y_test:  {y_test.shape}")

    # The tutorial's model: the pipeline flattens and scales the images, then
    # trains
    # Dense(512, relu) -> Dropout(0.2) -> Dense(512, relu) -> Dropout(0.2)
    # -> Dense(10, softmax) with Adam, batches of 128.
    pipeline = make_mnist_pipeline(
        epochs=args.epochs, random_state=args.random_state, verbose=2
    )
    start = time.perf_counter()
    pipeline.fit(X_train, y_train)
    print(f"Trained in {time.perf_counter() - start:.1f} s")
    print(pipeline.named_steps["classifier"].summary())

    # Evaluate. Prediction runs in NumPy; it does not need TensorFlow.
    y_pred = pipeline.predict(X_test)
    print(f"Test accuracy: {np.mean(y_pred == y_test):.4f}")

    # 25 test digits titled with their predicted labels; wrong predictions in
    # red, with the true label in brackets.
    fig, axes = plt.subplots(5, 5, figsize=(6, 6.6))
    for i, ax in enumerate(axes.ravel()):
        ax.imshow(X_test[i], cmap="gray_r")
        right = y_pred[i] == y_test[i]
        title = f"{y_pred[i]}" if right else f"{y_pred[i]} ({y_test[i]})"
        ax.set_title(title, color="black" if right else "red", fontsize=10)
        ax.set_axis_off()
    fig.suptitle("Predicted labels of the first 25 test digits")
    fig.tight_layout()

    args.output_dir.mkdir(parents=True, exist_ok=True)
    path = args.output_dir / "mnist_predictions.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"Saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
