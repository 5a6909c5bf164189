"""``skmnist serve``: the ASGI application (Starlette) around a fitted model.

:func:`create_app` builds it; :func:`skmnist.apps.serve.run_server` serves it
with uvicorn. It needs the ``serve`` extra (``pip install "skmnist[serve]"``);
``import skmnist`` imports neither this module nor Starlette or uvicorn.

skmnist's own routes:

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

and the Open Inference Protocol's, under ``/v2`` (see :mod:`._v2`).

Bad requests get a 4xx status and ``{"error": "..."}``, and one line in the
log; a failure of the model gets 500 and the same shape, never a traceback
for the client. Predictions run in a thread of their own, a batch of the
waiting requests at a time (see :mod:`._batching`); the memory of the
requests in flight is bounded (see :mod:`._limits`).
"""

import dataclasses
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from importlib import resources

import numpy as np

try:
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"skmnist serve needs Starlette and uvicorn ({exc}): "
        'pip install "skmnist[serve]"'
    ) from exc

from ...data._images import INVERT_MODES, _import_pil
from . import _v2
from ._batching import Batcher, Job, Statistics
from ._limits import (
    JSON_BYTES_PER_BODY_BYTE,
    PICTURE_BYTES_PER_PIXEL,
    REQUEST_OVERHEAD_BYTES,
    Limits,
    MemoryBudget,
)
from ._model import Predictor, describe_model
from ._native import (
    AnswerEncoder,
    images_from_json,
    picture_format,
    picture_pixels,
    read_picture,
)
from ._requests import (
    Answer,
    ApiError,
    ClientGone,
    answer_job,
    off_loop,
    read_body,
    reserve_work,
)

__all__ = ["DEFAULT_MAX_BODY_BYTES", "DEFAULT_MAX_IMAGE_PIXELS", "create_app"]

DEFAULT_MAX_BODY_BYTES = Limits.max_body_bytes
DEFAULT_MAX_IMAGE_PIXELS = Limits.max_image_pixels
DEFAULT_MAX_BATCH_IMAGES = 256

_JSON = "application/json"
_IMAGE_TYPES = ("image/png", "image/jpeg")
# Bodies larger than this are decoded in a thread: parsing them would hold
# the event loop for milliseconds.
_DECODE_ON_LOOP_BYTES = 64 * 1024
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
_PREDICTING_PATHS = ("/predict", "/infer")
# The access log's line: 'CLIENT "METHOD PATH" STATUS N.N ms', and '(why)'
# after for a client that left or was dropped.
_ACCESS_LINE = '%s "%s %s" %s %.1f ms%s'

logger = logging.getLogger("skmnist.serve")


def _error(status, message, headers=None):
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _media_type(request):
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _picture_text_allowance():
    """The memory Pillow may spend on a PNG's text chunks (its own limit)."""
    from PIL import PngImagePlugin

    return PngImagePlugin.MAX_TEXT_MEMORY


class _Silence(Response):
    """No answer at all: the client has gone."""

    def __init__(self):
        super().__init__(b"")

    async def __call__(self, scope, receive, send):
        pass


def create_app(
    model,
    *,
    limits=None,
    max_body_bytes=None,
    max_image_pixels=None,
    name=None,
    model_name=None,
    max_batch_images=DEFAULT_MAX_BATCH_IMAGES,
):
    """Build the ASGI application that serves ``model``.

    Parameters
    ----------
    model : classifier or Pipeline
        A fitted model that takes MNIST images, as :func:`skmnist.load`
        returns it: a pipeline starting with :class:`MNISTPreprocessor`
        (given raw 28x28 images) or a bare classifier (given 784 pixels
        scaled to [0, 1]). Its classes may be numbers, booleans or text.

    limits : skmnist.apps.serve._limits.Limits, default=None
        The bounds on requests (body size, memory in flight, timeouts...);
        None: the defaults. The connection timeouts and limit apply only under
        :func:`~skmnist.apps.serve.run_server`, which enforces them.

    max_body_bytes : int, default=None
        Request bodies larger than this get 413, without being read whole
        (None: ``limits.max_body_bytes``, 4 MiB by default).

    max_image_pixels : int, default=None
        Pictures of more pixels (width times height, read from their header)
        get 413, before they are decoded (None: ``limits.max_image_pixels``,
        2048x2048 by default).

    name : str, default=None
        What ``GET /model`` calls the model (its file name, say).

    model_name : str, default=None
        The model's name in the Open Inference Protocol's URLs
        (``/v2/models/{model_name}``); None: from ``name`` (its stem), or
        ``"mnist"``.

    max_batch_images : int, default=256
        The images predicted in one call at most, when requests wait
        together; 1 predicts each request alone.

    Returns
    -------
    app : starlette.applications.Starlette
        The application; serve it with uvicorn (``run_server`` does) or
        drive it with Starlette's ``TestClient``.

    Raises
    ------
    ValueError
        If ``model`` is not a fitted classifier of 784 pixels, its classes
        cannot be served (NaN, say), or it fails to classify a blank image
        (tried once, as a warm-up).

    Examples
    --------
    >>> import numpy as np
    >>> from starlette.testclient import TestClient
    >>> from skmnist import MNISTMLPClassifier
    >>> from skmnist.apps.serve import create_app
    >>> rng = np.random.default_rng(0)
    >>> clf = MNISTMLPClassifier(hidden_layer_sizes=(8,), epochs=1, random_state=0)
    >>> clf = clf.fit(rng.random((50, 784), dtype=np.float32), np.arange(50) % 10)
    >>> client = TestClient(create_app(clf, model_name="demo"))
    >>> client.get("/health").json()
    {'status': 'ok'}
    >>> answer = client.post("/predict", json={"pixels": np.zeros((28, 28)).tolist()})
    >>> answer.status_code, sorted(answer.json()), len(answer.json()["probabilities"])
    (200, ['label', 'probabilities'], 10)
    >>> client.post("/predict", json={"pixels": [[1, 2], [3, 4]]}).json()["error"]
    '"pixels" must be 28x28 images (28 rows of 28 values); got images of shape (2, 2)'
    >>> client.get("/v2/models/demo").json()["inputs"][1]
    {'name': 'images', 'datatype': 'UINT8', 'shape': [-1, 28, 28]}
    """
    limits = limits if limits is not None else Limits()
    overrides = {
        key: value
        for key, value in (
            ("max_body_bytes", max_body_bytes),
            ("max_image_pixels", max_image_pixels),
        )
        if value is not None
    }
    if overrides:
        try:
            limits = dataclasses.replace(limits, **overrides)
        except TypeError as exc:
            raise ValueError(str(exc)) from None
    if model_name is None:
        model_name = _v2.default_model_name(name)
    _v2.check_model_name(model_name)
    predictor = Predictor(model)
    try:
        _import_pil()  # now, rather than on the first picture
    except ImportError:
        pass  # JSON still works; pictures get 415, saying why
    state = _State(predictor, limits, model_name, name, max_batch_images)
    app = Starlette(
        routes=_routes(state),
        exception_handlers={
            **_HANDLERS,
            # Starlette answers with this, then re-raises for _Guard to log.
            Exception: _server_error,
        },
    )
    app.state.skmnist = state
    return _Guard(app, state.statistics)


class _State:
    """What the routes of one application share."""

    def __init__(self, predictor, limits, model_name, name, max_batch_images):
        self.predictor = predictor
        self.labels = predictor.labels
        self.encode = AnswerEncoder(predictor.labels)
        self.limits = limits
        self.model_name = model_name
        self.statistics = Statistics()
        self.batcher = Batcher(
            predictor, max_images=max_batch_images, statistics=self.statistics
        )
        self.bodies = MemoryBudget(limits.body_pool_bytes, "request bodies")
        self.work = MemoryBudget(limits.work_pool_bytes, "decoding and prediction")
        # Pictures and large bodies are decoded at most one per core at once.
        self.decoders = ThreadPoolExecutor(
            os.cpu_count() or 1, thread_name_prefix="skmnist-decode"
        )
        self.description = describe_model(
            predictor.model, name=name, labels=predictor.labels
        )
        self.v2_metadata = _v2.model_metadata(model_name, predictor)
        self.proba_datatype = _v2.output_datatypes(predictor)["probabilities"]
        self.static = {
            file: (
                resources.files(__package__).joinpath("static", file).read_bytes(),
                kind,
            )
            for file, kind in _STATIC.items()
        }

    def check_model(self, request):
        name = request.path_params["model"]
        version = request.path_params.get("version")
        if name != self.model_name:
            raise ApiError(
                404, f"unknown model {name!r}: this server serves {self.model_name!r}"
            )
        if version is not None and version != _v2.VERSION:
            raise ApiError(
                404,
                f"unknown version {version!r} of model {name!r}: it has version "
                f"{_v2.VERSION}",
            )


# -- the routes ---------------------------------------------------------------


def _routes(state):
    def static_response(file):
        content, kind = state.static[file]
        return Response(content, media_type=kind, headers=_PAGE_HEADERS)

    async def page(request):
        return static_response("index.html")

    async def static_file(request):
        file = request.path_params["file"]
        if file not in state.static or file == "index.html":
            raise ApiError(404, f"no such file: /static/{file}")
        return static_response(file)

    async def health(request):
        return JSONResponse({"status": "ok"})

    async def model_info(request):
        return JSONResponse(state.description)

    async def predict(request):
        kind = _media_type(request)
        if kind not in (_JSON, *_IMAGE_TYPES):
            sent = f"Content-Type {kind!r}" if kind else "no Content-Type"
            raise ApiError(
                415,
                f'{sent}: send application/json ({{"pixels": ...}}), image/png '
                "or image/jpeg",
            )
        invert = (
            request.query_params.get("invert", "auto")
            if request.scope["query_string"]
            else "auto"
        )
        if invert not in INVERT_MODES:
            raise ApiError(
                422, f"invert must be one of {', '.join(INVERT_MODES)}; got {invert!r}"
            )
        body, held_body = await read_body(request, state.bodies, state.limits)
        held_work = None
        try:
            if not body:
                raise ApiError(400, "the body is empty: send the image to classify")
            if kind == _JSON:
                held_work = await reserve_work(
                    request,
                    state.work,
                    state.limits,
                    len(body) * JSON_BYTES_PER_BODY_BYTE + REQUEST_OVERHEAD_BYTES,
                )
                if len(body) > _DECODE_ON_LOOP_BYTES:
                    images, batch = await off_loop(
                        state.decoders, images_from_json, body
                    )
                else:
                    images, batch = images_from_json(body)
                job = Job(
                    images=images,
                    answer=partial(state.encode, batch=batch),
                )
            else:
                format_ = picture_format(body)
                pixels = picture_pixels(body, format_, state.limits.max_image_pixels)
                held_work = await reserve_work(
                    request,
                    state.work,
                    state.limits,
                    pixels * PICTURE_BYTES_PER_PIXEL
                    + len(body)
                    + (_picture_text_allowance() if format_ == "PNG" else 0)
                    + REQUEST_OVERHEAD_BYTES,
                )
                image = await off_loop(
                    state.decoders,
                    read_picture,
                    body,
                    invert,
                    state.limits.max_image_pixels,
                )
                job = Job(
                    images=image[np.newaxis],
                    answer=partial(state.encode, batch=False, image=image),
                )
            content = await answer_job(request, state.batcher, job)
        except BaseException:
            held_body.release()
            if held_work is not None:
                held_work.release()
            raise
        return Answer(content, media_type=_JSON, hold=(held_body, held_work))

    # -- the Open Inference Protocol --

    async def v2_server(request):
        return JSONResponse(_v2.server_metadata())

    async def v2_live(request):
        return JSONResponse({"live": True})

    async def v2_ready(request):
        return JSONResponse({"ready": True})

    async def v2_model(request):
        state.check_model(request)
        return JSONResponse(state.v2_metadata)

    async def v2_model_ready(request):
        state.check_model(request)
        return JSONResponse({"name": state.model_name, "ready": True})

    async def v2_stats(request):
        state.check_model(request)
        return JSONResponse(_v2.model_statistics(state.model_name, state.statistics))

    async def v2_infer(request):
        state.check_model(request)
        encoding = request.headers.get("content-encoding", "identity").lower()
        if encoding != "identity":
            raise ApiError(
                415, f"Content-Encoding {encoding!r}: send the request uncompressed"
            )
        body, held_body = await read_body(request, state.bodies, state.limits)
        held_work = None
        try:
            header_length = request.headers.get(_v2.HEADER_LENGTH)
            json_size = len(body)
            if header_length is not None and header_length.isdigit():
                json_size = min(json_size, int(header_length))
            held_work = await reserve_work(
                request,
                state.work,
                state.limits,
                json_size * JSON_BYTES_PER_BODY_BYTE
                + (len(body) - json_size) * 6
                + REQUEST_OVERHEAD_BYTES,
            )
            if len(body) > _DECODE_ON_LOOP_BYTES:
                parsed = await off_loop(
                    state.decoders, _v2.parse_infer, body, header_length
                )
            else:
                parsed = _v2.parse_infer(body, header_length)
            job = Job(
                images=parsed.images,
                features=parsed.features,
                answer=partial(
                    _v2.encode_infer,
                    state.model_name,
                    parsed,
                    state.labels,
                    state.proba_datatype,
                ),
            )
            content, headers, media_type = await answer_job(request, state.batcher, job)
        except BaseException:
            held_body.release()
            if held_work is not None:
                held_work.release()
            raise
        return Answer(
            content, media_type=media_type, headers=headers, hold=(held_body, held_work)
        )

    model = "/v2/models/{model}"
    versioned = "/v2/models/{model}/versions/{version}"
    return [
        Route("/predict", predict, methods=["POST"]),
        Route(f"{model}/infer", v2_infer, methods=["POST"]),
        Route(f"{versioned}/infer", v2_infer, methods=["POST"]),
        Route("/", page, methods=["GET"]),
        Route("/static/{file}", static_file, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/model", model_info, methods=["GET"]),
        Route("/v2", v2_server, methods=["GET"]),
        Route("/v2/health/live", v2_live, methods=["GET"]),
        Route("/v2/health/ready", v2_ready, methods=["GET"]),
        Route(model, v2_model, methods=["GET"]),
        Route(versioned, v2_model, methods=["GET"]),
        Route(f"{model}/ready", v2_model_ready, methods=["GET"]),
        Route(f"{versioned}/ready", v2_model_ready, methods=["GET"]),
        Route(f"{model}/stats", v2_stats, methods=["GET"]),
        Route(f"{versioned}/stats", v2_stats, methods=["GET"]),
    ]


# -- errors -------------------------------------------------------------------


async def _api_error(request, exc):
    return _error(exc.status, exc.message, exc.headers)


async def _client_gone(request, exc):
    request.scope["skmnist.gone"] = exc.reason
    return _Silence()


async def _server_error(request, exc):
    return _error(500, "internal server error")


async def _http_error(request, exc):
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


# The handlers of the routes' errors, which Starlette's ExceptionMiddleware
# puts in the scope for the routes (any other exception is a 500: Starlette's
# ServerErrorMiddleware answers it, or _Guard for POST /predict).
_HANDLERS = {
    ApiError: _api_error,
    ClientGone: _client_gone,
    HTTPException: _http_error,
}


class _Guard:
    """ASGI middleware: one log line per request, and a JSON 500 for anything
    that escapes the application (never a traceback for the client)."""

    def __init__(self, app, statistics):
        self.app = app
        self.statistics = statistics
        # POST /predict, the hot request, goes straight to its route's ASGI
        # app (the endpoint wrapped by Starlette's request_response, which
        # applies the exception handlers found in the scope), skipping the
        # error and exception middleware and the router's matching. The
        # scope gets what they and the router would have put in it.
        (self._predict,) = (route for route in app.routes if route.path == "/predict")
        self._predict_scope = {
            "app": app,
            "router": app.router,
            "route": self._predict,
            "endpoint": self._predict.endpoint,
            "starlette.exception_handlers": (_HANDLERS, {}),
        }

    def __getattr__(self, name):  # app.routes, app.state... for callers
        return getattr(self.app, name)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter_ns()
        status = None

        async def send_logged(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if (
                scope["path"] == "/predict"
                and scope["method"] == "POST"
                and not scope.get("root_path")  # else the router strips it
            ):
                scope.update(self._predict_scope)
                scope["path_params"] = {}
                await self._predict.app(scope, receive, send_logged)
            else:
                await self.app(scope, receive, send_logged)
        except Exception:
            logger.exception("%s %s failed", scope["method"], scope["path"])
            if status is None:  # nothing sent yet: the client gets an answer
                status = 500
                await _error(500, "internal server error")(scope, receive, send)
        finally:
            elapsed = time.perf_counter_ns() - start
            path = scope["path"]
            gone = scope.get("skmnist.gone")
            note = ""
            if gone is not None:
                # 499: nginx's "client closed request"; 408 when the server
                # dropped a client too slow to send its body.
                coded = gone[:3].isdigit()
                status = int(gone[:3]) if coded else 499
                note = f" ({gone[4:] if coded else gone})"
            # Nothing of the line is made when INFO is off (the app under a
            # test client, say).
            if logger.isEnabledFor(logging.INFO):
                client = scope.get("client")
                logger.info(
                    _ACCESS_LINE,
                    f"{client[0]}:{client[1]}" if client else "-",
                    scope["method"],
                    path,
                    "-" if status is None else status,
                    elapsed / 1e6,
                    note,
                )
            if status is not None and path.endswith(_PREDICTING_PATHS):
                self.statistics.add("success" if status == 200 else "fail", elapsed)
