"""``skmnist serve``: a drawing pad in the browser and a JSON prediction API.

:func:`create_app` builds the ASGI application (Starlette) around a fitted
model; :func:`run_server` serves it with uvicorn. Both need the ``serve``
extra (``pip install "skmnist[serve]"``); ``import skmnist`` imports neither
this module nor Starlette or uvicorn.

Routes:

``GET /``
    The drawing pad (``static/index.html``, with its CSS and JavaScript under
    ``/static/``): the page needs nothing from the internet.
``POST /predict``
    A JSON body ``{"pixels": [[...28 rows of 28 values...]]}`` (white digit on
    black, values in [0, 255], used as they are), or a list of such images
    for a batch; or a PNG or JPEG body, converted the MNIST way as
    ``skmnist predict`` converts image files (the answer then carries the
    converted 28x28 ``image`` too).
``GET /health``
    200 ``{"status": "ok"}``: the model is loaded before the server listens.
``GET /model``
    What the model is: its network, classes, input, the skmnist version.

Bad requests get a 4xx status and ``{"error": "..."}``; an unexpected failure
gets 500 and the same shape, never a traceback. The model computes in worker
threads, so the event loop keeps answering while it does.
"""

import json
import logging
import os
import signal
import socket
import threading
import time
from importlib import resources

import numpy as np

try:
    import anyio
    import uvicorn
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"skmnist serve needs Starlette and uvicorn ({exc}): "
        'pip install "skmnist[serve]"'
    ) from exc

from ..._version import __version__
from ...data._images import (
    INVERT_MODES,
    SIZE,
    _import_pil,
    _TooLarge,
    read_image_bytes,
)
from .._model_input import model_input

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_IMAGE_PIXELS",
    "DEFAULT_PORT",
    "create_app",
    "run_server",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
# A picture is converted as float64 arrays, several copies of its size: 4
# megapixels cost about 200 MB at worst, 16 megapixels would cost 800.
DEFAULT_MAX_IMAGE_PIXELS = 2048 * 2048

_PIXEL_MAX = 255
_JSON = "application/json"
_IMAGE_TYPES = ("image/png", "image/jpeg")
_STATIC = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
# The page loads only its own files; it needs no inline code.
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}

logger = logging.getLogger("skmnist.serve")


class _ApiError(Exception):
    """A request the API refuses: an HTTP status and a message for the client."""

    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def _error(status, message, headers=None):
    return JSONResponse({"error": message}, status_code=status, headers=headers)


# -- reading requests ---------------------------------------------------------


def _media_type(request):
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _read_body(request, limit):
    """The request body, refused with 413 as soon as it exceeds ``limit``."""
    declared = request.headers.get("content-length")
    too_large = f"the body is larger than the limit of {limit} bytes"
    # Connection: close, since the rest of the body is not read.
    close = {"Connection": "close"}
    if declared is not None:
        try:
            declared = int(declared)
        except ValueError:
            raise _ApiError(400, "Content-Length is not a number") from None
        if declared > limit:
            raise _ApiError(413, f"{too_large} ({declared} bytes)", close)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _ApiError(413, too_large, close)
        chunks.append(chunk)
    return b"".join(chunks)


def _images_from_json(body):
    """``(images, batch)``: float64 (n, 28, 28) pixels from a JSON body."""
    try:
        document = json.loads(body)
    except UnicodeDecodeError:
        raise _ApiError(400, "the body is not valid JSON: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise _ApiError(400, f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise _ApiError(400, "the body is not valid JSON: nested too deeply") from None
    if not isinstance(document, dict):
        raise _ApiError(
            422,
            'the JSON body must be an object {"pixels": [...]}, not '
            f"{_json_kind(document)}",
        )
    if "pixels" not in document:
        raise _ApiError(
            422,
            'the JSON object has no "pixels": send {"pixels": [[...28 rows of 28 '
            "values in 0..255...]]}",
        )
    try:
        pixels = np.array(document["pixels"])
    except (ValueError, TypeError, RecursionError):
        # Ragged rows: numpy refuses them.
        raise _ApiError(
            422, '"pixels" must be rows of equal length: got rows of different lengths'
        ) from None
    if pixels.dtype.kind not in "iuf":
        raise _ApiError(
            422, '"pixels" must hold numbers only (no strings, booleans, null, objects)'
        )
    if pixels.ndim == 2:
        pixels, batch = pixels[np.newaxis], False
    elif pixels.ndim == 3 and len(pixels):
        batch = True
    else:
        raise _ApiError(
            422,
            f'"pixels" must be 28 rows of 28 values, shape (28, 28), or a list of '
            f"such images, shape (n, 28, 28); got shape {pixels.shape}",
        )
    if pixels.shape[1:] != (SIZE, SIZE):
        raise _ApiError(
            422,
            f'"pixels" must be 28x28 images (28 rows of 28 values); got images of '
            f"shape {pixels.shape[1:]}",
        )
    pixels = pixels.astype(np.float64)
    if not np.isfinite(pixels).all():
        raise _ApiError(
            422, '"pixels" values must be finite numbers: found NaN or ±inf'
        )
    low, high = pixels.min(), pixels.max()
    if low < 0 or high > _PIXEL_MAX:
        raise _ApiError(
            422,
            f'"pixels" values must lie in [0, {_PIXEL_MAX}]; got values from '
            f"{_number(low)} to {_number(high)}",
        )
    return pixels, batch


def _json_kind(value):
    return {list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )


def _number(x):
    return int(x) if float(x).is_integer() else float(x)


def _image_from_bytes(body, invert, max_pixels):
    try:
        return read_image_bytes(
            body, invert=invert, max_pixels=max_pixels, name="the image"
        )
    except ImportError as exc:
        raise _ApiError(415, f"this server cannot read pictures: {exc}") from None
    except _TooLarge as exc:
        raise _ApiError(413, str(exc)) from None
    except ValueError as exc:
        raise _ApiError(400, str(exc)) from None


# -- answering ----------------------------------------------------------------


def _plain(value):
    """``value`` with NumPy scalars and arrays, and tuples, as JSON data."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _network(classifier):
    """The layers of ``classifier``'s network, as plain data."""
    architecture = getattr(classifier, "architecture_", None)
    if architecture is not None:
        return _plain(architecture)
    coefs = getattr(classifier, "coefs_", None)
    if coefs is None:
        return None
    # An MLP without architecture_: its dense layers, from the weights.
    activation = getattr(classifier, "activation", "relu")
    dropout = getattr(classifier, "dropout", 0)
    layers = []
    for coef in coefs[:-1]:
        layers.append(
            {"kind": "dense", "units": coef.shape[1], "activation": activation}
        )
        if dropout:
            layers.append({"kind": "dropout", "rate": float(dropout)})
    layers.append(
        {"kind": "dense", "units": coefs[-1].shape[1], "activation": "softmax"}
    )
    return _plain(layers)


def _describe_model(model, *, name=None):
    """The ``GET /model`` answer: what ``model`` is, as plain data."""
    estimator = getattr(model, "best_estimator_", model)  # a fitted search
    steps = getattr(estimator, "steps", None)
    classifier = steps[-1][1] if steps else estimator
    return {
        "name": name,
        "model": type(model).__name__,
        "steps": (
            [[step_name, type(step).__name__] for step_name, step in steps]
            if steps
            else None
        ),
        "classifier": type(classifier).__name__,
        "network": _network(classifier),
        "classes": _plain(model.classes_),
        "input": {
            "shape": [SIZE, SIZE],
            "n_features": SIZE * SIZE,
            "pixel_range": [0, _PIXEL_MAX],
            "format": "white digit on black, as in MNIST",
        },
        "skmnist_version": __version__,
    }


class _Predictor:
    """Pixels in, answers out, for one fitted model."""

    def __init__(self, model):
        self.model = model
        self.classes = [_plain(label) for label in model.classes_]
        self.keys = [str(label) for label in self.classes]

    def __call__(self, images):
        proba = self.model.predict_proba(model_input(self.model, images))
        best = np.argmax(proba, axis=1)
        return [
            {
                "label": self.classes[i],
                "probabilities": dict(zip(self.keys, row.tolist(), strict=True)),
            }
            for i, row in zip(best, proba, strict=True)
        ]


def _check_model(model):
    if not hasattr(model, "predict_proba") or not hasattr(model, "classes_"):
        raise ValueError(
            f"the model ({type(model).__name__}) is not a fitted classifier: it "
            "needs predict_proba and classes_"
        )
    n_features = getattr(model, "n_features_in_", SIZE * SIZE)
    if n_features != SIZE * SIZE:
        raise ValueError(
            f"the model expects {n_features} features per sample, not the "
            f"{SIZE * SIZE} pixels of a 28x28 image"
        )


# -- the application ----------------------------------------------------------


def create_app(
    model,
    *,
    max_body_bytes=DEFAULT_MAX_BODY_BYTES,
    max_image_pixels=DEFAULT_MAX_IMAGE_PIXELS,
    name=None,
):
    """Build the ASGI application that serves ``model``.

    Parameters
    ----------
    model : classifier or Pipeline
        A fitted model that takes MNIST images, as :func:`skmnist.load`
        returns it: a pipeline starting with :class:`MNISTPreprocessor`
        (given raw 28x28 images) or a bare classifier (given 784 pixels
        scaled to [0, 1]).

    max_body_bytes : int, default=4194304
        Request bodies larger than this get 413, without being read whole.

    max_image_pixels : int, default=4194304
        Pictures of more pixels (width times height, read from their header)
        get 413, before they are decoded.

    name : str, default=None
        What ``GET /model`` calls the model (its file name, say).

    Returns
    -------
    app : starlette.applications.Starlette
        The application; serve it with uvicorn (:func:`run_server` does) or
        drive it with Starlette's ``TestClient``.

    Raises
    ------
    ValueError
        If ``model`` is not a fitted classifier of 784 pixels, or fails to
        classify a blank image (tried once, as a warm-up).

    Examples
    --------
    >>> import numpy as np
    >>> from starlette.testclient import TestClient
    >>> from skmnist import MNISTMLPClassifier
    >>> from skmnist.apps.serve._app import create_app
    >>> rng = np.random.default_rng(0)
    >>> clf = MNISTMLPClassifier(hidden_layer_sizes=(8,), epochs=1, random_state=0)
    >>> clf = clf.fit(rng.random((50, 784), dtype=np.float32), np.arange(50) % 10)
    >>> client = TestClient(create_app(clf))
    >>> client.get("/health").json()
    {'status': 'ok'}
    >>> answer = client.post("/predict", json={"pixels": np.zeros((28, 28)).tolist()})
    >>> answer.status_code, sorted(answer.json()), len(answer.json()["probabilities"])
    (200, ['label', 'probabilities'], 10)
    >>> client.post("/predict", json={"pixels": [[1, 2], [3, 4]]}).json()["error"]
    '"pixels" must be 28x28 images (28 rows of 28 values); got images of shape (2, 2)'
    """
    _check_model(model)
    if max_body_bytes < 1 or max_image_pixels < 1:
        raise ValueError("max_body_bytes and max_image_pixels must be positive")
    predictor = _Predictor(model)
    # Warm up now rather than on the first requests: one prediction (the
    # model caches its weights in the precision it computes in) and Pillow's
    # import, which the first picture would otherwise wait for.
    try:
        predictor(np.zeros((1, SIZE, SIZE), dtype=np.uint8))
    except Exception as exc:  # a model that cannot predict: say so at start-up
        raise ValueError(
            f"the model fails to classify a blank image ({type(exc).__name__}: {exc})"
        ) from exc
    try:
        _import_pil()
    except ImportError:
        pass  # JSON still works; pictures get 415, saying why
    description = _describe_model(model, name=name)
    static = {
        file: (resources.files(__package__).joinpath("static", file).read_bytes(), kind)
        for file, kind in _STATIC.items()
    }
    # Pictures are decoded at most this many at a time: each costs CPU and
    # tens of MB, so more in parallel would only add memory, not speed.
    converting = {"limiter": None}

    def limiter():
        if converting["limiter"] is None:  # made inside the event loop
            converting["limiter"] = anyio.CapacityLimiter(os.cpu_count() or 1)
        return converting["limiter"]

    async def page(request):
        return _static_response(static, "index.html")

    async def static_file(request):
        file = request.path_params["file"]
        if file not in static or file == "index.html":
            raise _ApiError(404, f"no such file: /static/{file}")
        return _static_response(static, file)

    async def health(request):
        return JSONResponse({"status": "ok"})

    async def model_info(request):
        return JSONResponse(description)

    async def predict(request):
        kind = _media_type(request)
        if kind not in (_JSON, *_IMAGE_TYPES):
            sent = f"Content-Type {kind!r}" if kind else "no Content-Type"
            raise _ApiError(
                415,
                f'{sent}: send application/json ({{"pixels": ...}}), image/png '
                "or image/jpeg",
            )
        invert = request.query_params.get("invert", "auto")
        if invert not in INVERT_MODES:
            raise _ApiError(
                422, f"invert must be one of {', '.join(INVERT_MODES)}; got {invert!r}"
            )
        body = await _read_body(request, max_body_bytes)
        if not body:
            raise _ApiError(400, "the body is empty: send the image to classify")
        if kind == _JSON:
            answer = await anyio.to_thread.run_sync(_answer_json, predictor, body)
        else:
            answer = await anyio.to_thread.run_sync(
                _answer_image,
                predictor,
                body,
                invert,
                max_image_pixels,
                limiter=limiter(),
            )
        return JSONResponse(answer)

    async def api_error(request, exc):
        return _error(exc.status, exc.message, exc.headers)

    async def server_error(request, exc):
        return _error(500, "internal server error")

    async def http_error(request, exc):
        if exc.status_code == 404:
            message = f"no such page: {request.method} {request.url.path}"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
            allowed = (exc.headers or {}).get("Allow")
            if allowed:
                message += f"; use {allowed}"
        else:
            message = str(exc.detail)
        return _error(exc.status_code, message, exc.headers)

    app = Starlette(
        routes=[
            Route("/", page, methods=["GET"]),
            Route("/static/{file}", static_file, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
            Route("/model", model_info, methods=["GET"]),
            Route("/predict", predict, methods=["POST"]),
        ],
        exception_handlers={
            _ApiError: api_error,
            HTTPException: http_error,
            # Starlette answers with this, then re-raises for _Guard to log.
            Exception: server_error,
        },
    )
    return _Guard(app)


def _answer_json(predictor, body):
    images, batch = _images_from_json(body)
    answers = predictor(images)
    return {"predictions": answers} if batch else answers[0]


def _answer_image(predictor, body, invert, max_pixels):
    image = _image_from_bytes(body, invert, max_pixels)
    (answer,) = predictor(image[np.newaxis])
    answer["image"] = image.tolist()
    return answer


def _static_response(static, file):
    content, kind = static[file]
    return Response(content, media_type=kind, headers=_PAGE_HEADERS)


class _Guard:
    """ASGI middleware: one log line per request, and a JSON 500 for anything
    that escapes the application (never a traceback for the client)."""

    def __init__(self, app):
        self.app = app

    def __getattr__(self, name):  # app.routes, app.state... for callers
        return getattr(self.app, name)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = None

        async def send_logged(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_logged)
        except Exception:
            logger.exception("%s %s failed", scope["method"], scope["path"])
            if status is None:  # nothing sent yet: the client gets an answer
                status = 500
                await _error(500, "internal server error")(scope, receive, send)
        finally:
            client = scope.get("client")
            where = f"{client[0]}:{client[1]}" if client else "-"
            logger.info(
                '%s "%s %s" %s %.1f ms',
                where,
                scope["method"],
                scope["path"],
                status if status is not None else "-",
                (time.perf_counter() - start) * 1e3,
            )


# -- the server ---------------------------------------------------------------


def _bind(host, port):
    """A listening TCP socket on ``host``:``port`` (0: a free port)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _url(sock):
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def _is_loopback(sock):
    import ipaddress

    return ipaddress.ip_address(sock.getsockname()[0].split("%")[0]).is_loopback


def _configure_logging():
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(message)s", datefmt="%Y-%m-%d %H:%M:%S")
    )
    for name in ("skmnist.serve", "uvicorn.error"):
        log = logging.getLogger(name)
        log.handlers[:] = [handler]
        log.setLevel(logging.INFO)
        log.propagate = False


def run_server(
    model,
    *,
    host=DEFAULT_HOST,
    port=DEFAULT_PORT,
    max_body_bytes=DEFAULT_MAX_BODY_BYTES,
    max_image_pixels=DEFAULT_MAX_IMAGE_PIXELS,
    name=None,
):
    """Serve ``model`` over HTTP until Ctrl-C or SIGTERM; return 0.

    Parameters
    ----------
    model : classifier or Pipeline
        The fitted model, as for :func:`create_app`.

    host : str, default="127.0.0.1"
        The address to listen on; the default answers this machine only.

    port : int, default=8000
        The TCP port; 0 picks a free one (the log says which).

    max_body_bytes, max_image_pixels, name
        As for :func:`create_app`.

    Returns
    -------
    status : int
        0, once the server has stopped on a signal.

    Examples
    --------
    From a shell (the browser then opens ``http://127.0.0.1:8000/``)::

        skmnist serve --model mnist_mlp.skmnist

    >>> from skmnist.apps.serve._app import run_server
    >>> callable(run_server)
    True
    """
    app = create_app(
        model,
        max_body_bytes=max_body_bytes,
        max_image_pixels=max_image_pixels,
        name=name,
    )
    _configure_logging()
    sock = _bind(host, port)
    config = uvicorn.Config(
        app,
        log_config=None,  # the loggers set up above
        access_log=False,  # the application logs each request itself
        lifespan="off",
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    logger.info(
        "skmnist serve: %s on %s (Ctrl-C to stop)", name or "the model", _url(sock)
    )
    if not _is_loopback(sock):
        logger.warning(
            "skmnist serve: listening beyond this machine (%s): anyone who can "
            "reach it can use the model; there is no authentication",
            host,
        )
    received = []
    previous = {}
    if threading.current_thread() is threading.main_thread():
        # uvicorn stops gracefully on SIGINT/SIGTERM and then raises the
        # signal again for the handler that was there before: these make
        # that a clean exit instead of a KeyboardInterrupt or a kill.
        previous = {
            sig: signal.signal(sig, lambda number, frame: received.append(number))
            for sig in (signal.SIGINT, signal.SIGTERM)
        }
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
    how = signal.Signals(received[0]).name if received else "shutdown"
    logger.info("skmnist serve: stopped (%s)", how)
    return 0
