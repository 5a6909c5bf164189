"""The connections of one server process: timeouts and a limit on their number.

uvicorn parses HTTP with httptools; :func:`guarded_protocol` subclasses its
protocol so that no client can hold a connection, a file descriptor or memory
for long without sending or reading:

- a request's head (its line and headers) must arrive within
  ``header_timeout`` of the connection opening or of the previous answer, and
  be at most ``max_header_bytes`` (else 431);
- its body must arrive within ``body_timeout`` of the application starting
  to read it (a request waiting for memory waits on the server, not on the
  client);
- an answer that the client does not read for ``body_timeout`` drops it;
- at most ``max_connections`` are open: a new one closes the connection that
  has been idle, or sending its head, the longest (then the slowest to send
  its body); if every connection has a request being answered, the new one
  gets 503.

Each drop is one line in the log. The application finds its connection in
the ASGI scope (``scope["extensions"]["skmnist.connection"]``): it learns
there when the client has gone and why, and waits there until an answer is
handed to the kernel before it gives back the answer's memory.
"""

import json
import logging

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["ConnectionRegistry", "guarded_protocol"]

logger = logging.getLogger("skmnist.serve")

EXTENSION = "skmnist.connection"
_HEAD, _BODY, _BUSY = "head", "body", "busy"
_EVICTION_ORDER = {_HEAD: 0, _BODY: 1}  # busy connections are never evicted


class _HeadTooLarge(Exception):
    pass


class ConnectionRegistry:
    """The open connections of a server process, and their limit."""

    def __init__(self, limit):
        self.limit = limit
        self._open = {}  # insertion-ordered: the oldest first

    def __len__(self):
        return len(self._open)

    def add(self, connection):
        self._open[connection] = None
        if len(self._open) > self.limit:
            self._make_room(connection)

    def discard(self, connection):
        self._open.pop(connection, None)

    def _make_room(self, newcomer):
        candidates = [
            c
            for c in self._open
            if c is not newcomer and c.phase in _EVICTION_ORDER and not c.closing
        ]
        if not candidates:
            newcomer.refuse(
                503,
                f"the server has {self.limit} connections open, each with a "
                "request being answered (--max-connections); try again",
            )
            return
        victim = min(candidates, key=lambda c: (_EVICTION_ORDER[c.phase], c.since))
        what = (
            "idle or sending its request head"
            if victim.phase == _HEAD
            else ("sending its body")
        )
        victim.drop(
            f"{self.limit} connections open (--max-connections): closed this one, "
            f"{what} for {victim.loop.time() - victim.since:.1f} s, for a new one"
        )


def guarded_protocol(limits, registry):
    """The uvicorn protocol class that enforces ``limits`` on connections.

    Parameters
    ----------
    limits : skmnist.apps.serve._limits.Limits
        The timeouts and the head size limit.
    registry : ConnectionRegistry
        The process's open connections, and their limit.

    Returns
    -------
    protocol_class : type
        A subclass of uvicorn's httptools protocol, for ``uvicorn.Config(http=...)``.
    """
    return type(
        "GuardedHttpToolsProtocol",
        (_GuardedProtocol,),
        {"limits": limits, "registry": registry},
    )


class _CoalescedWrites:
    """A connection's transport that writes what one turn of the event loop
    gave it in one system call.

    uvicorn writes an answer's head and its body separately: two ``send``
    calls, the costliest part of a small answer on loopback. Here they go
    out together at the end of the loop's turn (or before the transport
    closes, or when the application waits for the answer to be sent).
    """

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport, loop):
        self._transport = transport
        self._loop = loop
        self._pending = None

    def write(self, data):
        if self._pending is not None:
            self._pending.append(data)
        elif self._transport.is_closing():
            self._transport.write(data)  # as before: asyncio discards it
        else:
            self._pending = [data]
            self._loop.call_soon(self.flush)

    def flush(self):
        """Hand what is pending to the transport now."""
        pending, self._pending = self._pending, None
        if pending and not self._transport.is_closing():
            self._transport.write(b"".join(pending))

    def close(self):
        self.flush()
        self._transport.close()

    def get_write_buffer_size(self):
        pending = sum(map(len, self._pending)) if self._pending else 0
        return pending + self._transport.get_write_buffer_size()

    def __getattr__(self, name):  # everything else, the transport's own
        return getattr(self._transport, name)


class _GuardedProtocol(HttpToolsProtocol):
    limits = None
    registry = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.phase = _HEAD
        self.since = self.loop.time()
        self.drop_reason = None  # why the server closed the connection
        self.lost = self.loop.create_future()  # done once the connection is gone
        self._timer = None
        self._stall_timer = None
        self._head_bytes = 0  # of the head being parsed: line and headers
        self._reading_head = False
        self._head_received = 0  # bytes received while a head is incomplete
        self._received = 0  # bytes since the connection opened or the last answer
        self._answered = False  # whether a request of it was answered
        self._refused = False

    # -- the connection ----------------------------------------------------

    @property
    def closing(self):
        return self.transport is None or self.transport.is_closing()

    @property
    def peer(self):
        return f"{self.client[0]}:{self.client[1]}" if self.client else "-"

    def connection_made(self, transport):
        super().connection_made(_CoalescedWrites(transport, self.loop))
        self._enter(_HEAD, self.limits.header_timeout)
        self.registry.add(self)

    def connection_lost(self, exc):
        super().connection_lost(exc)
        self._cancel_timers()
        self.registry.discard(self)
        if not self.lost.done():
            self.lost.set_result(self.drop_reason or "the client closed the connection")

    async def drained(self):
        """Return once what was written has gone to the kernel (or the
        connection is lost: a stalled write drops it after ``body_timeout``)."""
        if self.flow is not None and not self.closing:
            self.transport.flush()
            await self.flow.drain()

    def reading_body(self):
        """Start the body's clock: the application now reads the body, which
        must arrive within ``body_timeout``."""
        if self.phase == _BODY and self._timer is None and not self.closing:
            self._enter(_BODY, self.limits.body_timeout)

    def drop(self, reason):
        """Close the connection and log ``reason``, once."""
        if self.closing:
            return
        self.drop_reason = reason
        logger.info("%s dropped: %s", self.peer, reason)
        self.transport.close()

    def refuse(self, status, message):
        """Answer ``status`` with a JSON error and close, when no answer is
        being written on this connection; else just drop it."""
        if self.closing:
            return
        self._refused = True
        cycle = self.cycle
        if cycle is not None and cycle.response_started and not cycle.response_complete:
            self.drop(message)
            return
        body = json.dumps({"error": message}).encode()
        head = (
            f"HTTP/1.1 {status} {_PHRASES[status]}\r\n"
            "content-type: application/json\r\n"
            f"content-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        ).encode()
        self.drop_reason = f"{status} {message}"
        logger.info("%s refused: %s %s", self.peer, status, message)
        self.transport.write(head + body)
        self.transport.close()

    # -- timers ------------------------------------------------------------

    def _enter(self, phase, timeout):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.phase = phase
        self.since = self.loop.time()
        if timeout is not None:
            self._timer = self.loop.call_later(timeout, self._expire, phase)

    def _cancel_timers(self):
        for timer in (self._timer, self._stall_timer):
            if timer is not None:
                timer.cancel()
        self._timer = self._stall_timer = None

    def _expire(self, phase):
        self._timer = None
        if self.closing or phase != self.phase:
            return
        if phase == _HEAD:
            if self._answered and not self._received:
                self.transport.close()  # idle between requests: not an error
            else:
                self.refuse(
                    408,
                    "the request head did not arrive within "
                    f"{self.limits.header_timeout:g} s (--header-timeout)",
                )
        elif phase == _BODY:
            self.refuse(
                408,
                f"the request body did not arrive within "
                f"{self.limits.body_timeout:g} s (--body-timeout)",
            )

    def pause_writing(self):
        super().pause_writing()
        if self._stall_timer is None:
            self._stall_timer = self.loop.call_later(
                self.limits.body_timeout, self._stalled
            )

    def resume_writing(self):
        super().resume_writing()
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None

    def _stalled(self):
        self._stall_timer = None
        self.drop(
            f"the client did not read its answer for {self.limits.body_timeout:g} s "
            "(--body-timeout)"
        )

    # -- parsing -----------------------------------------------------------

    def data_received(self, data):
        if self._refused or self.closing:
            return
        self._unset_keepalive_if_required()
        self._received += len(data)
        try:
            self.parser.feed_data(data)
            if self._reading_head:
                # A header still incomplete: httptools holds it whole.
                self._head_received += len(data)
                if self._head_received > self.limits.max_header_bytes:
                    raise _HeadTooLarge
        except httptools.HttpParserUpgrade:
            pass  # no WebSocket here: the request is answered as plain HTTP
        except (httptools.HttpParserError, _HeadTooLarge) as exc:
            if isinstance(exc, _HeadTooLarge) or isinstance(
                exc.__context__, _HeadTooLarge
            ):
                self.refuse(
                    431,
                    f"the request head is larger than {self.limits.max_header_bytes} "
                    "bytes",
                )
            else:
                self.refuse(400, f"invalid HTTP request ({exc})")

    def _count_head(self, size):
        self._head_bytes += size
        if self._head_bytes > self.limits.max_header_bytes:
            raise _HeadTooLarge

    def on_message_begin(self):
        super().on_message_begin()
        self._head_bytes = 0
        self._reading_head = True
        self._head_received = 0

    def on_url(self, url):
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name, value):
        self._count_head(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self):
        self._reading_head = False
        if self._refused:
            return
        super().on_headers_complete()
        self.scope.setdefault("extensions", {})[EXTENSION] = self
        # The body's clock starts when the application reads it (see
        # reading_body): a request waiting for memory is the server's delay.
        self._enter(_BODY, None)

    def on_body(self, body):
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self):
        if self._refused:
            return
        super().on_message_complete()
        self._head_bytes = 0
        if self.cycle is not None and self.cycle.response_complete:
            # The rest of the body of a request answered without it (413,
            # 415...): discarded; the connection waits for its next request.
            self._received = 0
            return
        self._enter(_BUSY, None)

    def on_response_complete(self):
        super().on_response_complete()
        if self.closing:
            return
        self._answered = True
        self._received = 0
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a pipelined request has started: still busy
        self._head_bytes = 0
        self._enter(_HEAD, self.limits.header_timeout)


_PHRASES = {
    400: "Bad Request",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}
