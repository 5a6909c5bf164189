"""The ``skmnist`` command line: the Keras tutorial end to end.

``skmnist train`` loads MNIST, prints the model summary, trains the tutorial
pipeline with a progress display, reports the test loss and accuracy, and
saves the fitted pipeline.
"""

import argparse
import sys
import time

import numpy as np


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def build_parser():
    """The argument parser of the ``skmnist`` command."""
    parser = argparse.ArgumentParser(
        prog="skmnist",
        description="The classic Keras MNIST MLP as a scikit-learn pipeline.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"skmnist {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="train the tutorial model on MNIST and report test accuracy",
        description="Train the Keras tutorial MLP on MNIST, report test loss "
        "and accuracy, and save the fitted pipeline with joblib.",
    )
    train.add_argument(
        "--data",
        metavar="PATH",
        help="mnist.npz or a folder of IDX files (default: $SKMNIST_DATA, then "
        "the Keras cache, then a download)",
    )
    train.add_argument("--epochs", type=_positive_int, default=5, metavar="N")
    train.add_argument("--batch-size", type=_positive_int, default=128, metavar="N")
    train.add_argument("--random-state", type=int, default=None, metavar="SEED")
    train.add_argument(
        "--output",
        default="mnist_mlp.joblib",
        metavar="FILE",
        help="where to save the fitted pipeline (default: %(default)s)",
    )
    train.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=1,
        help="0 silent, 1 a progress bar per epoch, 2 a line per epoch",
    )
    train.set_defaults(handler=_train)
    return parser


def _train(args):
    from sklearn.metrics import log_loss

    from ._datasets import load_mnist
    from ._io import dump_atomic
    from ._pipeline import make_mnist_pipeline

    (X_train, y_train), (X_test, y_test) = load_mnist(args.data)
    print(f"{len(X_train)} train samples, {len(X_test)} test samples")

    pipeline = make_mnist_pipeline(
        epochs=args.epochs,
        batch_size=args.batch_size,
        random_state=args.random_state,
        verbose=args.verbose,
    )
    classifier = pipeline.named_steps["classifier"]
    print(classifier._untrained_summary(n_features=28 * 28, n_classes=10))

    start = time.perf_counter()
    pipeline.fit(X_train, y_train)
    print(f"Trained in {time.perf_counter() - start:.1f} s")

    proba = pipeline.predict_proba(X_test)
    y_pred = classifier.classes_[np.argmax(proba, axis=1)]
    print(f"Test loss: {log_loss(y_test, proba, labels=classifier.classes_):.4f}")
    print(f"Test accuracy: {np.mean(y_pred == y_test):.4f}")

    path = dump_atomic(pipeline, args.output)
    print(f"Saved the fitted pipeline to {path}")
    return 0


def main(argv=None):
    """Run the ``skmnist`` command; return its exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (OSError, ValueError) as exc:
        # Missing data, corrupt files, unwritable output: a message, not a
        # traceback.
        print(f"skmnist {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
