"""Running ``skmnist serve``: one process, or several sharing one socket.

:func:`run_server` binds the socket, then either serves the application in
this process (one worker) or starts ``workers`` processes that each load the
model, build their own application and accept connections on the same
socket: the kernel hands each new connection to one of them, so throughput
grows with the cores. This process then only supervises: it forwards SIGINT
and SIGTERM, and starts a new worker when one dies. A worker whose parent
dies stops too.
"""

import ipaddress
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time

import uvicorn

from .._model_input import is_pickle_path, load_model
from ._app import DEFAULT_MAX_BATCH_IMAGES, create_app
from ._connections import ConnectionRegistry, guarded_protocol
from ._limits import Limits

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "run_from_arguments",
    "run_server",
    "worker_main",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
GRACEFUL_SHUTDOWN_SECONDS = 10
WORKER_START_SECONDS = 180
DEFAULT_MAX_CONNECTIONS = 1000
# The kernel's queue of connections not yet accepted, and how many the event
# loop accepts at once: connections beyond the limit are closed one turn of
# the loop later, so a burst may hold twice this many descriptors over it.
ACCEPT_BATCH = 256
# Files a server process keeps open besides its connections (the socket,
# the event loop's, the log...), kept free under the descriptor limit.
_SPARE_FILES = 64 + 2 * ACCEPT_BATCH
# The descriptor limit a server raises its own to, when the system allows.
_WANTED_FILES = 65536
# Pillow reads a PNG's text chunks up to 64 MB by default; the server needs none.
_PNG_TEXT_BYTES = 1024 * 1024

logger = logging.getLogger("skmnist.serve")


def _bind(host, port):
    """A listening TCP socket on ``host``:``port`` (0: a free port)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(ACCEPT_BATCH)
    except OSError:
        sock.close()
        raise
    return sock


def _url(sock):
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def _is_loopback(sock):
    return ipaddress.ip_address(sock.getsockname()[0].split("%")[0]).is_loopback


def _configure_logging():
    # A line per request: skip what logging would look up for each and this
    # server never shows (the caller's file and line, thread names), as the
    # logging HOWTO's "Optimization" section describes.
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler()
    handler.setFormatter(_Formatter("%(asctime)s [%(process)d] %(message)s"))
    for name in ("skmnist.serve", "uvicorn.error"):
        log = logging.getLogger(name)
        log.handlers[:] = [handler]
        log.setLevel(logging.INFO)
        log.propagate = False
    # asyncio's own complaints (an accept that ran out of descriptors...),
    # on one line each: what a client can cause logs no traceback.
    asyncio_log = logging.getLogger("asyncio")
    asyncio_log.handlers[:] = [handler]
    asyncio_log.propagate = False
    asyncio_log.filters[:] = [_one_line]


class _Formatter(logging.Formatter):
    """Log lines stamped to the second, the stamp made once a second (a line
    per request: strftime for each would be a noticeable part of its cost)."""

    _second, _stamp = None, ""

    def formatTime(self, record, datefmt=None):
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        return self._stamp


def _one_line(record):
    if record.exc_info and record.exc_info[1] is not None:
        error = record.exc_info[1]
        record.msg = f"{record.getMessage().splitlines()[0]}: {error}"
        record.args = None
        record.exc_info = record.exc_text = None
    return True


def _raise_file_limit():
    """Raise this process's soft descriptor limit toward its hard one: each
    connection holds a descriptor, and the usual soft limit is 1024."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = (
        _WANTED_FILES if hard == resource.RLIM_INFINITY else min(hard, _WANTED_FILES)
    )
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (OSError, ValueError):
            pass


def _limit_png_text():
    try:
        from PIL import PngImagePlugin
    except ImportError:
        return
    PngImagePlugin.MAX_TEXT_CHUNK = _PNG_TEXT_BYTES
    PngImagePlugin.MAX_TEXT_MEMORY = _PNG_TEXT_BYTES


def default_connection_limit():
    """1000 connections, or as many as the descriptor limit leaves room for
    (a burst of new connections holds more descriptors than connections)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return DEFAULT_MAX_CONNECTIONS
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return DEFAULT_MAX_CONNECTIONS
    return max(16, min(DEFAULT_MAX_CONNECTIONS, soft - _SPARE_FILES))


def _limit_blas_threads():
    """BLAS on one thread per server process: batches of a few images gain
    nothing from more, and idle BLAS threads spin on the cores the event loop
    and the other workers need."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn depends on it
        return None
    return threadpool_limits(limits=1, user_api="blas")


def _uvicorn_server(app, limits):
    _raise_file_limit()
    registry = ConnectionRegistry(limits.max_connections or default_connection_limit())
    config = uvicorn.Config(
        app,
        http=guarded_protocol(limits, registry),
        ws="none",
        lifespan="off",
        log_config=None,  # the loggers set up above
        access_log=False,  # the application logs each request itself
        timeout_keep_alive=limits.keep_alive_timeout,
        backlog=ACCEPT_BATCH,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    return uvicorn.Server(config), registry


def _serve(app, sock, limits):
    """Serve ``app`` on ``sock`` until SIGINT or SIGTERM; the signal's name."""
    server, registry = _uvicorn_server(app, limits)
    blas = _limit_blas_threads()  # noqa: F841 - in force while it lives
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
    logger.info(
        "skmnist serve: this process accepts up to %d connections", registry.limit
    )
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return signal.Signals(received[0]).name if received else "shutdown"


def run_server(
    model,
    *,
    host=DEFAULT_HOST,
    port=DEFAULT_PORT,
    limits=None,
    max_body_bytes=None,
    max_image_pixels=None,
    name=None,
    model_name=None,
    max_batch_images=DEFAULT_MAX_BATCH_IMAGES,
    workers=1,
    model_path=None,
    trust_pickle=False,
):
    """Serve ``model`` over HTTP until Ctrl-C or SIGTERM; return 0.

    Parameters
    ----------
    model : classifier or Pipeline
        The fitted model, as for :func:`~skmnist.apps.serve.create_app`.

    host : str, default="127.0.0.1"
        The address to listen on; the default answers this machine only.

    port : int, default=8000
        The TCP port; 0 picks a free one (the log says which).

    limits, max_body_bytes, max_image_pixels, name, model_name, max_batch_images
        As for :func:`~skmnist.apps.serve.create_app`; here ``limits`` also
        bounds the connections (their timeouts and number).

    workers : int, default=1
        Server processes. With more than one, each loads the model from
        ``model_path`` and serves on the same socket, with its own limits.

    model_path : str or path-like, default=None
        The model's file, for the workers (needed when ``workers > 1``).

    trust_pickle : bool, default=False
        Whether the workers may load ``model_path`` if it is a pickle.

    Returns
    -------
    status : int
        0, once the server has stopped on a signal.

    Examples
    --------
    From a shell (the browser then opens ``http://127.0.0.1:8000/``)::

        skmnist serve --model mnist_mlp.skmnist --workers 2

    >>> from skmnist.apps.serve import run_server
    >>> callable(run_server)
    True
    """
    if workers < 1:
        raise ValueError(f"workers must be positive, got {workers}")
    if workers > 1 and model_path is None:
        raise ValueError("serving with several workers needs model_path")
    limits = limits if limits is not None else Limits()
    options = {
        "limits": limits,
        "max_body_bytes": max_body_bytes,
        "max_image_pixels": max_image_pixels,
        "name": name,
        "model_name": model_name,
        "max_batch_images": max_batch_images,
    }
    _limit_png_text()
    app = create_app(model, **options)  # refuses a model it cannot serve
    limits = app.state.skmnist.limits
    model_name = app.state.skmnist.model_name
    _configure_logging()
    sock = _bind(host, port)
    try:
        if workers == 1:
            _announce(name, sock, host)
            how = _serve(app, sock, limits)
        else:
            del app, model  # each worker loads its own copy
            worker_config = {
                "model_path": os.fspath(model_path),
                "trust_pickle": trust_pickle,
                "limits": _limits_dict(limits),
                "name": name,
                "model_name": model_name,
                "max_batch_images": max_batch_images,
                "threads": max(1, (os.cpu_count() or 1) // workers),
            }
            how = _Supervisor(sock, worker_config, workers, name, host).run()
    finally:
        sock.close()
    logger.info("skmnist serve: stopped (%s)", how)
    return 0


def run_from_arguments(args, model):
    """``skmnist serve``: serve ``model``, loaded from ``args.model``, as the
    parsed options say."""
    from pathlib import Path

    from ._options import limits_of

    return run_server(
        model,
        host=args.host,
        port=args.port,
        limits=Limits(**limits_of(args)),
        name=Path(args.model).name,
        model_name=args.model_name,
        max_batch_images=args.max_batch_images,
        workers=args.workers,
        model_path=args.model,
        trust_pickle=args.trust_pickle,
    )


def _limits_dict(limits):
    import dataclasses

    return dataclasses.asdict(limits)


def _announce(name, sock, host):
    logger.info(
        "skmnist serve: %s on %s (Ctrl-C to stop)", name or "the model", _url(sock)
    )
    if not _is_loopback(sock):
        logger.warning(
            "skmnist serve: listening beyond this machine (%s): anyone who can "
            "reach it can use the model; there is no authentication",
            host,
        )


# -- several workers ----------------------------------------------------------


class _Supervisor:
    """Start the workers, wait for them, restart those that die."""

    def __init__(self, sock, config, workers, name, host):
        self.sock = sock
        self.config = config
        self.count = workers
        self.name = name
        self.host = host
        self.stopping = None
        self.workers = [None] * workers
        self.started = [0.0] * workers
        # The workers' end of this pipe reads EOF when this process is gone.
        self.lifeline_read, self.lifeline_write = os.pipe()

    def _spawn(self, index, ready_write=None):
        config = dict(
            self.config,
            index=index,
            fd=self.sock.fileno(),
            lifeline=self.lifeline_read,
            ready=ready_write,
        )
        env = dict(os.environ)
        threads = str(config["threads"])
        for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(variable, threads)
        fds = [self.sock.fileno(), self.lifeline_read]
        if ready_write is not None:
            fds.append(ready_write)
        self.workers[index] = subprocess.Popen(
            [sys.executable, "-m", "skmnist.apps.serve._worker", json.dumps(config)],
            stdin=subprocess.DEVNULL,
            pass_fds=fds,
            env=env,
        )
        self.started[index] = time.monotonic()

    def _on_signal(self, number, frame):
        if self.stopping is None:
            self.stopping = signal.Signals(number).name
        for worker in self.workers:
            if worker is not None and worker.poll() is None:
                try:
                    worker.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass

    def run(self):
        previous = {
            sig: signal.signal(sig, self._on_signal)
            for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            if self._start_all():
                _announce(self.name, self.sock, self.host)
                logger.info(
                    "skmnist serve: %d workers, processes %s",
                    self.count,
                    ", ".join(str(w.pid) for w in self.workers),
                )
                self._supervise()
            self._stop_all()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.close(self.lifeline_read)
            os.close(self.lifeline_write)
        if self.stopping is None:
            raise ValueError("a worker failed to start (its error is above)")
        return self.stopping

    def _start_all(self):
        pending = {}
        for index in range(self.count):
            ready_read, ready_write = os.pipe()
            self._spawn(index, ready_write)
            os.close(ready_write)
            pending[ready_read] = index
        deadline = time.monotonic() + WORKER_START_SECONDS
        try:
            while pending and self.stopping is None:
                if time.monotonic() > deadline:
                    logger.error("skmnist serve: the workers did not start in time")
                    return False
                readable, _, _ = select.select(list(pending), [], [], 0.2)
                for fd in readable:
                    if os.read(fd, 1) != b"1":
                        # End of file: the worker closed its end without
                        # saying it is ready, so it is exiting (checking
                        # its status instead would spin on the readable
                        # pipe until it is reaped).
                        return False
                    os.close(fd)
                    del pending[fd]
                for index in pending.values():
                    if self.workers[index].poll() is not None:
                        return False  # it exited before it was ready
            return self.stopping is None
        finally:
            for fd in pending:
                os.close(fd)

    def _supervise(self):
        while self.stopping is None:
            time.sleep(0.2)
            for index, worker in enumerate(self.workers):
                if self.stopping is not None or worker.poll() is None:
                    continue
                logger.warning(
                    "skmnist serve: worker %d (process %d) exited with status %s; "
                    "starting another",
                    index,
                    worker.pid,
                    worker.returncode,
                )
                if time.monotonic() - self.started[index] < 5:
                    time.sleep(1)  # one that dies at once: not in a tight loop
                self._spawn(index)

    def _stop_all(self):
        if self.stopping is None:  # a failed start: stop those that did start
            self._on_signal(signal.SIGTERM, None)
            self.stopping = None
        deadline = time.monotonic() + GRACEFUL_SHUTDOWN_SECONDS + 5
        for worker in self.workers:
            if worker is None:
                continue
            try:
                worker.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


def _watch_parent(lifeline):
    """Stop this worker (as SIGTERM would) when its parent is gone."""
    while True:
        try:
            data = os.read(lifeline, 1)
        except InterruptedError:
            continue
        except OSError:
            data = b""
        if not data:
            os.kill(os.getpid(), signal.SIGTERM)
            return


def worker_main(argv):
    """The entry point of one worker process; its exit status."""
    config = json.loads(argv[0])
    _configure_logging()
    _limit_png_text()
    sock = socket.socket(fileno=config["fd"])
    path = config["model_path"]
    try:
        if is_pickle_path(path) and not config["trust_pickle"]:
            raise ValueError(f"{path} is a joblib/pickle file: it needs --trust-pickle")
        app = create_app(
            load_model(path),
            limits=Limits(**config["limits"]),
            name=config["name"],
            model_name=config["model_name"],
            max_batch_images=config["max_batch_images"],
        )
    except (OSError, ValueError, ImportError, MemoryError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(
            f"skmnist serve: error: worker {config['index']}: {message}",
            file=sys.stderr,
        )
        return 1
    if config["ready"] is not None:
        os.write(config["ready"], b"1")
        os.close(config["ready"])
    threading.Thread(
        target=_watch_parent, args=(config["lifeline"],), daemon=True
    ).start()
    _serve(app, sock, app.state.skmnist.limits)
    return 0
