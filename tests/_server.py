"""Run ``skmnist serve`` in a subprocess, for the server, browser and load tests.

The server listens on a free loopback port (``--port 0``) and logs to a file;
:func:`serving` waits until it answers ``GET /health`` and stops it with
SIGTERM afterwards.
"""

import http.client
import json
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

URL = re.compile(r" on (http://\S+/) \(Ctrl-C to stop\)")
# One line per request: 'CLIENT "METHOD PATH" STATUS N.N ms'.
REQUEST_LINE = re.compile(
    r'(?P<client>\S+) "(?P<method>[A-Z]+) (?P<path>\S+)" '
    r"(?P<status>\d{3}) (?P<ms>[0-9.]+) ms$"
)
START_TIMEOUT = 60


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

    def request(self, method, path, body=None, headers=None):
        """``(status, headers, parsed JSON or bytes)`` of one request."""
        connection = self.connection()
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        if response.getheader("Content-Type", "").startswith("application/json"):
            data = json.loads(data)
        return response.status, dict(response.getheaders()), data

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Send ``sig``; return the exit status once the process has ended."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)


def start(model_path, *args, log_path):
    """Start the server; return a :class:`Server` once it answers."""
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
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
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
def serving(model_path, *args, log_path):
    """:func:`start` the server, and stop it (SIGTERM) on leaving."""
    server = start(model_path, *args, log_path=log_path)
    try:
        yield server
    finally:
        try:
            server.stop()
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
            raise
