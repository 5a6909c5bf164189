"""The options of ``skmnist serve``, for the command line's parser.

Importing this module imports nothing of the server (no Starlette, no
uvicorn): ``skmnist --help`` stays light.
"""

import argparse

__all__ = ["add_serve_arguments", "limits_of"]

# The defaults of skmnist.apps.serve._limits.Limits, repeated here so that
# building the parser imports nothing (a test checks that they agree).
DEFAULTS = {
    "max_body_bytes": 4 * 1024 * 1024,
    "max_image_pixels": 2048 * 2048,
    "max_request_memory": 512 * 1024 * 1024,
    "queue_timeout": 10.0,
    "header_timeout": 10.0,
    "body_timeout": 30.0,
    "max_connections": None,
}
LIMIT_OPTIONS = tuple(DEFAULTS)


def _port(text):
    value = _integer(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port in 0..65535, got {text}")
    return value


def _integer(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def _positive_int(text):
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_seconds(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(
            f"must be a positive number of seconds, got {text}"
        )
    return value


def add_serve_arguments(parser):
    """Add the options of ``skmnist serve`` to ``parser``."""
    parser.add_argument(
        "--model",
        required=True,
        metavar="FILE",
        help="a model saved with skmnist.save (or, with --trust-pickle, a "
        "*.joblib/*.pkl/*.pickle file)",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: %(default)s, this machine only; "
        "0.0.0.0 for every interface)",
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=8000,
        help="TCP port (default: %(default)s; 0 picks a free one)",
    )
    parser.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        metavar="N",
        help="server processes sharing the port, each with its own copy of the "
        "model and its own limits (default: %(default)s)",
    )
    parser.add_argument(
        "--model-name",
        metavar="NAME",
        help="the model's name in the Open Inference Protocol's URLs, "
        "/v2/models/NAME (default: the file name without its suffix)",
    )
    parser.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow a joblib/pickle model file: loading one runs code from it, "
        "so only pass this for files you trust",
    )
    limits = parser.add_argument_group(
        "limits", "what each server process accepts at once (see docs/serving.md)"
    )
    limits.add_argument(
        "--max-body-bytes",
        type=_positive_int,
        default=DEFAULTS["max_body_bytes"],
        metavar="N",
        help="refuse larger request bodies with 413 (default: %(default)s)",
    )
    limits.add_argument(
        "--max-image-pixels",
        type=_positive_int,
        default=DEFAULTS["max_image_pixels"],
        metavar="N",
        help="refuse pictures of more pixels with 413, before decoding them "
        "(default: %(default)s)",
    )
    limits.add_argument(
        "--max-request-memory",
        type=_positive_int,
        default=DEFAULTS["max_request_memory"],
        metavar="BYTES",
        help="the memory the requests in flight may take at once; past it "
        "requests wait, then get 503 (default: %(default)s)",
    )
    limits.add_argument(
        "--queue-timeout",
        type=_positive_seconds,
        default=DEFAULTS["queue_timeout"],
        metavar="SECONDS",
        help="how long a request waits for memory before it gets 503 "
        "(default: %(default)s)",
    )
    limits.add_argument(
        "--header-timeout",
        type=_positive_seconds,
        default=DEFAULTS["header_timeout"],
        metavar="SECONDS",
        help="drop a client that has not sent a whole request head this long "
        "after connecting or after its previous answer (default: %(default)s)",
    )
    limits.add_argument(
        "--body-timeout",
        type=_positive_seconds,
        default=DEFAULTS["body_timeout"],
        metavar="SECONDS",
        help="drop a client that has not sent its body this long after its "
        "head, or does not read its answer for this long (default: %(default)s)",
    )
    limits.add_argument(
        "--max-connections",
        type=_positive_int,
        default=DEFAULTS["max_connections"],
        metavar="N",
        help="open connections at most; a new one closes the oldest idle or "
        "slow one (default: 1000, or fewer if the process may not open as many "
        "files)",
    )
    limits.add_argument(
        "--max-batch-images",
        type=_positive_int,
        default=256,
        metavar="N",
        help="the images predicted together at most, from requests waiting at "
        "the same time; 1 predicts each request alone (default: %(default)s)",
    )


def limits_of(args):
    """The ``Limits`` keyword arguments of parsed ``skmnist serve`` options."""
    return {name: getattr(args, name) for name in LIMIT_OPTIONS}
