"""Run ``skmnist serve`` in a subprocess, for the server, browser and load tests.

The server listens on a free loopback port (``--port 0``) and logs to a file;
:func:`serving` waits until it answers ``GET /health`` and stops it with
SIGTERM afterwards. :func:`label_model_path` trains, once per test session,
the small models of other label types that the label and browser tests serve.
"""

import http.client
import json
import re
import resource
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

URL = re.compile(r" on (http://\S+/) \(Ctrl-C to stop\)")
# One line per request: 'CLIENT "METHOD PATH" STATUS N.N ms', and for a
# client that left or was dropped, '(why)' after.
REQUEST_LINE = re.compile(
    r'(?P<client>\S+) "(?P<method>[A-Z]+) (?P<path>\S+)" '
    r"(?P<status>\d{3}) (?P<ms>[0-9.]+) ms(?: \((?P<note>.*)\))?$"
)
START_TIMEOUT = 120
# Labels that are also JavaScript property names (the page must not find
# Object.prototype's), one per digit.
JS_NAMES = (
    "constructor",
    "__proto__",
    "toString",
    "valueOf",
    "hasOwnProperty",
    "isPrototypeOf",
    "propertyIsEnumerable",
    "toLocaleString",
    "__defineGetter__",
    "length",
)


class Server:
    """A running ``skmnist serve`` process."""

    def __init__(self, process, log_path):
        self.process = process
        self.log_path = Path(log_path)
        self.url = None

    @property
    def host(self):
        return urlsplit(self.url).hostname

    @property
    def port(self):
        return urlsplit(self.url).port

    def log(self):
        return self.log_path.read_text(errors="replace")

    def request_lines(self):
        """The per-request log lines, parsed."""
        found = []
        for line in self.log().splitlines():
            match = REQUEST_LINE.search(line)
            if match:
                found.append(match.groupdict())
        return found

    def connection(self, timeout=30):
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=30):
        """``(status, headers, parsed JSON or bytes)`` of one request."""
        connection = self.connection(timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        if response.getheader("Content-Type", "").startswith("application/json"):
            data = json.loads(data)
        return response.status, dict(response.getheaders()), data

    def predict(self, body, content_type="application/json"):
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        return self.request("POST", "/predict", body, {"Content-Type": content_type})

    def stats(self, model_name):
        """The V2 statistics of the model (one process's)."""
        status, _, answer = self.request("GET", f"/v2/models/{model_name}/stats")
        assert status == 200, answer
        return answer["model_stats"][0]

    def children(self):
        """The worker processes' ids (Linux)."""
        pid = self.process.pid
        path = Path(f"/proc/{pid}/task/{pid}/children")
        return [int(p) for p in path.read_text().split()] if path.exists() else []

    def stop(self, sig=signal.SIGTERM, timeout=60):
        """Send ``sig``; return the exit status once the process has ended."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)


def _file_limit(files):
    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))

    return limit


def start(model_path, *args, log_path, files=None):
    """Start the server; return a :class:`Server` once it answers.

    ``files``: the server process may open at most this many files.
    """
    command = [
        sys.executable,
        "-m",
        "skmnist",
        "serve",
        "--model",
        str(model_path),
        "--port",
        "0",
        *map(str, args),
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_file_limit(files) if files else None,
        )
    server = Server(process, log_path)
    deadline = time.monotonic() + START_TIMEOUT
    while server.url is None:
        if process.poll() is not None:
            raise RuntimeError(
                f"skmnist serve exited ({process.returncode}):\n" + server.log()
            )
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise RuntimeError("skmnist serve did not start:\n" + server.log())
        match = URL.search(server.log())
        if match:
            server.url = match.group(1)
        else:
            time.sleep(0.05)
    while True:
        try:
            status, _, _ = server.request("GET", "/health")
            if status == 200:
                return server
        except OSError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            server.stop()
            raise RuntimeError("skmnist serve does not answer:\n" + server.log())
        time.sleep(0.05)


@contextmanager
def serving(model_path, *args, log_path, files=None):
    """:func:`start` the server, and stop it (SIGTERM) on leaving."""
    server = start(model_path, *args, log_path=log_path, files=files)
    try:
        yield server
    finally:
        try:
            server.stop()
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
            raise


def raise_file_limit(files):
    """Let this process open ``files`` files (for tests that open many
    sockets); returns the limits to restore."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < files:
        raise RuntimeError(f"this test opens {files} files; the limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, files), hard))
    return soft, hard


def label_model_path(kind, mnist, tmp_path_factory):
    """A small pipeline of ``kind`` labels, trained on real MNIST digits once
    per session and saved with ``skmnist.save``.

    ``float``: the digits as 0.0 ... 9.0; ``even``: whether the digit is even
    (booleans); ``names``: a JavaScript property name per digit
    (:data:`JS_NAMES`); ``bytes``: those names as bytes (scikit-learn fits no
    bytes labels: the names model with its classes encoded, as a crafted
    file would have them).
    """
    import skmnist
    from skmnist import make_mnist_pipeline

    folder = tmp_path_factory.getbasetemp() / "serve-label-models"
    folder.mkdir(exist_ok=True)
    path = folder / f"{kind}.skmnist"
    if path.exists():
        return path
    if kind == "bytes":
        model = skmnist.load(label_model_path("names", mnist, tmp_path_factory))
        model[-1].classes_ = np.char.encode(model[-1].classes_.astype(str))
        return skmnist.save(model, path)
    (X_train, y_train), _ = mnist
    labels = {
        "float": lambda y: y.astype(np.float64),
        "even": lambda y: y % 2 == 0,
        "names": lambda y: np.array(JS_NAMES)[y],
    }[kind](y_train[:5000])
    pipeline = make_mnist_pipeline(hidden_layer_sizes=(64,), epochs=1, random_state=0)
    pipeline.fit(X_train[:5000], labels)
    return skmnist.save(pipeline, path)
