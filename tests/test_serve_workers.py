"""``skmnist serve --workers N``: processes sharing one port.

The real server with two workers: both answer (the log names each request's
process), a worker that dies is replaced while the other keeps answering,
SIGTERM stops them all, and a model a worker cannot load stops the start
with its one-line error.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from _server import start

import skmnist


def _pid_of(line):
    return int(line.split("[", 1)[1].split("]", 1)[0])


def _answered_by(server, log_text):
    """The processes that logged a POST /predict."""
    return {
        _pid_of(line) for line in log_text.splitlines() if '"POST /predict" 200' in line
    }


def _predict_many(server, digits, clients=8, each=10):
    labels, errors = [None] * (clients * each), []

    def client(index):
        connection = server.connection()
        try:
            for k in range(each):
                i = index * each + k
                body = json.dumps({"pixels": digits[i % len(digits)].tolist()})
                connection.request(
                    "POST", "/predict", body, {"Content-Type": "application/json"}
                )
                response = connection.getresponse()
                labels[i] = json.loads(response.read())["label"]
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return labels


def test_two_workers(serve_model_path, mnist, tmp_path):
    _, (X_test, _) = mnist
    digits = X_test[:80]
    expected = skmnist.load(serve_model_path).predict(digits).tolist()
    server = start(serve_model_path, "--workers", 2, log_path=tmp_path / "serve.log")
    try:
        workers = server.children()
        assert len(workers) == 2
        log = server.log()
        assert f"2 workers, processes {workers[0]}, {workers[1]}" in log
        # Each connection goes to one worker: with many, both answer.
        deadline = time.monotonic() + 60
        while _answered_by(server, server.log()) != set(workers):
            assert time.monotonic() < deadline, "one worker never answered"
            assert _predict_many(server, digits) == expected
        # A worker that dies is replaced; the server answers meanwhile.
        os.kill(workers[0], signal.SIGKILL)
        assert _predict_many(server, digits, clients=4, each=5) == expected[:20]
        deadline = time.monotonic() + 120
        while not set(server.children()) - set(workers):
            assert time.monotonic() < deadline, "the dead worker was not replaced"
            time.sleep(0.2)
        (replacement,) = set(server.children()) - set(workers)
        assert f"worker 0 (process {workers[0]}) exited with status -9" in server.log()
        # The replacement serves once it has loaded the model.
        deadline = time.monotonic() + 120
        while replacement not in _answered_by(server, server.log()):
            assert time.monotonic() < deadline, "the new worker never answered"
            _predict_many(server, digits, clients=8, each=2)
        pids = [server.process.pid, *server.children()]
    finally:
        status = server.stop(signal.SIGTERM)
    assert status == 0
    for pid in pids:  # all gone
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    log = server.log()
    assert "skmnist serve: stopped (SIGTERM)" in log
    assert "Traceback" not in log


def test_a_worker_that_cannot_start_stops_the_server(serve_model_path, tmp_path):
    """The parent checks the model; a worker still fails when the file changed
    since: the server stops with the worker's one-line error."""
    model = skmnist.load(serve_model_path)
    path = tmp_path / "model.skmnist"
    skmnist.save(model, path)
    code = f"""
import sys, time
from pathlib import Path
from skmnist.apps import cli
from skmnist.apps.serve import _runner
spawn = _runner._Supervisor._spawn
def spawn_after_truncating(self, index, ready=None):
    Path({str(path)!r}).write_bytes(b"not a model any more")
    return spawn(self, index, ready)
_runner._Supervisor._spawn = spawn_after_truncating
sys.exit(cli.main(["serve", "--model", {str(path)!r}, "--port", "0",
                   "--workers", "2"]))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert any("worker 0:" in line or "worker 1:" in line for line in errors), errors
    assert errors[-1] == (
        "skmnist serve: error: a worker failed to start (its error is above)"
    )
    assert "Traceback" not in result.stderr
    assert np.all([" on http://" not in line for line in result.stderr.splitlines()])


def test_a_worker_that_exits_before_it_is_ready_fails_the_start_at_once(monkeypatch):
    """A worker that fails closes its end of the ready pipe as it exits: that
    end of file is the failed start. (Found: the parent took the readable
    pipe for a worker still starting and spun on it, a core at 100%, until
    the start deadline of 180 s.)"""
    import socket

    from skmnist.apps.serve import _runner

    monkeypatch.setattr(_runner, "WORKER_START_SECONDS", 60)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        supervisor = _runner._Supervisor(sock, {}, 1, "test", "127.0.0.1")

        def spawn(index, ready_write=None):
            # Closes the pipe, then takes its time to exit, as a process
            # that prints its error and unwinds does.
            code = f"import os, time; os.close({ready_write}); time.sleep(120)"
            supervisor.workers[index] = subprocess.Popen(
                [sys.executable, "-c", code], pass_fds=[ready_write]
            )

        monkeypatch.setattr(supervisor, "_spawn", spawn)
        start = time.monotonic()
        try:
            assert supervisor._start_all() is False
            assert time.monotonic() - start < 30  # not the 60 s deadline
            assert supervisor.workers[0].poll() is None  # seen before it exited
        finally:
            supervisor.workers[0].kill()
            supervisor.workers[0].wait()
            os.close(supervisor.lifeline_read)
            os.close(supervisor.lifeline_write)
