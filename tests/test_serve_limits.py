"""``skmnist serve`` against hostile clients: the real server process, on
127.0.0.1, with short timeouts and small memory limits so that every loop
here is short and bounded.

One server serves the whole module, started as a process that may open at
most 1,024 files (so that its connection limit is 448: it keeps 576 free
for bursts of new connections and its own files): slow clients
(request heads and bodies sent a byte at a time, answers never read), more
connections than it may open files, clients that leave mid-body or before
their answer, bodies that would take more memory than it may use, numbers
out of range, pictures of other formats. It must answer ``/health``
throughout, refuse each with a 4xx or 503 JSON answer or drop the client, log
one line for each, compute nothing for clients that have gone, stay within
its memory bound, and never log a traceback.
"""

import asyncio
import io
import json
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from _server import raise_file_limit, serving
from PIL import Image

from skmnist.apps.serve._connections import ConnectionRegistry, _CoalescedWrites

HEADER_TIMEOUT = 1.5
BODY_TIMEOUT = 2.0
QUEUE_TIMEOUT = 2.0
MAX_BODY = 1024 * 1024
MEMORY = 64 * 1024 * 1024  # 16 MiB for bodies, 48 MiB for the work
FILES = 1024
SLOW_CLIENTS = 1100  # more than the server may open files
MODEL_NAME = "tiny"


@pytest.fixture(scope="module")
def server(serve_model_path, tmp_path_factory):
    limits = raise_file_limit(4 * SLOW_CLIENTS)
    log = tmp_path_factory.mktemp("limits") / "serve.log"
    try:
        with serving(
            serve_model_path,
            "--header-timeout",
            HEADER_TIMEOUT,
            "--body-timeout",
            BODY_TIMEOUT,
            "--queue-timeout",
            QUEUE_TIMEOUT,
            "--max-body-bytes",
            MAX_BODY,
            "--max-request-memory",
            MEMORY,
            log_path=log,
            files=FILES,
        ) as server:
            yield server
    finally:
        import resource

        resource.setrlimit(resource.RLIMIT_NOFILE, limits)


def _memory(pid):
    """``(VmRSS, VmHWM)`` of a process, in bytes (Linux)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) * 1024
    return fields["VmRSS"], fields["VmHWM"]


def _health_ms(server, timeout=5.0):
    start = time.perf_counter()
    status, _, answer = server.request("GET", "/health", timeout=timeout)
    assert (status, answer) == (200, {"status": "ok"})
    return (time.perf_counter() - start) * 1e3


def _connect(server):
    return socket.create_connection((server.host, server.port), timeout=10)


def _closed(sock, received=None):
    """Whether the server has closed ``sock`` (reading it does not block);
    what it sent is added to ``received``."""
    sock.setblocking(False)
    try:
        while True:
            data = sock.recv(65536)
            if received is not None:
                received += data
            if not data:
                return True
    except BlockingIOError:
        return False
    except OSError:  # reset
        return True
    finally:
        sock.setblocking(True)


def _response(sock, timeout=10):
    """Everything the server sends until it closes the connection."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def _wait_for_log(server, predicate, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        lines = server.request_lines()
        if predicate(lines):
            return lines
        time.sleep(0.1)
    return server.request_lines()


def _json_body(images):
    return json.dumps({"pixels": np.asarray(images).tolist()}).encode()


def _head(path, length, kind="application/json"):
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {kind}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


# -- slow clients, and more of them than files ----------------------------------


def test_slow_request_heads_are_dropped_and_health_answers(server):
    """1,100 clients sending their request head a byte at a time, more than
    the server may open files: it keeps answering /health (closing the oldest
    slow connection for each new one past its limit), and drops every slow
    client once the header timeout has passed."""
    head = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 500
    slow = [_connect(server) for _ in range(SLOW_CLIENTS)]
    start = time.monotonic()
    health, position = [], 0
    try:
        while time.monotonic() - start < HEADER_TIMEOUT + 2.5:
            for sock in slow:
                try:
                    sock.send(head[position : position + 1])
                except OSError:
                    pass  # closed by the server
            position += 1
            health.append(_health_ms(server))
            time.sleep(0.25)
        closed = [_closed(sock) for sock in slow]
    finally:
        for sock in slow:
            sock.close()
    # /health answered throughout (each within the 5 s it is given; the first,
    # while 1,100 connections arrive, may wait for them to be accepted).
    assert len(health) >= 5
    assert np.median(health) < 500, health
    assert all(closed), f"{closed.count(False)} slow clients still connected"
    log = server.log()
    # Those past the connection limit closed older ones; the others waited
    # out the header timeout and got a 408: one line each.
    assert "accepts up to 448 connections" in log
    evicted = log.count("(--max-connections): closed this one")
    timed_out = log.count("refused: 408 the request head did not arrive")
    assert evicted >= 1
    assert evicted + timed_out >= SLOW_CLIENTS


def test_slow_body_is_dropped(server):
    sock = _connect(server)
    response = bytearray()
    try:
        sock.sendall(_head("/predict", 100_000))
        start = time.monotonic()
        while time.monotonic() - start < BODY_TIMEOUT + 2:
            if _closed(sock, response):
                break
            try:
                sock.send(b"[")
            except OSError:
                break
            time.sleep(0.2)
        elapsed = time.monotonic() - start
        response += _response(sock)
    finally:
        sock.close()
    assert elapsed < BODY_TIMEOUT + 1.5
    assert response.startswith(b"HTTP/1.1 408 ")
    assert b"the request body did not arrive within 2 s" in response
    lines = _wait_for_log(
        server, lambda lines: any(line["status"] == "408" for line in lines)
    )
    (line,) = [line for line in lines if line["status"] == "408"]
    assert line["path"] == "/predict"
    assert "did not arrive" in line["note"]
    _health_ms(server)


def test_unread_answers_drop_the_client(server):
    """A client that sends requests but never reads the answers is dropped
    once its answers have stalled for the body timeout."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((server.host, server.port))
    request = b"GET /static/app.js HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    try:
        # About 16 MB of answers, none read: more than the kernel's buffers.
        sock.sendall(request * 2000)
        lines = _wait_for_log(
            server,
            lambda _: "did not read its answer for 2 s" in server.log(),
            seconds=BODY_TIMEOUT + 6,
        )
        assert "did not read its answer for 2 s" in server.log(), lines[-3:]
    finally:
        sock.close()
    _health_ms(server)


# -- clients that leave ----------------------------------------------------------


def test_clients_leaving_mid_body_are_one_line_each(server):
    before = len(server.request_lines())
    body = _json_body(np.zeros((30, 28, 28), dtype=int))
    for _ in range(10):
        sock = _connect(server)
        sock.sendall(_head("/predict", len(body)) + body[: len(body) // 2])
        sock.close()

    def posts(lines):
        return [line for line in lines[before:] if line["method"] == "POST"]

    lines = posts(_wait_for_log(server, lambda lines: len(posts(lines)) >= 10))
    assert len(lines) == 10
    assert {line["status"] for line in lines} == {"499"}
    assert {line["note"] for line in lines} == {
        "the client left while sending its body"
    }
    _health_ms(server)


def test_gone_clients_are_not_computed(server, mnist):
    """200 clients each send a batch of 20 digits and close at once: their
    work is dropped, not computed (the model's inference count barely moves),
    and each is one log line."""
    _, (X_test, _) = mnist
    body = _json_body(X_test[:20])
    request = _head("/predict", len(body)) + body
    before = server.stats(MODEL_NAME)["inference_count"]
    logged = len(server.request_lines())
    sockets = []
    for _ in range(200):
        sock = _connect(server)
        sock.sendall(request)
        sock.shutdown(socket.SHUT_RDWR)
        sockets.append(sock)
    for sock in sockets:
        sock.close()
    lines = _wait_for_log(server, lambda lines: len(lines) >= logged + 200)[logged:]
    computed = server.stats(MODEL_NAME)["inference_count"] - before
    gone = [line for line in lines if line["status"] == "499"]
    # All 4,000 images would be computed if the server did not check; it
    # may have started on a few before it saw their clients close.
    assert computed <= 400, computed
    assert len(gone) >= 180
    # The server still computes for those that stay.
    status, _, answer = server.predict(body)
    assert status == 200 and len(answer["predictions"]) == 20


# -- memory ---------------------------------------------------------------------


def test_memory_of_requests_in_flight_is_bounded(server):
    """60 concurrent bodies of the largest size, of integers: without a bound
    they take about 12 bytes of memory per byte of body each (over 700 MB);
    with it the server's peak stays within its limit (64 MiB) and the
    requests that do not fit in time get 503, never 500."""
    body = b'{"pixels": [' + b"0," * ((MAX_BODY - 20) // 2) + b"0]}"
    assert len(body) <= MAX_BODY
    request = _head("/predict", len(body)) + body
    rss_before, _ = _memory(server.process.pid)
    statuses, answers = [], []

    def send():
        try:
            sock = _connect(server)
            sock.sendall(request)
            response = _response(sock, timeout=60)
            sock.close()
        except OSError as exc:
            statuses.append(type(exc).__name__)
            return
        statuses.append(int(response[9:12]))
        answers.append(response)

    threads = [threading.Thread(target=send) for _ in range(60)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    _, peak = _memory(server.process.pid)
    assert not any(thread.is_alive() for thread in threads)
    assert set(statuses) <= {422, 503}, statuses  # flat: 422 once parsed
    assert statuses.count(422) >= 1
    for response in answers:
        if response[9:12] == b"503":
            assert b"retry-after: 1" in response.lower()
            assert b"the server is busy" in response
    growth = peak - rss_before
    assert growth < MEMORY + 40 * 1024 * 1024, growth / 2**20
    _health_ms(server)


def test_a_request_larger_than_the_memory_limit_gets_413(server):
    """A body whose decoding could need more than the whole work pool is
    refused at once, not queued forever."""
    # 1 MiB of JSON reserves 40 MiB: fits in 48 MiB. A picture of 2048x2048
    # pixels reserves 256 MiB: never fits.
    image = np.zeros((2048, 2048), dtype=np.uint8)
    image[500:1500, 900:1100] = 255
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    status, headers, answer = server.predict(buffer.getvalue(), "image/png")
    assert status == 413
    assert {k.lower(): v for k, v in headers.items()}["connection"] == "close"
    assert "more than this server's" in answer["error"]
    assert "--max-request-memory" in answer["error"]


# -- malformed requests ---------------------------------------------------------


ZEROS = json.dumps({"pixels": [[0] * 28] * 28}).encode()


@pytest.mark.parametrize(
    ("number", "message"),
    [
        (b"9" * 5000, "a number out of any range"),
        (b"1e999", "got values from 0 to inf"),
        (b"-1e400", "got values from -inf to 0"),
        (b"1" + b"0" * 400, "an integer too large for a float"),
        (b"%d" % 2**64, "got values from 0 to 1844674407"),
        (b"256", "got values from 0 to 256"),
        (b"true", "numbers only"),
    ],
)
def test_numbers_out_of_range_however_written(server, number, message):
    body = ZEROS.replace(b"[[0,", b"[[" + number + b",", 1)
    status, _, answer = server.predict(body)
    assert status == 422
    assert message in answer["error"]


def _picture(format_):
    image = np.zeros((28, 28), dtype=np.uint8)
    image[4:24, 12:16] = 255
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=format_)
    return buffer.getvalue()


@pytest.mark.parametrize("format_", ["GIF", "TIFF", "BMP", "ICO", "WEBP"])
def test_only_png_and_jpeg_pictures_are_decoded(server, format_):
    for kind in ("image/png", "image/jpeg"):
        status, _, answer = server.predict(_picture(format_), kind)
        assert status == 415
        assert "only PNG and JPEG" in answer["error"]
    status, _, answer = server.predict(_picture("JPEG"), "image/png")
    assert status == 200 and len(answer["image"]) == 28


def test_oversized_and_invalid_heads(server):
    sock = _connect(server)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000)
    response = _response(sock)
    sock.close()
    assert response.startswith(b"HTTP/1.1 431 ")
    assert b"larger than 65536 bytes" in response
    sock = _connect(server)
    sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
    response = _response(sock)
    sock.close()
    assert response.startswith(b"HTTP/1.1 400 ")
    assert b'"error"' in response
    _health_ms(server)


def test_log_has_one_line_per_refusal_and_no_traceback(server):
    """Last in this module: everything above was logged, none of it as a
    traceback."""
    log = server.log()
    assert "Traceback" not in log
    assert "Exception" not in log
    assert log.count("refused: 431") == 1
    assert log.count("refused: 400 invalid HTTP request") == 1


# -- the connection limit's choice, without a server ----------------------------


class _FakeConnection:
    def __init__(self, loop, phase, since):
        self.loop, self.phase, self.since = loop, phase, since
        self.closing = False
        self.outcome = None

    def drop(self, reason):
        self.outcome = ("dropped", reason)
        self.closing = True

    def refuse(self, status, message):
        self.outcome = (status, message)
        self.closing = True


class _Clock:
    @staticmethod
    def time():
        return 100.0


def test_the_connection_limit_closes_the_oldest_idle_then_slow_one():
    registry = ConnectionRegistry(3)
    busy = _FakeConnection(_Clock, "busy", 1)
    body = _FakeConnection(_Clock, "body", 2)
    idle = _FakeConnection(_Clock, "head", 5)
    for connection in (busy, body, idle):
        registry.add(connection)
    assert len(registry) == 3 and not any(c.outcome for c in (busy, body, idle))
    registry.add(_FakeConnection(_Clock, "head", 9))
    assert idle.outcome[0] == "dropped" and "for 95.0 s" in idle.outcome[1]
    registry.discard(idle)
    registry.add(_FakeConnection(_Clock, "head", 10))
    # Of the ones left, the oldest head beats the body; the busy one stays.
    assert busy.outcome is None and body.outcome is None
    registry.discard(next(c for c in list(registry._open) if c.closing))
    full = ConnectionRegistry(1)
    full.add(_FakeConnection(_Clock, "busy", 1))
    newcomer = _FakeConnection(_Clock, "head", 2)
    full.add(newcomer)
    assert newcomer.outcome[0] == 503


# -- an answer's writes, without a server ------------------------------------------


class _RecordingTransport:
    def __init__(self):
        self.written, self.closed = [], False

    def write(self, data):
        self.written.append(data)

    def is_closing(self):
        return self.closed

    def close(self):
        self.closed = True

    def get_write_buffer_size(self):
        return 0

    def get_extra_info(self, name):
        return f"info {name}"


def test_an_answers_head_and_body_leave_in_one_write():
    # uvicorn writes the head and the body of an answer separately: two
    # system calls, where one turn of the event loop's writes make one.
    async def scenario():
        transport = _RecordingTransport()
        writes = _CoalescedWrites(transport, asyncio.get_running_loop())
        writes.write(b"HTTP/1.1 200 OK\r\n\r\n")
        writes.write(b'{"label": 7}')
        assert transport.written == []
        assert writes.get_write_buffer_size() == 31
        await asyncio.sleep(0)
        assert transport.written == [b'HTTP/1.1 200 OK\r\n\r\n{"label": 7}']
        # What is pending goes out before a close, and when flushed (the
        # application waits for its answer to be sent).
        writes.write(b"a")
        writes.flush()
        writes.write(b"b")
        writes.close()
        assert transport.written[1:] == [b"a", b"b"] and transport.closed
        await asyncio.sleep(0)  # the flushes scheduled find nothing left
        assert len(transport.written) == 3
        # Once closing, a write goes straight to the transport (which
        # discards it), as without the coalescing; the rest is the transport's.
        writes.write(b"late")
        assert transport.written[-1] == b"late"
        assert writes.get_extra_info("peername") == "info peername"

    asyncio.run(scenario())
