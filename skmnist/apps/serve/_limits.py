"""What one server process accepts at once: its limits and its admission control.

:class:`Limits` holds every bound (its defaults are the command's). The
memory of the requests in flight is bounded by :class:`MemoryBudget`: each
request reserves what it may use before it uses it, in two pools, so that no
request ever waits while holding memory another one needs:

- the *body* pool, for the request bodies being read and held: a request
  reserves its ``Content-Length`` (the limit, when it is chunked) before
  reading a byte of it;
- the *work* pool, for decoding and predicting: reserved once the body is
  read, from its size and kind (and, for a picture, the pixel count its
  header declares), and held until the answer has been handed to the
  client's connection.

A request that does not fit waits, first come first served, up to
``queue_timeout`` seconds, then gets 503; one that could never fit gets 413
at once. So memory never grows past the bound, whatever clients send.
"""

import asyncio
import dataclasses
from collections import deque

__all__ = [
    "JSON_BYTES_PER_BODY_BYTE",
    "PICTURE_BYTES_PER_PIXEL",
    "Abandoned",
    "Limits",
    "MemoryBudget",
    "Overloaded",
    "TooLarge",
]

MiB = 1024 * 1024

# The most memory Python's json module takes per byte of body, measured on
# 4 MB bodies: 34 bytes for a body of empty lists ("[],[],..."), 27 for
# empty objects, 12 for numbers; with the arrays made from them.
JSON_BYTES_PER_BODY_BYTE = 40
# A picture decoded by Pillow and converted in float64 (several copies of
# its size) costs at most this per pixel the header declares.
PICTURE_BYTES_PER_PIXEL = 64
# What any request costs beyond its body (its scope, task, answer...).
REQUEST_OVERHEAD_BYTES = 64 * 1024


@dataclasses.dataclass(frozen=True)
class Limits:
    """The bounds of one server process (each worker has its own).

    Parameters
    ----------
    max_body_bytes : int, default=4194304
        Larger request bodies get 413, unread.
    max_image_pixels : int, default=4194304
        Pictures of more pixels (read from their header) get 413, undecoded.
    max_request_memory : int, default=536870912
        The memory the requests in flight may reserve at once: a quarter for
        their bodies, the rest for decoding and predicting.
    queue_timeout : float, default=10.0
        Seconds a request waits for memory before it gets 503.
    header_timeout : float, default=10.0
        Seconds a client has to send a request's head (its line and headers),
        from its connection or the previous answer; then it is dropped.
    body_timeout : float, default=30.0
        Seconds a client has to send a request's body once its head is in,
        and to take each answer (a write that stalls this long drops it).
    max_connections : int or None, default=None
        Open connections at most; at the limit a new connection closes the
        oldest idle or slow one. None: 1000, or fewer if the process may not
        open that many files.
    max_header_bytes : int, default=65536
        Larger request heads get 431.
    keep_alive_timeout : float, default=5.0
        Seconds an idle connection stays open between requests.
    """

    max_body_bytes: int = 4 * MiB
    max_image_pixels: int = 2048 * 2048
    max_request_memory: int = 512 * MiB
    queue_timeout: float = 10.0
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int | None = None
    max_header_bytes: int = 64 * 1024
    keep_alive_timeout: float = 5.0

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is None and field.name == "max_connections":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"{field.name} must be a number, got {value!r}")
            if not value > 0:
                raise ValueError(f"{field.name} must be positive, got {value!r}")
        if self.max_body_bytes > self.body_pool_bytes:
            raise ValueError(
                f"max_request_memory ({self.max_request_memory}) must be at least "
                f"4 times max_body_bytes ({self.max_body_bytes}): a quarter of it "
                "holds the bodies being read"
            )

    @property
    def body_pool_bytes(self):
        return self.max_request_memory // 4

    @property
    def work_pool_bytes(self):
        return self.max_request_memory - self.body_pool_bytes


class TooLarge(Exception):
    """A request that needs more memory than its pool holds."""


class Overloaded(Exception):
    """A request that waited ``queue_timeout`` seconds for memory."""


class Abandoned(Exception):
    """A request whose client left while it waited for memory."""


class Reservation:
    """Bytes held in a :class:`MemoryBudget`, given back by :meth:`release`."""

    __slots__ = ("_budget", "size")

    def __init__(self, budget, size):
        self._budget = budget
        self.size = size

    def shrink(self, size):
        """Keep only ``size`` bytes of the reservation."""
        if size < self.size:
            self._budget._give_back(self.size - size)
            self.size = size

    def release(self):
        self.shrink(0)


class MemoryBudget:
    """A pool of bytes that requests reserve, first come first served.

    Parameters
    ----------
    total : int
        The bytes of the pool.
    what : str
        What the pool holds, for messages ("request bodies"...).

    Examples
    --------
    >>> import asyncio
    >>> from skmnist.apps.serve._limits import MemoryBudget, Overloaded
    >>> async def demo():
    ...     budget = MemoryBudget(100, "work")
    ...     first = await budget.reserve(80, timeout=1)
    ...     try:
    ...         await budget.reserve(30, timeout=0.01)
    ...     except Overloaded:
    ...         print("waited, then refused")
    ...     first.release()
    ...     second = await budget.reserve(30, timeout=1)
    ...     return budget.free
    >>> asyncio.run(demo())
    waited, then refused
    70
    """

    def __init__(self, total, what):
        self.total = total
        self.free = total
        self.what = what
        self._waiting = deque()  # [size, future], in order of arrival

    async def reserve(self, size, *, timeout, gone=None):
        """Reserve ``size`` bytes, waiting up to ``timeout`` seconds.

        ``gone``, a future, ends the wait when the client leaves: then
        :class:`Abandoned` is raised, with the future's result (a reason).
        """
        if size > self.total:
            raise TooLarge(
                f"the request needs {size} bytes of {self.what}, more than this "
                f"server's {self.total} (--max-request-memory)"
            )
        if not self._waiting and size <= self.free:
            self.free -= size
            return Reservation(self, size)
        future = asyncio.get_running_loop().create_future()
        entry = [size, future]
        self._waiting.append(entry)
        waits = [future] if gone is None else [future, gone]
        try:
            done, _ = await asyncio.wait(
                waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        except BaseException:
            self._abandon(entry)
            raise
        if future in done:
            return Reservation(self, size)
        self._abandon(entry)
        if gone is not None and gone in done:
            raise Abandoned(None if gone.cancelled() else gone.result())
        raise Overloaded(
            f"the server is busy: no room for this request's {self.what} within "
            f"{timeout:g} s; try again"
        )

    def _abandon(self, entry):
        size, future = entry
        if future.done() and not future.cancelled():
            self._give_back(size)  # granted just as the wait ended
            return
        future.cancel()
        try:
            self._waiting.remove(entry)
        except ValueError:
            pass
        self._grant()  # a large request that left may unblock smaller ones

    def _give_back(self, size):
        self.free += size
        self._grant()

    def _grant(self):
        while self._waiting and self._waiting[0][0] <= self.free:
            size, future = self._waiting.popleft()
            if future.done():
                continue
            self.free -= size
            future.set_result(None)
