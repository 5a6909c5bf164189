"""A bounded load test of ``skmnist serve``: 16 concurrent clients.

Each client keeps one connection open and sends its share of 320 single-image
requests (real MNIST test digits, as JSON pixels and as PNG pictures); every
answer must be a 200 with the label ``model.predict`` gives. The time limits
here are generous, for a shared CI machine: the latency and memory figures of
the documentation are measured by ``benchmarks/bench_serve.py``.
"""

import io
import json
import threading
import time
from pathlib import Path

import numpy as np
from _server import serving
from PIL import Image

import skmnist
from skmnist.data._images import read_image_bytes

CLIENTS = 16
REQUESTS_PER_CLIENT = 20
PNG_EVERY = 4  # one request in 4 sends a PNG picture, the others JSON
MAX_SECONDS = 120  # for all the requests; a 2-core machine takes a few seconds
MAX_P99_SECONDS = 5.0
MAX_RSS_BYTES = 1024**3


def _rss_bytes(pid):
    """The resident and peak resident memory of a process (Linux)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) * 1024  # kB
    return fields["VmRSS"], fields["VmHWM"]


def _bodies(X):
    """``(content type, body, the 28x28 image the model gets)`` per digit."""
    bodies = []
    for i, image in enumerate(X):
        if i % PNG_EVERY == 0:
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="PNG")
            png = buffer.getvalue()
            bodies.append(("image/png", png, read_image_bytes(png)))
        else:
            body = json.dumps({"pixels": image.tolist()}).encode()
            bodies.append(("application/json", body, image))
    return bodies


def test_concurrent_clients(serve_model_path, mnist, tmp_path):
    _, (X_test, _) = mnist
    n = CLIENTS * REQUESTS_PER_CLIENT
    bodies = _bodies(X_test[:n])
    model = skmnist.load(serve_model_path)
    expected = model.predict(np.stack([image for _, _, image in bodies]))

    results = [None] * n
    failures = []

    def client(index, server):
        connection = server.connection(timeout=MAX_SECONDS)
        try:
            for i in range(index, n, CLIENTS):
                kind, body, _ = bodies[i]
                start = time.perf_counter()
                connection.request(
                    "POST", "/predict", body=body, headers={"Content-Type": kind}
                )
                response = connection.getresponse()
                data = response.read()
                elapsed = time.perf_counter() - start
                results[i] = (response.status, json.loads(data), elapsed)
        except Exception as exc:  # reported below, with the client's number
            failures.append(f"client {index}: {type(exc).__name__}: {exc}")
        finally:
            connection.close()

    with serving(serve_model_path, log_path=tmp_path / "serve.log") as server:
        threads = [
            threading.Thread(target=client, args=(i, server)) for i in range(CLIENTS)
        ]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=MAX_SECONDS)
        wall = time.perf_counter() - start
        rss, peak = _rss_bytes(server.process.pid)
        alive = [thread for thread in threads if thread.is_alive()]

    assert not alive, f"{len(alive)} clients still waiting after {MAX_SECONDS} s"
    assert not failures, failures
    statuses = [result[0] for result in results]
    assert statuses == [200] * n
    labels = [result[1]["label"] for result in results]
    assert labels == expected.tolist()
    for (kind, _, image), (_, answer, _) in zip(bodies, results, strict=True):
        if kind == "image/png":
            np.testing.assert_array_equal(answer["image"], image)
    latencies = np.array([result[2] for result in results])
    assert wall < MAX_SECONDS
    assert np.percentile(latencies, 99) < MAX_P99_SECONDS
    assert rss < MAX_RSS_BYTES and peak < MAX_RSS_BYTES
    # One log line per request.
    logged = [line for line in server.request_lines() if line["path"] == "/predict"]
    assert len(logged) == n
    assert {line["status"] for line in logged} == {"200"}
