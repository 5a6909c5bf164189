"""Benchmark ``skmnist serve`` under concurrent load, on loopback only.

Starts ``skmnist serve`` on a free 127.0.0.1 port, then runs concurrent
clients against ``POST /predict`` — each a thread with one keep-alive
connection, sending single MNIST test digits one request after another — and
reports, per run and as medians over the runs:

- throughput (answers per second of wall time) and latency percentiles
  (p50, p90, p99, max; from sending a request to having read its answer);
- the server's resident memory (``VmRSS``) after each run and its peak
  (``VmHWM``), from ``/proc`` (Linux), with the idle figure after start-up;
- that every answer was a 200 with the label ``model.predict`` gives.

Bodies are JSON pixels (``{"pixels": ...}``) or PNG pictures (converted the
MNIST way by the server), in separate phases. The clients run in this
process, on the same machine as the server, so they share its CPUs: the
figures include the clients' own cost. Each phase is bounded by a number of
requests and by a time limit.

Run from the repository root (MNIST from ``--data``, ``$SKMNIST_DATA`` or
``../shared/data/mnist.npz``)::

    python benchmarks/bench_serve.py --runs 3 --json results.json

Without ``--model`` it first trains the tutorial network (784-512-512-10) for
one epoch and saves it with ``skmnist.save`` (the serving cost does not
depend on how long it trained).
"""

import argparse
import http.client
import io
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
URL = re.compile(r" on http://([\d.]+):(\d+)/ \(Ctrl-C to stop\)")


def default_data_path():
    env = os.environ.get("SKMNIST_DATA")
    if env:
        return env
    shared = REPO_ROOT.parent / "shared" / "data" / "mnist.npz"
    return str(shared) if shared.exists() else None


def memory(pid):
    """``(VmRSS, VmHWM)`` of a process, in MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


class Server:
    def __init__(self, model_path, log_path, max_body_bytes=None):
        command = [sys.executable, "-m", "skmnist", "serve", "--model"]
        command += [str(model_path), "--host", "127.0.0.1", "--port", "0"]
        if max_body_bytes:
            command += ["--max-body-bytes", str(max_body_bytes)]
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        deadline = time.monotonic() + 60
        while True:
            match = URL.search(Path(log_path).read_text())
            if match:
                self.host, self.port = match.group(1), int(match.group(2))
                break
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(Path(log_path).read_text())
            time.sleep(0.05)
        while True:
            try:
                connection = http.client.HTTPConnection(self.host, self.port)
                connection.request("GET", "/health")
                if connection.getresponse().status == 200:
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout=30)


def make_bodies(X, kind):
    from PIL import Image

    bodies = []
    for image in X:
        if kind == "png":
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="PNG")
            bodies.append(buffer.getvalue())
        else:
            bodies.append(json.dumps({"pixels": image.tolist()}).encode())
    return bodies


def load_phase(server, bodies, expected, content_type, clients, requests, seconds):
    """Send ``requests`` requests from ``clients`` threads (or stop at
    ``seconds``); return the figures of the phase."""
    latencies = [None] * requests
    wrong = []
    deadline = time.monotonic() + seconds
    counter = iter(range(requests))
    lock = threading.Lock()

    def client():
        connection = http.client.HTTPConnection(server.host, server.port, timeout=60)
        try:
            while time.monotonic() < deadline:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                body = bodies[i % len(bodies)]
                start = time.perf_counter()
                connection.request(
                    "POST", "/predict", body, {"Content-Type": content_type}
                )
                response = connection.getresponse()
                data = response.read()
                latencies[i] = time.perf_counter() - start
                if response.status != 200:
                    wrong.append(f"status {response.status}: {data[:200]!r}")
                elif json.loads(data)["label"] != expected[i % len(bodies)]:
                    wrong.append(f"request {i}: wrong label")
        except Exception as exc:
            wrong.append(f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    done = np.array([t for t in latencies if t is not None]) * 1e3
    rss, peak = memory(server.process.pid)
    return {
        "requests": len(done),
        "failed": len(wrong),
        "failures": wrong[:5],
        "wall_s": wall,
        "throughput_per_s": len(done) / wall,
        "p50_ms": float(np.percentile(done, 50)),
        "p90_ms": float(np.percentile(done, 90)),
        "p99_ms": float(np.percentile(done, 99)),
        "max_ms": float(done.max()),
        "rss_mib": rss,
        "peak_rss_mib": peak,
    }


def machine():
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from importlib.metadata import version

    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        **{name: version(name) for name in ("numpy", "starlette", "uvicorn")},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a saved model (default: train one)")
    parser.add_argument("--data", default=default_data_path())
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=2000, help="per phase and run")
    parser.add_argument(
        "--max-seconds", type=float, default=120, help="per phase and run"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--bodies", nargs="+", choices=("json", "png"), default=["json", "png"]
    )
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)

    import skmnist
    from skmnist.data._images import read_image_bytes

    (X_train, y_train), (X_test, _) = skmnist.load_mnist(args.data)
    with tempfile.TemporaryDirectory() as tmp:
        model_path = args.model
        if model_path is None:
            print("Training the tutorial network for one epoch...", flush=True)
            pipeline = skmnist.make_mnist_pipeline(epochs=1, random_state=1)
            pipeline.fit(X_train, y_train)
            model_path = skmnist.save(pipeline, Path(tmp) / "tutorial.skmnist")
        model = skmnist.load(model_path)
        digits = X_test[:1000]
        phases = {}
        for kind in args.bodies:
            bodies = make_bodies(digits, kind)
            images = (
                np.stack([read_image_bytes(b) for b in bodies])
                if kind == "png"
                else digits
            )
            phases[kind] = (bodies, model.predict(images).tolist())

        results = {"machine": machine(), "args": vars(args), "runs": []}
        for run in range(args.runs):
            server = Server(model_path, Path(tmp) / f"serve{run}.log")
            try:
                idle_rss, _ = memory(server.process.pid)
                record = {"idle_rss_mib": idle_rss}
                for kind, (bodies, expected) in phases.items():
                    content_type = "image/png" if kind == "png" else "application/json"
                    # Warm-up: first requests pay for lazy imports and caches.
                    load_phase(server, bodies, expected, content_type, 4, 50, 60)
                    record[kind] = load_phase(
                        server,
                        bodies,
                        expected,
                        content_type,
                        args.clients,
                        args.requests,
                        args.max_seconds,
                    )
                    print(f"run {run + 1} {kind}: {_line(record[kind])}", flush=True)
            finally:
                record["exit_status"] = server.stop()
            log_lines = Path(server.log_path).read_text().count('"POST /predict"')
            record["logged_requests"] = log_lines
            results["runs"].append(record)

    print()
    print(
        f"{args.clients} clients, {args.requests} requests per phase, "
        f"{args.runs} runs; medians:"
    )
    print(
        "| body | answers/s | p50 ms | p90 ms | p99 ms | max ms | RSS MiB | "
        "peak RSS MiB | failed |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for kind in args.bodies:
        runs = [run[kind] for run in results["runs"]]

        def median(key, runs=runs):
            return statistics.median(run[key] for run in runs)

        print(
            f"| {kind} | {median('throughput_per_s'):.0f} | {median('p50_ms'):.1f} | "
            f"{median('p90_ms'):.1f} | {median('p99_ms'):.1f} | "
            f"{median('max_ms'):.1f} | {median('rss_mib'):.0f} | "
            f"{median('peak_rss_mib'):.0f} | {sum(r['failed'] for r in runs)} |"
        )
    idle = statistics.median(run["idle_rss_mib"] for run in results["runs"])
    print(f"Idle server RSS after start-up: {idle:.0f} MiB (median)")
    print(f"Machine: {results['machine']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    failed = any(run[kind]["failed"] for run in results["runs"] for kind in args.bodies)
    return 1 if failed else 0


def _line(figures):
    return (
        f"{figures['requests']} answers in {figures['wall_s']:.1f} s "
        f"({figures['throughput_per_s']:.0f}/s), p50 {figures['p50_ms']:.1f} ms, "
        f"p99 {figures['p99_ms']:.1f} ms, max {figures['max_ms']:.1f} ms, "
        f"RSS {figures['rss_mib']:.0f} MiB (peak {figures['peak_rss_mib']:.0f}), "
        f"{figures['failed']} failed"
    )


if __name__ == "__main__":
    sys.exit(main())
