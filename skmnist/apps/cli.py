"""The ``skmnist`` command line: the Keras tutorial end to end.

``skmnist train`` loads MNIST, prints the model summary, trains the tutorial
pipeline with a progress display, reports the test loss and accuracy, and
saves the fitted pipeline. ``skmnist predict`` classifies image files (PNG,
JPEG...) and ``.npy`` arrays with a saved model, and ``skmnist evaluate``
reports a saved model's accuracy, per-class scores and confusion matrix on the
MNIST test set. ``skmnist sample`` writes MNIST test digits as pictures to
try ``predict`` on. ``skmnist export`` converts a saved model to ONNX, and
``skmnist serve`` serves one over HTTP: a drawing pad for the browser and a
JSON prediction API.

Models are read with :func:`skmnist.load` (the safe format of
:func:`skmnist.save`), except files named ``*.joblib``, ``*.pkl`` or
``*.pickle``, which are read with ``joblib.load``: such files run code when
loaded, so every command that reads a model (``predict``, ``evaluate``,
``export``, ``serve``) loads them only with ``--trust-pickle``.

Every command fails the same way: one line, ``skmnist COMMAND: error: ...``,
on stderr, and exit status 1 (2 for invalid options, from argparse; 130 for
Ctrl-C); an unexpected exception is reported so too, with its type, and
``--traceback`` shows its traceback.
"""

import argparse
import os
import select
import signal
import sys
import time

import numpy as np

from .._registry import registered_networks
from .._utils.extras import MissingExtraError
from .._utils.files import check_writable
from ..data._images import MAX_PIXELS
from ._model_input import check_trusted, is_pickle_path, load_model, model_input


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
        "--batch-size",
        type=_bounded_int(1, _MAX_BATCH_SIZE),
        default=128,
        metavar="N",
        help="images per gradient step, 1 to 1048576 (default: %(default)s, the "
        "tutorial's)",
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
        "or mnist_cnn.skmnist with --network cnn); an existing file is "
        "replaced, and the command says so before training",
    )
    train.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=1,
        help="0 silent, 1 a progress bar per epoch, 2 a line per epoch "
        "(default: %(default)s)",
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
        "and centred in 28x28 by its centre of mass; the background of photos "
        "is evened out first (lighting gradients, shadows). A .npy file holds "
        "one image or a stack of them, 28x28 or any size, with pixel values in "
        "[0, 255]. Prints each image's digit and its probability, with a "
        f"warning on stderr when that is below {LOW_PROBABILITY}. Reading "
        'pictures needs Pillow (pip install "skmnist[images]").',
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
        "black: 'auto' inverts those whose border is nearer their brightest "
        "pixels than their darkest "
        "(default: %(default)s)",
    )
    predict.add_argument(
        "--save-converted",
        metavar="DIR",
        help="also write each image as the model sees it (28x28, white on "
        "black) to DIR as a PNG, named after its file (created if needed)",
    )
    predict.add_argument(
        "--max-pixels",
        type=_positive_int,
        default=MAX_PIXELS,
        metavar="N",
        help="refuse pictures of more pixels than this, before decoding them "
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

    sample = commands.add_parser(
        "sample",
        help="write an MNIST test digit as a picture, to try predict on",
        description="Write MNIST test digit(s) as pictures: PNG (or any "
        "format Pillow writes, by the file's suffix; needs Pillow: pip install "
        '"skmnist[images]") or .npy, written atomically. Prints the digit\'s '
        "label.",
    )
    sample.add_argument(
        "--output",
        required=True,
        metavar="FILE",
        help="the picture to write, such as digit.png (or digits.npy)",
    )
    sample.add_argument(
        "--index",
        type=_bounded_int(0, 10**9),
        default=0,
        metavar="N",
        help="which test digit (default: %(default)s, a 7)",
    )
    sample.add_argument(
        "--count",
        type=_bounded_int(1, 10**9),
        default=1,
        metavar="K",
        help="for a .npy output: K digits from --index on (default: %(default)s)",
    )
    sample.add_argument(
        "--data",
        metavar="PATH",
        help="mnist.npz or a folder of IDX files (default: $SKMNIST_DATA, then "
        "the Keras cache, then a download)",
    )
    sample.set_defaults(handler=_sample)

    serve = commands.add_parser(
        "serve",
        help="serve a saved model over HTTP: a drawing pad, a JSON API and the "
        "Open Inference Protocol",
        description="Serve a saved model over HTTP until Ctrl-C or SIGTERM: "
        "GET / is a drawing pad for the browser, POST /predict classifies a "
        'JSON body {"pixels": [[...28 rows of 28 values...]]} or a PNG or '
        "JPEG picture (converted as `skmnist predict` converts files), GET "
        "/health and GET /model describe the server and the model, and /v2/... "
        "speaks the Open Inference Protocol (KServe V2). Logs one line per "
        'request. Needs the serve extra (pip install "skmnist[serve]").',
    )
    from .serve._options import add_serve_arguments

    add_serve_arguments(serve)
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

    for command in commands.choices.values():
        command.add_argument(
            "--traceback",
            action="store_true",
            help="on an unexpected error, print its Python traceback, not one line",
        )
    return parser


def _add_model_argument(parser):
    parser.add_argument(
        "--model",
        required=True,
        metavar="FILE",
        help="a model saved with skmnist.save (or, with --trust-pickle, a "
        "*.joblib/*.pkl/*.pickle file, as `skmnist train --output m.joblib` "
        "writes)",
    )
    parser.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow a joblib/pickle model file: loading one runs code from it, "
        "so only pass this for files you trust",
    )


def _load_trusted_model(args):
    """``args.model``, loaded; a pickle only with ``--trust-pickle``."""
    check_trusted(args.model, trust_pickle=args.trust_pickle)
    return load_model(args.model)


def _predict(args):
    from pathlib import Path

    from ..data._images import read_images

    model = _load_trusted_model(args)
    if args.save_converted is not None:
        Path(args.save_converted).mkdir(parents=True, exist_ok=True)
    # Each image's source: its file, and its index in a .npy stack (or None).
    sources, batches, failed = [], [], 0
    for path in args.images:
        # One unreadable file costs its own answer only: each is reported on
        # stderr, the others are still classified, and the status says so.
        try:
            images = read_images(path, invert=args.invert, max_pixels=args.max_pixels)
        except MissingExtraError:
            raise  # Pillow is missing: said once, for every picture
        except _EXPECTED_ERRORS as exc:
            _print_error(args.command, exc)
            failed += 1
            continue
        batches.append(images)
        if len(images) == 1 and Path(path).suffix.lower() != ".npy":
            sources.append((path, None))
        else:
            sources.extend((path, i) for i in range(len(images)))
    if not batches:
        return 1
    images = np.concatenate(batches)
    X = model_input(model, images)  # first: it refuses what is not a classifier
    proba = model.predict_proba(X)
    if not np.isfinite(proba).all():
        raise ValueError(
            f"{args.model}: the model predicts NaN or infinite probabilities"
        )
    best = np.argmax(proba, axis=1)
    labels = model.classes_[best]
    top = proba[np.arange(len(best)), best]
    names = [path if i is None else f"{path}[{i}]" for path, i in sources]
    for name, label, p in zip(names, labels, top, strict=True):
        print(f"{name}: {_label_text(label)} (probability {p:.4f})")
    sys.stdout.flush()  # the answers first, then the warnings about them
    see = (
        "; --save-converted DIR shows what the model saw"
        if args.save_converted is None
        else f"; {args.save_converted} holds what the model saw"
    )
    for name, p in zip(names, top, strict=True):
        if p < LOW_PROBABILITY:
            print(
                f"skmnist predict: warning: {name}: the model is unsure, its best "
                f"guess has probability {p:.4f} (below {LOW_PROBABILITY}){see}",
                file=sys.stderr,
            )
    if args.save_converted is not None:
        _save_converted(args.save_converted, sources, images)
        print(f"Saved {len(images)} converted image(s) to {args.save_converted}")
    return 1 if failed else 0


# Below this top probability, `skmnist predict` warns that the model is unsure:
# it gives more than half its belief to other digits.
LOW_PROBABILITY = 0.5


def _save_converted(folder, sources, images):
    """Write each 28x28 image to ``folder`` as a PNG named after its source.

    ``a.png`` gives ``a.png``, the third image of ``b.npy`` ``b-2.png``; a name
    that two inputs share (``x/d.png`` and ``y/d.jpg``) gets ``-2``, ``-3``...
    Each file is written atomically.
    """
    from pathlib import Path

    from .._utils.files import atomic_path
    from ..data._images import _import_pil

    Image, _ = _import_pil()
    used = set()
    for (path, index), image in zip(sources, images, strict=True):
        base = Path(path).stem if index is None else f"{Path(path).stem}-{index}"
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name)
        with atomic_path(Path(folder) / f"{name}.png") as tmp:
            Image.fromarray(image).save(tmp, format="PNG")


def _serve(args):
    if is_pickle_path(args.model) and not args.trust_pickle:
        raise ValueError(
            f"{args.model} is a joblib/pickle file, which runs code when loaded: "
            "pass --trust-pickle if you trust it, or convert it with skmnist.save"
        )
    try:
        from .serve._runner import run_from_arguments
    except ImportError as exc:
        raise ValueError(str(exc)) from exc
    return run_from_arguments(args, load_model(args.model))


def _label_text(label):
    return str(label.item() if isinstance(label, np.generic) else label)


def _evaluate(args):
    from sklearn.metrics import classification_report, confusion_matrix

    from ..data._mnist import load_mnist

    model = _load_trusted_model(args)
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
    from .._utils.extras import require
    from ..export._onnx import to_onnx

    require(("onnx", "skl2onnx"), purpose="exporting to ONNX")
    check_writable(args.output)
    model = _load_trusted_model(args)
    model = getattr(model, "best_estimator_", model)  # a search: its best model
    try:
        onnx_model = to_onnx(
            model, args.output, options={"zipmap": False} if args.no_zipmap else None
        )
    except (ImportError, OSError, MemoryError):
        raise
    except TypeError as exc:  # to_onnx's own: not a model it converts
        raise ValueError(str(exc)) from exc
    except Exception as exc:
        # skl2onnx refuses what it cannot convert (a FunctionTransformer, an
        # estimator it has no converter for) with its own exception types.
        raise ValueError(
            f"{args.model}: cannot convert the model to ONNX "
            f"({type(exc).__name__}: {exc})"
        ) from exc
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


def _sample(args):
    from pathlib import Path

    from .._utils.files import atomic_path
    from ..data._mnist import load_mnist

    output = Path(args.output)
    is_npy = output.suffix.lower() == ".npy"
    if args.count != 1 and not is_npy:
        raise ValueError(
            f"--count {args.count}: a picture holds one digit; write several "
            "to a .npy file"
        )
    if not is_npy:
        from ..data._images import _import_pil

        Image, _ = _import_pil()
        extension = output.suffix.lower()
        if extension not in Image.registered_extensions():
            raise ValueError(
                f"{output}: Pillow writes no picture format named {extension!r} "
                "(use .png, .jpg... or .npy)"
            )
        image_format = Image.registered_extensions()[extension]
    check_writable(output)
    _, (X_test, y_test) = load_mnist(args.data)
    stop = args.index + args.count
    if stop > len(X_test):
        raise ValueError(
            f"--index {args.index} and --count {args.count}: the test set holds "
            f"{len(X_test)} digits, 0 to {len(X_test) - 1}"
        )
    with atomic_path(output) as tmp:
        if is_npy:
            with open(tmp, "wb") as file:
                np.save(file, X_test[args.index : stop])
        else:
            Image.fromarray(X_test[args.index]).save(tmp, format=image_format)
    labels = ", ".join(_label_text(label) for label in y_test[args.index : stop])
    which = (
        f"test digit {args.index}"
        if args.count == 1
        else f"test digits {args.index} to {stop - 1}"
    )
    print(f"Wrote {output}: MNIST {which}, labelled {labels}")
    return 0


def _train(args):
    from pathlib import Path

    from sklearn.metrics import log_loss

    from .._utils.files import dump_atomic
    from ..data._mnist import load_mnist
    from ..networks._pipeline import make_mnist_pipeline
    from ..persistence._format import save

    if args.output is None:
        args.output = f"mnist_{args.network}.skmnist"
    # Fail before loading MNIST and training, not after: the output folder
    # exists and can be written, the output is not a folder or a device.
    check_writable(args.output)
    replacing = Path(args.output).exists()
    if args.report is not None:
        from ._report import check_can_report

        check_can_report()
        Path(args.report).mkdir(parents=True, exist_ok=True)
        check_writable(Path(args.report) / "report.md")

    if replacing:
        # Said before the minutes of training, so that there is time to stop.
        print(f"{args.output} exists: the new model will replace it")
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
    replaced = " (replacing the previous file)" if replacing else ""
    print(f"Saved the fitted pipeline to {args.output}{replaced}")

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
    except BrokenPipeError as exc:
        if not _stdout_is_gone():  # a pipe of the command's own, not stdout
            _print_error(args.command, exc)
            return 1
        # Whoever read the output stopped reading (`skmnist evaluate | head`):
        # stop quietly, as other command-line tools do, with the status of a
        # process killed by SIGPIPE; stdout goes to /dev/null so that Python's
        # flush at exit does not complain again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except _EXPECTED_ERRORS as exc:
        # Missing data, corrupt files, unwritable output, a missing extra: a
        # message, not a traceback.
        _print_error(args.command, exc)
        return 1
    except Exception as exc:
        # Anything else (a bug, or a library's own exception type that no
        # command expected): one line too, with the type, unless asked.
        if args.traceback:
            raise
        _print_error(args.command, exc, unexpected=True)
        return 1


def _stdout_is_gone():
    """Whether stdout is a pipe (or socket) that nobody reads any more."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll, or no real stdout
        return False


# What a command reports in one line as it is: bad or unavailable data and
# files (MNISTUnavailableError is an OSError), a missing optional dependency.
_EXPECTED_ERRORS = (OSError, ValueError, ImportError, MemoryError)


def _print_error(command, exc, *, unexpected=False):
    """The one error path of every command: one line on stderr."""
    if unexpected:
        message = (
            f"{type(exc).__name__}: {_one_line(exc)} (unexpected: run again with "
            "--traceback to see where it came from)"
        )
    else:
        message = _missing_package_message(command, exc) or _one_line(exc)
    print(f"skmnist {command}: error: {message}", file=sys.stderr)


def _missing_package_message(command, exc):
    """For an optional package that is missing: which one, and how to add it.

    Errors raised with :func:`skmnist._utils.extras.missing_extra` say so
    already; any other chain of exceptions that ends in a missing module
    (``No module named 'anyio'``) is said plainly, with the extra to install.
    """
    from .._utils.extras import EXTRA_OF_MODULE, MissingExtraError, install_hint

    seen = exc
    while seen is not None:
        if isinstance(seen, MissingExtraError):
            return str(seen)
        if isinstance(seen, ModuleNotFoundError) and seen.name:
            module = seen.name.split(".")[0]
            if module in EXTRA_OF_MODULE:
                package, extra = EXTRA_OF_MODULE[module]
                return (
                    f"skmnist {command} needs {package}, which is not installed: "
                    f"{install_hint(extra)}"
                )
            return f"the Python package {module!r} is not installed"
        seen = seen.__cause__
    return None


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
