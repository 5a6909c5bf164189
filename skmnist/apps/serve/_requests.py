"""What every prediction request goes through: admission, its body, its job.

The steps shared by ``POST /predict`` and the V2 ``infer`` route: reserve
memory for the body and read it (:func:`read_body`), reserve memory for the
work (:func:`reserve_work`), decode off the event loop when that is long
(:func:`off_loop`), wait for the batch that computes the job while watching
the client (:func:`answer_job`), and hold the memory until the answer has
left (:class:`Answer`). Every refusal is an :class:`ApiError` (a 4xx or 503
JSON answer); a client that leaves raises :class:`ClientGone`, which is
logged, never answered.
"""

import asyncio

from starlette.responses import Response

from ._connections import EXTENSION
from ._limits import Abandoned, Overloaded, TooLarge

__all__ = [
    "Answer",
    "ApiError",
    "ClientGone",
    "answer_job",
    "connection_of",
    "off_loop",
    "read_body",
    "reserve_work",
]

_CLOSE = {"Connection": "close"}
_RETRY = {"Retry-After": "1"}


class ApiError(Exception):
    """A request the server refuses: an HTTP status and a message for the client."""

    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


class ClientGone(Exception):
    """The client left before its answer: nothing to send, nothing to compute."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def connection_of(request):
    """The request's guarded connection, or None (another server, a test client)."""
    return request.scope.get("extensions", {}).get(EXTENSION)


class _Watch:
    """An awaitable future that completes when the client has gone."""

    def __init__(self, request):
        connection = connection_of(request)
        self._task = None
        if connection is not None:
            self.future = connection.lost
        else:  # a plain ASGI server: its receive() says http.disconnect
            self._task = asyncio.ensure_future(_disconnected(request.receive))
            self.future = self._task

    def close(self):
        if self._task is not None:
            self._task.cancel()


async def _disconnected(receive):
    while (await receive())["type"] != "http.disconnect":
        pass
    return "the client closed the connection"


def _gone(request, reason=None):
    connection = connection_of(request)
    if connection is not None and connection.drop_reason:
        reason = connection.drop_reason
    return ClientGone(reason or "the client closed the connection")


async def _admit(budget, size, request, limits, gone=None):
    try:
        return await budget.reserve(size, timeout=limits.queue_timeout, gone=gone)
    except TooLarge as exc:
        raise ApiError(413, str(exc), _CLOSE) from None
    except Overloaded as exc:
        raise ApiError(503, str(exc), _RETRY) from None
    except Abandoned as exc:
        raise _gone(request, exc.args[0]) from None


async def read_body(request, bodies, limits):
    """``(body, reservation)``: the body, read within the limits.

    The body's size (its ``Content-Length``, or the limit when it is sent
    chunked) is reserved in ``bodies`` before any of it is read; the
    reservation shrinks to the body read. A body over ``max_body_bytes`` gets
    413 as soon as that is known, and the connection is closed unread.
    """
    limit = limits.max_body_bytes
    declared = request.headers.get("content-length")
    too_large = f"the body is larger than the limit of {limit} bytes (--max-body-bytes)"
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "Content-Length is not a number")
        declared = int(declared)
        if declared > limit:
            raise ApiError(413, f"{too_large} ({declared} bytes)", _CLOSE)
    connection = connection_of(request)
    reservation = await _admit(
        bodies,
        limit if declared is None else declared,
        request,
        limits,
        gone=connection.lost if connection is not None else None,
    )
    try:
        if connection is not None:
            connection.reading_body()
        chunks, size = [], 0
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                raise _gone(request, "the client left while sending its body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise ApiError(413, too_large, _CLOSE)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        reservation.shrink(len(body))
        return body, reservation
    except BaseException:
        reservation.release()
        raise


async def reserve_work(request, work, limits, size):
    """Reserve ``size`` bytes of ``work`` for decoding and predicting."""
    watch = _Watch(request)
    try:
        return await _admit(work, size, request, limits, gone=watch.future)
    finally:
        watch.close()


async def off_loop(executor, function, *args):
    """``function(*args)`` in ``executor``: for decoding long enough to stall
    the event loop (large bodies, pictures)."""
    return await asyncio.get_running_loop().run_in_executor(executor, function, *args)


async def answer_job(request, batcher, job):
    """Submit ``job`` to ``batcher``; its answer, unless the client leaves first."""
    connection = job.connection = connection_of(request)
    future = await batcher.submit(job)
    if connection is None:  # no guarded connection: watch receive() instead
        watch = _Watch(request)
        try:
            await asyncio.wait(
                {future, watch.future}, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            watch.close()
        if future.done() and not future.cancelled():
            return future.result()
        job.gone = True
        raise _gone(request)

    # The hot path: no task and no asyncio.wait per request. A lost
    # connection cancels the answer's future (as the batcher does when it
    # finds the connection closing).
    def cancel(_):
        if not future.done():
            future.cancel()

    connection.lost.add_done_callback(cancel)
    try:
        return await future
    except asyncio.CancelledError:
        if not future.cancelled() or asyncio.current_task().cancelling():
            raise  # this task is cancelled (the server is stopping)
    finally:
        connection.lost.remove_done_callback(cancel)
    job.gone = True
    if not connection.lost.done():
        # Dropped as its connection closed: let the server see it closed, so
        # that it sends nothing.
        await asyncio.wait({connection.lost}, timeout=1)
    raise _gone(request)


class Answer(Response):
    """A response that gives back its request's memory once it has left: after
    the connection has handed it to the kernel (a client that does not read
    is dropped after ``body_timeout``)."""

    def __init__(self, content, *, media_type, status_code=200, headers=None, hold=()):
        super().__init__(
            content, status_code=status_code, headers=headers, media_type=media_type
        )
        self.hold = hold

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
            connection = scope.get("extensions", {}).get(EXTENSION)
            if connection is not None:
                await connection.drained()
        finally:
            for reservation in self.hold:
                reservation.release()
