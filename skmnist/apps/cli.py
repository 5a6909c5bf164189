"""The ``skmnist`` command line: the Keras tutorial end to end.

``skmnist train`` loads MNIST, prints the model summary, trains the tutorial
pipeline with a progress display, reports the test loss and accuracy, and
saves the fitted pipeline. ``skmnist predict`` classifies image files (PNG,
JPEG...) and ``.npy`` arrays with a saved model, and ``skmnist evaluate``
reports a saved model's accuracy, per-class scores and confusion matrix on the
MNIST test set. ``skmnist export`` converts a saved model to ONNX, and
``skmnist serve`` serves one over HTTP: a drawing pad for the browser and a
JSON prediction API.

Models are read with :func:`skmnist.load` (the safe format of
:func:`skmnist.save`), except files named ``*.joblib``, ``*.pkl`` or
``*.pickle``, which are read with ``joblib.load``: such files run code when
loaded, so only use ones you trust (``skmnist serve`` loads them only with
``--trust-pickle``).
"""

import argparse
import sys
import time

import numpy as np

from .._registry import registered_networks
from ._model_input import is_pickle_path, load_model, model_input


def _port(text):
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port in 0..65535, got {text}")
    return value


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


# What `skmnist train` accepts: checked when the arguments are parsed, before
# MNIST is loaded, so that a typo fails at once and never deep in training.
_MAX_EPOCHS = 10_000
_MAX_BATCH_SIZE = 1_048_576
_MAX_SEED = 2**32 - 1  # NumPy's seeds


def _bounded_int(low, high):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be an integer, got {text!r}"
            ) from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"must be an integer from {low} to {high}, got {text}"
            )
        return value

    return parse


def build_parser():
    """The argument parser of the ``skmnist`` command.

    Returns
    -------
    parser : argparse.ArgumentParser
        The parser, with the sub-commands ``train``, ``predict``,
        ``evaluate``, ``export`` and ``serve``; each parsed namespace carries
        the function that runs its command as ``handler``.

    See Also
    --------
    main : Parse the arguments and run the command.

    Examples
    --------
    >>> from skmnist.apps.cli import build_parser
    >>> args = build_parser().parse_args(["train", "--epochs", "2"])
    >>> args.command, args.network, args.epochs, args.batch_size, args.report
    ('train', 'mlp', 2, 128, None)
    >>> build_parser().parse_args(["train", "--network", "cnn"]).epochs is None
    True
    """
    parser = argparse.ArgumentParser(
        prog="skmnist",
        description="The classic Keras MNIST networks as scikit-learn pipelines.",
    )
    from .._version import __version__

    parser.add_argument("--version", action="version", version=f"skmnist {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="train the tutorial model on MNIST and report test accuracy",
        description="Train the Keras tutorial MLP (or, with --network cnn, its "
        "sequel, a ConvNet) on MNIST, report test loss and accuracy, and save "
        "the fitted pipeline (skmnist's safe format, or joblib when the file "
        "name ends in .joblib, .pkl or .pickle).",
    )
    train.add_argument(
        "--network",
        choices=sorted(registered_networks()),
        default="mlp",
        help="; ".join(
            f"{name}: {description}"
            for name, description in registered_networks().items()
        )
        + " (default: %(default)s)",
    )
    train.add_argument(
        "--data",
        metavar="PATH",
        help="mnist.npz or a folder of IDX files (default: $SKMNIST_DATA, then "
        "the Keras cache, then a download)",
    )
    train.add_argument(
        "--epochs",
        type=_bounded_int(1, _MAX_EPOCHS),
        default=None,
        metavar="N",
        help="passes over the training data (default: the network's, 5 for "
        "the MLP, 10 for the ConvNet)",
    )
    train.add_argument(
        "--batch-size", type=_bounded_int(1, _MAX_BATCH_SIZE), default=128, metavar="N"
    )
    train.add_argument(
        "--random-state",
        type=_bounded_int(0, _MAX_SEED),
        default=None,
        metavar="SEED",
        help=f"seed, 0 to {_MAX_SEED}, for a run that repeats exactly",
    )
    train.add_argument(
        "--output",
        metavar="FILE",
        help="where to save the fitted pipeline (default: mnist_mlp.skmnist, "
        "or mnist_cnn.skmnist with --network cnn)",
    )
    train.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=1,
        help="0 silent, 1 a progress bar per epoch, 2 a line per epoch",
    )
    train.add_argument(
        "--report",
        metavar="DIR",
        help="also write figures (learning_curve.png, confusion_matrix.png, "
        "misclassified.png) and a summary (report.md) to DIR, created if "
        "needed; needs matplotlib",
    )
    train.set_defaults(handler=_train)

    predict = commands.add_parser(
        "predict",
        help="classify digit images (PNG, JPEG...) or .npy arrays with a saved model",
        description="Classify handwritten digits with a saved model. Each "
        "picture is converted the MNIST way: greyscale, inverted to a white "
        "digit on black when its background is bright, scaled to fit 20x20 "
        "and centred in 28x28 by its centre of mass. A .npy file holds one "
        "image or a stack of them, 28x28 or any size, with pixel values in "
        "[0, 255]. Prints each image's digit and its probability.",
    )
    _add_model_argument(predict)
    predict.add_argument(
        "images",
        nargs="+",
        metavar="IMAGE",
        help="image file (PNG, JPEG or any format Pillow reads) or .npy array",
    )
    predict.add_argument(
        "--invert",
        choices=("auto", "always", "never"),
        default="auto",
        help="make dark-on-light pictures (scans, photos of paper) white on "
        "black: 'auto' inverts those whose border is mostly bright "
        "(default: %(default)s)",
    )
    predict.set_defaults(handler=_predict)

    evaluate = commands.add_parser(
        "evaluate",
        help="report a saved model's accuracy on the MNIST test set",
        description="Evaluate a saved model on the 10,000 MNIST test images: "
        "accuracy, precision, recall and F1 per class, and the confusion "
        "matrix.",
    )
    _add_model_argument(evaluate)
    evaluate.add_argument(
        "--data",
        metavar="PATH",
        help="mnist.npz or a folder of IDX files (default: $SKMNIST_DATA, then "
        "the Keras cache, then a download)",
    )
    evaluate.set_defaults(handler=_evaluate)

    serve = commands.add_parser(
        "serve",
        help="serve a saved model over HTTP: a drawing pad and a JSON API",
        description="Serve a saved model over HTTP until Ctrl-C or SIGTERM: "
        "GET / is a drawing pad for the browser, POST /predict classifies a "
        'JSON body {"pixels": [[...28 rows of 28 values...]]} or a PNG or '
        "JPEG picture (converted as `skmnist predict` converts files), GET "
        "/health and GET /model describe the server and the model. Logs one "
        'line per request. Needs the serve extra (pip install "skmnist[serve]").',
    )
    serve.add_argument(
        "--model",
        required=True,
        metavar="FILE",
        help="a model saved with skmnist.save (or, with --trust-pickle, a "
        "*.joblib/*.pkl/*.pickle file)",
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: %(default)s, this machine only; "
        "0.0.0.0 for every interface)",
    )
    serve.add_argument(
        "--port",
        type=_port,
        default=8000,
        help="TCP port (default: %(default)s; 0 picks a free one)",
    )
    serve.add_argument(
        "--max-body-bytes",
        type=_positive_int,
        default=4 * 1024 * 1024,
        metavar="N",
        help="refuse larger request bodies with 413 (default: %(default)s)",
    )
    serve.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow a joblib/pickle model file: loading one runs code from it, "
        "so only pass this for files you trust",
    )
    serve.set_defaults(handler=_serve)

    export = commands.add_parser(
        "export",
        help="convert a saved model to ONNX, to run it with onnxruntime",
        description="Convert a saved model to an ONNX file that computes its "
        "predict and predict_proba with onnxruntime, from any language it "
        "supports. The graph takes what the model takes: uint8 images "
        "(n, 28, 28) for a pipeline that starts with MNISTPreprocessor, float32 "
        "rows otherwise. Its outputs are skl2onnx's for classifiers. Needs "
        'skl2onnx and onnx (pip install "skmnist[onnx]").',
    )
    _add_model_argument(export)
    export.add_argument(
        "--output",
        required=True,
        metavar="FILE",
        help="where to write the ONNX model, such as model.onnx",
    )
    export.add_argument(
        "--no-zipmap",
        action="store_true",
        help="output the probabilities as an (n, n_classes) tensor named "
        "'probabilities' (and the labels as 'label'), not skl2onnx's default "
        "list of {class: probability} maps",
    )
    export.set_defaults(handler=_export)
    return parser


def _add_model_argument(parser):
    parser.add_argument(
        "--model",
        required=True,
        metavar="FILE",
        help="a model saved with skmnist.save, or a *.joblib/*.pkl file "
        "(as `skmnist train` writes); joblib and pickle files run code when "
        "loaded: only use ones you trust",
    )


def _predict(args):
    from pathlib import Path

    from ..data._images import read_images

    model = load_model(args.model)
    names, batches, failed = [], [], 0
    for path in args.images:
        # One unreadable file costs its own answer only: each is reported on
        # stderr, the others are still classified, and the status says so.
        try:
            images = read_images(path, invert=args.invert)
        except _EXPECTED_ERRORS as exc:
            _print_error(args.command, exc)
            failed += 1
            continue
        batches.append(images)
        if len(images) == 1 and Path(path).suffix.lower() != ".npy":
            names.append(path)
        else:
            names.extend(f"{path}[{i}]" for i in range(len(images)))
    if batches:
        X = model_input(model, np.concatenate(batches))
        proba = model.predict_proba(X)
        if not np.isfinite(proba).all():
            raise ValueError(
                f"{args.model}: the model predicts NaN or infinite probabilities"
            )
        best = np.argmax(proba, axis=1)
        labels = model.classes_[best]
        for name, label, p in zip(
            names, labels, proba[np.arange(len(best)), best], strict=True
        ):
            print(f"{name}: {_label_text(label)} (probability {p:.4f})")
    return 1 if failed else 0


def _serve(args):
    from pathlib import Path

    if is_pickle_path(args.model) and not args.trust_pickle:
        raise ValueError(
            f"{args.model} is a joblib/pickle file, which runs code when loaded: "
            "pass --trust-pickle if you trust it, or convert it with skmnist.save"
        )
    try:
        from .serve._app import run_server
    except ImportError as exc:
        raise ValueError(str(exc)) from exc
    model = load_model(args.model)
    return run_server(
        model,
        host=args.host,
        port=args.port,
        max_body_bytes=args.max_body_bytes,
        name=Path(args.model).name,
    )


def _label_text(label):
    return str(label.item() if isinstance(label, np.generic) else label)


def _evaluate(args):
    from sklearn.metrics import classification_report, confusion_matrix

    from ..data._mnist import load_mnist

    model = load_model(args.model)
    (_, _), (X_test, y_test) = load_mnist(args.data)
    X = model_input(model, X_test)
    proba = model.predict_proba(X)
    y_pred = model.classes_[np.argmax(proba, axis=1)]
    labels = np.union1d(model.classes_, y_test)

    print(f"Model: {args.model}")
    print(f"Test samples: {len(y_test)}")
    print(f"Accuracy: {np.mean(y_pred == y_test):.4f}")
    print()
    print("Per-class report:")
    print(
        classification_report(
            y_test, y_pred, labels=labels, digits=4, zero_division=0
        ).rstrip()
    )
    print()
    print("Confusion matrix (rows: true digit, columns: predicted digit):")
    print(_matrix_text(confusion_matrix(y_test, y_pred, labels=labels), labels))
    return 0


def _export(args):
    from ..export._onnx import to_onnx

    model = load_model(args.model)
    model = getattr(model, "best_estimator_", model)  # a search: its best model
    try:
        onnx_model = to_onnx(
            model, args.output, options={"zipmap": False} if args.no_zipmap else None
        )
    except (ImportError, TypeError) as exc:
        raise ValueError(str(exc)) from exc
    from onnx.helper import tensor_dtype_to_np_dtype

    (graph_input,) = onnx_model.graph.input
    tensor = graph_input.type.tensor_type
    dims = ", ".join(str(dim.dim_value or "N") for dim in tensor.shape.dim)
    dtype = tensor_dtype_to_np_dtype(tensor.elem_type)
    outputs = ", ".join(output.name for output in onnx_model.graph.output)
    print(
        f"Wrote {args.output}: input {graph_input.name} ({dtype} [{dims}]), "
        f"outputs {outputs}"
    )
    return 0


def _matrix_text(matrix, labels):
    names = [_label_text(label) for label in labels]
    width = max(len(str(matrix.max())), *(len(name) for name in names)) + 1
    pad = max(len(name) for name in names) + 1
    lines = [" " * pad + "".join(name.rjust(width) for name in names)]
    for name, row in zip(names, matrix, strict=True):
        lines.append(name.rjust(pad) + "".join(str(n).rjust(width) for n in row))
    return "\n".join(lines)


def _train(args):
    from pathlib import Path

    from sklearn.metrics import log_loss

    from .._utils.files import check_writable, dump_atomic
    from ..data._mnist import load_mnist
    from ..networks._pipeline import make_mnist_pipeline
    from ..persistence._format import save

    if args.output is None:
        args.output = f"mnist_{args.network}.skmnist"
    # Fail before loading MNIST and training, not after: the output folder
    # exists and can be written, the output is not a folder or a device.
    check_writable(args.output)
    if args.report is not None:
        from ._report import check_can_report

        try:
            check_can_report()
        except ImportError as exc:
            raise ValueError(f"--report: {exc}") from exc
        Path(args.report).mkdir(parents=True, exist_ok=True)
        check_writable(Path(args.report) / "report.md")

    (X_train, y_train), (X_test, y_test) = load_mnist(args.data)
    print(f"{len(X_train)} train samples, {len(X_test)} test samples")

    epochs = {} if args.epochs is None else {"epochs": args.epochs}
    pipeline = make_mnist_pipeline(
        args.network,
        **epochs,
        batch_size=args.batch_size,
        random_state=args.random_state,
        verbose=args.verbose,
    )
    classifier = pipeline.named_steps["classifier"]
    n_features, n_classes = X_train[0].size, len(np.unique(y_train))
    print(classifier._untrained_summary(n_features=n_features, n_classes=n_classes))

    start = time.perf_counter()
    pipeline.fit(X_train, y_train)
    train_seconds = time.perf_counter() - start
    print(f"Trained in {train_seconds:.1f} s")

    proba = pipeline.predict_proba(X_test)
    y_pred = classifier.classes_[np.argmax(proba, axis=1)]
    test_loss = log_loss(y_test, proba, labels=classifier.classes_)
    print(f"Test loss: {test_loss:.4f}")
    print(f"Test accuracy: {np.mean(y_pred == y_test):.4f}")

    if is_pickle_path(args.output):
        dump_atomic(pipeline, args.output)
    else:
        save(pipeline, args.output)
    print(f"Saved the fitted pipeline to {args.output}")

    if args.report is not None:
        from ._report import write_report

        paths = write_report(
            args.report,
            pipeline,
            X_test,
            y_test,
            proba,
            test_loss=test_loss,
            model_path=args.output,
            n_train=len(X_train),
            train_seconds=train_seconds,
        )
        print(f"Wrote the report to {paths['report']}")
    return 0


def main(argv=None):
    """Run the ``skmnist`` command; return its exit status.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments after the program name, such as
        ``["train", "--epochs", "1"]``; None reads them from ``sys.argv``.

    Returns
    -------
    status : int
        0 on success, 1 when the command failed on missing, unavailable or
        corrupt data, on a file it cannot read or write, on a bad model or on
        a missing optional dependency (the error is printed on one line on
        stderr, never as a traceback), 130 when interrupted (Ctrl-C). Invalid
        options, such as ``--random-state -1``, exit with status 2, from
        argparse, before any work. ``train`` checks that it can write
        ``--output`` before it loads MNIST. ``predict`` answers for every
        readable image and reports each unreadable one on stderr, with status
        1 if any failed.

    Examples
    --------
    Train the tutorial network for one epoch on MNIST (found through
    ``SKMNIST_DATA``), save it to ``mnist_mlp.skmnist`` with figures and a
    summary in ``report/``, then classify two test digits with the saved model:

    >>> from pathlib import Path
    >>> import numpy as np
    >>> from skmnist import load_mnist
    >>> from skmnist.apps.cli import main
    >>> main(["train", "--epochs", "1", "--verbose", "0", "--random-state", "0",
    ...       "--report", "report"])  # doctest: +ELLIPSIS
    60000 train samples, 10000 test samples
    Model: "mnist_mlp"
    ...
    Test accuracy: 0.9...
    Saved the fitted pipeline to mnist_mlp.skmnist
    Wrote the report to report/report.md
    0
    >>> sorted(path.name for path in Path("report").iterdir())
    ['confusion_matrix.png', 'learning_curve.png', 'misclassified.png', 'report.md']
    >>> _, (X_test, y_test) = load_mnist()
    >>> np.save("digits.npy", X_test[:2])
    >>> y_test[:2].tolist()
    [7, 2]
    >>> main(["predict", "--model", "mnist_mlp.skmnist", "digits.npy"])
    ... # doctest: +ELLIPSIS
    digits.npy[0]: 7 (probability ...)
    digits.npy[1]: 2 (probability ...)
    0
    """
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print(f"skmnist {args.command}: interrupted", file=sys.stderr)
        return 130
    except _EXPECTED_ERRORS as exc:
        # Missing data, corrupt files, unwritable output, a missing extra: a
        # message, not a traceback.
        _print_error(args.command, exc)
        return 1


# What a command reports in one line: bad or unavailable data and files
# (MNISTUnavailableError is an OSError), a missing optional dependency.
_EXPECTED_ERRORS = (OSError, ValueError, ImportError, MemoryError)


def _print_error(command, exc):
    print(f"skmnist {command}: error: {_one_line(exc)}", file=sys.stderr)


def _one_line(exc):
    """An exception's message on one line (some explain over several)."""
    if isinstance(exc, MemoryError):
        return f"out of memory{f' ({exc})' if str(exc) else ''}"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    # Each line is a sentence or an item: end those without punctuation.
    return " ".join(
        line if line[-1] in ".:;,!?" or i == len(lines) - 1 else f"{line};"
        for i, line in enumerate(lines)
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
