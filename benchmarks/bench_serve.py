"""Benchmark ``skmnist serve``: throughput against the stack's floor, and memory
under abuse. Loopback only (127.0.0.1).

**Throughput.** One load generator for every server: ``--clients`` asyncio
clients in this process, each with one keep-alive HTTP/1.1 connection,
sending single MNIST test digits one request after another and reading each
answer whole (its JSON parsed, its label checked against ``model.predict``
for skmnist). Latency is from sending a request to having read its answer.
The servers, each started fresh in its own process(es):

- ``floor``: the stack's own speed, a minimal Starlette app on uvicorn with
  the same HTTP parser (httptools) and event loop as skmnist serve, that
  parses the same JSON body (``json.loads``) and returns a fixed answer;
- ``serve``: ``skmnist serve`` (batching concurrent requests, the default);
- ``serve-unbatched``: ``skmnist serve --max-batch-images 1``;
- ``serve-2w`` and ``floor-2w``: 2 worker processes of each, sharing the port.

Bodies: ``json`` (``{"pixels": ...}`` to ``POST /predict``), ``png``
(pictures), ``v2`` (the Open Inference Protocol's infer, as ``tritonclient``
sends it by default: the UINT8 image as binary tensor data, binary outputs).
Each repeat runs every server once, in turn, so that a busy machine slows
them alike; the table gives medians over the repeats and, per repeat, the
ratios to the floor measured in that repeat.

**Abuse** (``--abuse``, with ``skmnist serve``'s default limits, a fresh
server per case): concurrent maximum-size (4 MiB) JSON bodies, integers and
the worst case for Python's json (empty lists); 2048x2048 PNG pictures; and
slow clients (one byte of request head a second) beyond the process's file
descriptor limit (1024), with ``GET /health`` timed meanwhile. Memory is the
server's peak resident set (``VmHWM``) and what it holds after (``VmRSS``),
from ``/proc`` (Linux).

Run from the repository root (MNIST from ``--data``, ``$SKMNIST_DATA`` or
``../shared/data/mnist.npz``)::

    python benchmarks/bench_serve.py --repeats 3 --abuse --json results.json

Without ``--model`` it first trains the tutorial network (784-512-512-10) for
one epoch and saves it with ``skmnist.save`` (the serving cost does not
depend on how long it trained).
"""

import argparse
import asyncio
import io
import json
import os
import platform
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
URL = re.compile(r" on http://([\d.]+):(\d+)/ \(Ctrl-C to stop\)")
SERVERS = ("floor", "serve", "serve-unbatched", "floor-2w", "serve-2w")
BODIES = ("json", "png", "v2")


def default_data_path():
    env = os.environ.get("SKMNIST_DATA")
    if env:
        return env
    shared = REPO_ROOT.parent / "shared" / "data" / "mnist.npz"
    return str(shared) if shared.exists() else None


def cpu_seconds(pids):
    """User and system CPU time of processes, in seconds (Linux)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def memory(pid):
    """``(VmRSS, VmHWM)`` of a process, in MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


# -- the floor: the same stack, nothing of skmnist ---------------------------


def run_floor(port, workers, fd=None):
    """Serve the floor app; several processes share one socket."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    fixed = json.dumps(
        {"label": 7, "probabilities": {str(i): 0.1 for i in range(10)}},
        separators=(",", ":"),
    ).encode()

    async def predict(request):
        json.loads(await request.body())
        return Response(fixed, media_type="application/json")

    app = Starlette(routes=[Route("/predict", predict, methods=["POST"])])
    if fd is None:
        # IPPROTO_TCP, as skmnist serve's socket: asyncio sets TCP_NODELAY on
        # the connections of a TCP socket only when its protocol says so.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(2048)
        children = [
            subprocess.Popen(
                [sys.executable, __file__, "floor", "--fd", str(sock.fileno())],
                pass_fds=[sock.fileno()],
            )
            for _ in range(workers - 1)
        ]
        print(
            f"floor on http://127.0.0.1:{sock.getsockname()[1]}/ (Ctrl-C to stop)",
            flush=True,
        )
    else:
        sock, children = socket.socket(fileno=fd), []
    config = uvicorn.Config(
        app,
        http="httptools",
        ws="none",
        lifespan="off",
        access_log=False,
        log_level="warning",
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        for child in children:
            child.terminate()
            child.wait()


# -- servers -------------------------------------------------------------------


class Server:
    def __init__(self, command, log_path):
        self.log_path = Path(log_path)
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                preexec_fn=self._preexec,
            )
        deadline = time.monotonic() + 120
        while True:
            match = URL.search(self.log_path.read_text(errors="replace"))
            if match:
                self.host, self.port = match.group(1), int(match.group(2))
                break
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(self.log_path.read_text())
            time.sleep(0.05)
        asyncio.run(wait_healthy(self.host, self.port, deadline))

    _preexec = None

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout=60)

    def pids(self):
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        found = [self.process.pid]
        if children.exists():
            found += [int(p) for p in children.read_text().split()]
        return found


class LimitedServer(Server):
    """A server whose process may open at most ``files`` files."""

    def __init__(self, command, log_path, files):
        self._files = files
        super().__init__(command, log_path)

    def _preexec(self):
        resource.setrlimit(resource.RLIMIT_NOFILE, (self._files, self._files))


def serve_command(model_path, *options):
    return [
        sys.executable,
        "-m",
        "skmnist",
        "serve",
        "--model",
        str(model_path),
        "--port",
        "0",
        *options,
    ]


def start(kind, model_path, log_path):
    if kind.startswith("floor"):
        workers = "2" if kind.endswith("2w") else "1"
        return Server(
            [sys.executable, __file__, "floor", "--workers", workers], log_path
        )
    options = {
        "serve": (),
        "serve-unbatched": ("--max-batch-images", "1"),
        "serve-2w": ("--workers", "2"),
    }[kind]
    return Server(serve_command(model_path, *options), log_path)


# -- the load generator ----------------------------------------------------------


async def wait_healthy(host, port, deadline):
    while True:
        try:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            await reader.readuntil(b"\r\n\r\n")
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
    return status, headers, body


def label_of(kind, headers, body):
    if kind != "v2":
        return json.loads(body)["label"]
    size = int(headers[b"inference-header-content-length"])
    outputs = json.loads(body[:size])["outputs"]
    assert outputs[0]["name"] == "label", outputs  # the first binary tensor
    return int(np.frombuffer(body[size : size + 8], dtype="<i8")[0])


async def load(host, port, requests, expected, kind, clients, total, seconds, check):
    latencies, wrong = [], []
    counter = iter(range(total))
    deadline = time.monotonic() + seconds

    async def client():
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for i in counter:
                if time.monotonic() > deadline:
                    return
                j = i % len(requests)
                start = time.perf_counter()
                writer.write(requests[j])
                status, headers, body = await read_response(reader)
                latencies.append(time.perf_counter() - start)
                if status != 200:
                    wrong.append(f"status {status}: {body[:200]!r}")
                elif (label := label_of(kind, headers, body)) != expected[j] and check:
                    wrong.append(f"request {i}: label {label}, not {expected[j]}")
        except Exception as exc:
            wrong.append(f"{type(exc).__name__}: {exc}")
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall = time.perf_counter() - start
    done = np.array(latencies) * 1e3
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
    }


def http_request(path, body, content_type, extra=b""):
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n".encode()
        + extra
        + b"\r\n"
        + body
    )


def make_requests(digits, kind, model_name):
    from PIL import Image

    made = []
    for image in digits:
        if kind == "json":
            body = json.dumps({"pixels": image.tolist()}).encode()
            made.append(http_request("/predict", body, "application/json"))
        elif kind == "png":
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="PNG")
            made.append(http_request("/predict", buffer.getvalue(), "image/png"))
        else:  # as tritonclient sends it: binary input, binary outputs
            header = json.dumps(
                {
                    "inputs": [
                        {
                            "name": "images",
                            "shape": [1, 28, 28],
                            "datatype": "UINT8",
                            "parameters": {"binary_data_size": 784},
                        }
                    ],
                    "parameters": {"binary_data_output": True},
                }
            ).encode()
            made.append(
                http_request(
                    f"/v2/models/{model_name}/infer",
                    header + image.tobytes(),
                    "application/octet-stream",
                    f"Inference-Header-Content-Length: {len(header)}\r\n".encode(),
                )
            )
    return made


def throughput(args, model_path, digits, expected_by_kind, tmp):
    from skmnist.apps.serve._v2 import default_model_name

    model_name = default_model_name(Path(model_path).name)
    runs = []
    for repeat in range(args.repeats):
        record = {}
        for kind in args.servers:
            server = start(kind, model_path, Path(tmp) / f"{kind}-{repeat}.log")
            try:
                idle_rss, _ = memory(server.process.pid)
                record[kind] = {"idle_rss_mib": idle_rss}
                for body in args.bodies:
                    if kind.startswith("floor") and body != "json":
                        continue
                    requests = make_requests(digits, body, model_name)
                    expected = expected_by_kind[body]
                    check = not kind.startswith("floor")
                    phase = (server.host, server.port, requests, expected, body)
                    # Warm-up: first requests pay for lazy imports and caches.
                    asyncio.run(load(*phase, 4, 200, 60, check))
                    pids = server.pids()
                    batches = batch_counts(server, model_name, kind)
                    cpu = cpu_seconds(pids)
                    figures = asyncio.run(
                        load(
                            *phase, args.clients, args.requests, args.max_seconds, check
                        )
                    )
                    # What the server spends per answer, whatever else runs.
                    figures["server_cpu_ms"] = (
                        (cpu_seconds(pids) - cpu) * 1e3 / max(1, figures["requests"])
                    )
                    if batches is not None:  # images per model call, on average
                        images, calls = batch_counts(server, model_name, kind)
                        figures["images_per_batch"] = (images - batches[0]) / max(
                            1, calls - batches[1]
                        )
                    rss = [memory(pid) for pid in server.pids()]
                    figures["rss_mib"] = sum(r for r, _ in rss)
                    figures["peak_rss_mib"] = sum(p for _, p in rss)
                    record[kind][body] = figures
                    print(
                        f"repeat {repeat + 1} {kind} {body}: {_line(figures)}",
                        flush=True,
                    )
            finally:
                record[kind]["exit_status"] = server.stop()
        runs.append(record)
    return runs


def batch_counts(server, model_name, kind):
    """``(images, model calls)`` so far, from the V2 statistics (one worker)."""
    if kind.startswith("floor") or kind.endswith("2w"):
        return None
    import http.client

    connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
    connection.request("GET", f"/v2/models/{model_name}/stats")
    stats = json.loads(connection.getresponse().read())["model_stats"][0]
    connection.close()
    return stats["inference_count"], stats["execution_count"]


# -- abuse ------------------------------------------------------------------------


async def send_all(host, port, payloads, timeout):
    """Send each payload on its own connection at once; their statuses."""

    async def one(payload):
        try:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(payload)
            status, _, _ = await asyncio.wait_for(read_response(reader), timeout)
            writer.close()
            return status
        except Exception as exc:
            return type(exc).__name__

    return await asyncio.gather(*(one(p) for p in payloads))


def big_json(kind, size):
    unit = {"ints": b"0,", "lists": b"[],"}[kind]
    count = (size - 20) // len(unit)
    return b'{"pixels": [' + unit * (count - 1) + unit[:-1] + b"]}"


def big_png(side):
    from PIL import Image

    # A digit-like bar on a blank page: a small file, every pixel decoded.
    page = np.full((side, side), 255, dtype=np.uint8)
    page[side // 5 : 4 * side // 5, side // 2 - side // 20 : side // 2 + side // 20] = 0
    buffer = io.BytesIO()
    Image.fromarray(page).save(buffer, format="PNG")
    return buffer.getvalue()


async def slow_heads(host, port, count, seconds):
    """``count`` clients sending a request head one byte a second, and
    ``GET /health`` timed every half second meanwhile."""
    head = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200
    open_ = []
    refused = 0
    for _ in range(count):
        try:
            open_.append(await asyncio.open_connection(host, port))
        except OSError:
            refused += 1
    health, start = [], time.monotonic()
    closed_at = {}

    async def drip(index, writer, reader):
        for byte in head:
            if reader.at_eof() or writer.is_closing():
                break
            try:
                writer.write(bytes([byte]))
                await writer.drain()
            except OSError:
                break
            try:
                await asyncio.wait_for(reader.read(65536), 1.0)
                if reader.at_eof():
                    break
            except TimeoutError:
                continue
            except OSError:  # reset by the server
                break
        closed_at[index] = time.monotonic() - start

    async def probe():
        while time.monotonic() - start < seconds:
            began = time.perf_counter()
            try:
                reader, writer = await asyncio.open_connection(host, port)
                writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                status, _, _ = await asyncio.wait_for(read_response(reader), 5)
                writer.close()
                health.append((status, (time.perf_counter() - began) * 1e3))
            except Exception as exc:
                health.append((type(exc).__name__, None))
            await asyncio.sleep(0.5)

    drips = [asyncio.ensure_future(drip(i, w, r)) for i, (r, w) in enumerate(open_)]
    await probe()
    for task in drips:
        task.cancel()
    for _, writer in open_:
        writer.close()
    times = [t for _, t in health if t is not None]
    return {
        "slow_clients": count,
        "connect_refused": refused,
        "dropped_by_server_within_s": sorted(closed_at.values())[-1]
        if closed_at
        else None,
        "dropped_by_server": len(closed_at),
        "health_checks": len(health),
        "health_ok": sum(1 for s, _ in health if s == 200),
        "health_max_ms": max(times) if times else None,
    }


def abuse(model_path, tmp):
    results = {}
    size = 4 * 1024 * 1024 - 100
    cases = [
        ("json-ints-60", lambda: [big_json("ints", size)] * 60, "application/json"),
        ("json-ints-150", lambda: [big_json("ints", size)] * 150, "application/json"),
        ("json-lists-60", lambda: [big_json("lists", size)] * 60, "application/json"),
        ("png-2048-20", lambda: [big_png(2048)] * 20, "image/png"),
    ]
    for name, payloads, content_type in cases:
        server = Server(serve_command(model_path), Path(tmp) / f"abuse-{name}.log")
        try:
            idle, _ = memory(server.process.pid)
            bodies = payloads()
            requests = [http_request("/predict", b, content_type) for b in bodies]
            began = time.perf_counter()
            statuses = asyncio.run(send_all(server.host, server.port, requests, 120))
            wall = time.perf_counter() - began
            time.sleep(1)
            rss, peak = memory(server.process.pid)
            named = [str(status) for status in statuses]
            counts = {status: named.count(status) for status in sorted(set(named))}
            results[name] = {
                "requests": len(requests),
                "body_bytes": len(bodies[0]),
                "statuses": counts,
                "wall_s": wall,
                "idle_rss_mib": idle,
                "peak_rss_mib": peak,
                "rss_after_mib": rss,
            }
            print(f"abuse {name}: {results[name]}", flush=True)
        finally:
            server.stop()
    # Slow clients past the descriptor limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    server = LimitedServer(
        serve_command(model_path, "--header-timeout", "10"),
        Path(tmp) / "abuse-slow.log",
        files=1024,
    )
    try:
        figures = asyncio.run(slow_heads(server.host, server.port, 1100, 15))
        rss, peak = memory(server.process.pid)
        figures.update(peak_rss_mib=peak, rss_after_mib=rss)
        results["slow-heads-1100"] = figures
        print(f"abuse slow-heads-1100: {figures}", flush=True)
    finally:
        server.stop()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return results


# -- report ------------------------------------------------------------------------


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
        **{n: version(n) for n in ("numpy", "starlette", "uvicorn", "httptools")},
    }


def _line(f):
    return (
        f"{f['requests']} answers in {f['wall_s']:.1f} s "
        f"({f['throughput_per_s']:.0f}/s), p50 {f['p50_ms']:.1f} ms, "
        f"p99 {f['p99_ms']:.1f} ms, max {f['max_ms']:.1f} ms, "
        f"server CPU {f['server_cpu_ms']:.2f} ms/answer, "
        f"{f.get('images_per_batch', float('nan')):.1f} images/batch, "
        f"RSS {f['rss_mib']:.0f} MiB, {f['failed']} failed"
    )


def report(args, runs):
    print()
    print(
        f"{args.clients} clients, {args.requests} single-image requests per "
        f"phase, {args.repeats} repeats; medians (ratios: to the floor of the "
        "same repeat, then the median):"
    )
    print(
        "| server | body | answers/s | p50 ms | p99 ms | server CPU ms/answer | "
        "RSS MiB | x floor answers/s | x floor p99 | failed |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    summary = {}
    for kind in args.servers:
        for body in args.bodies:
            runs_ = [run[kind][body] for run in runs if body in run.get(kind, {})]
            if not runs_:
                continue

            def med(key, runs_=runs_):
                return statistics.median(r[key] for r in runs_)

            floor = "floor-2w" if kind.endswith("2w") else "floor"
            ratios = [
                (
                    run[kind][body]["throughput_per_s"]
                    / run[floor]["json"]["throughput_per_s"],
                    run[kind][body]["p99_ms"] / run[floor]["json"]["p99_ms"],
                )
                for run in runs
                if floor in run and "json" in run[floor] and body in run[kind]
            ]
            throughput_ratio = (
                statistics.median(r for r, _ in ratios) if ratios else None
            )
            p99_ratio = statistics.median(p for _, p in ratios) if ratios else None
            summary[f"{kind}/{body}"] = {
                "throughput_per_s": med("throughput_per_s"),
                "p50_ms": med("p50_ms"),
                "p99_ms": med("p99_ms"),
                "server_cpu_ms": med("server_cpu_ms"),
                "rss_mib": med("rss_mib"),
                "throughput_x_floor": throughput_ratio,
                "p99_x_floor": p99_ratio,
                "per_repeat_x_floor": ratios,
            }
            print(
                f"| {kind} | {body} | {med('throughput_per_s'):.0f} | "
                f"{med('p50_ms'):.1f} | {med('p99_ms'):.1f} | "
                f"{med('server_cpu_ms'):.2f} | {med('rss_mib'):.0f} | "
                f"{_ratio(throughput_ratio)} | {_ratio(p99_ratio)} | "
                f"{sum(r['failed'] for r in runs_)} |"
            )
    return summary


def _ratio(value):
    return "-" if value is None else f"{value:.2f}"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["floor"]:
        floor = argparse.ArgumentParser()
        floor.add_argument("--workers", type=int, default=1)
        floor.add_argument("--fd", type=int)
        options = floor.parse_args(argv[1:])
        run_floor(0, options.workers, options.fd)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a saved model (default: train one)")
    parser.add_argument("--data", default=default_data_path())
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--requests", type=int, default=4000, help="per phase and repeat"
    )
    parser.add_argument(
        "--max-seconds", type=float, default=120, help="per phase and repeat"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--servers", nargs="+", choices=SERVERS, default=SERVERS)
    parser.add_argument("--bodies", nargs="+", choices=BODIES, default=BODIES)
    parser.add_argument(
        "--abuse",
        action="store_true",
        help="also measure memory and /health under abuse",
    )
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)

    import skmnist
    from skmnist.data._images import read_image_bytes

    (X_train, y_train), (X_test, _) = skmnist.load_mnist(args.data)
    results = {"machine": machine(), "args": vars(args)}
    with tempfile.TemporaryDirectory() as tmp:
        model_path = args.model
        if model_path is None:
            print("Training the tutorial network for one epoch...", flush=True)
            pipeline = skmnist.make_mnist_pipeline(epochs=1, random_state=1)
            pipeline.fit(X_train, y_train)
            model_path = skmnist.save(pipeline, Path(tmp) / "tutorial.skmnist")
        model = skmnist.load(model_path)
        digits = X_test[:1000]
        pngs = [r.split(b"\r\n\r\n", 1)[1] for r in make_requests(digits, "png", "")]
        expected = {
            "json": model.predict(digits).tolist(),
            "v2": model.predict(digits).tolist(),
            "png": model.predict(
                np.stack([read_image_bytes(b) for b in pngs])
            ).tolist(),
        }
        runs = throughput(args, model_path, digits, expected, tmp)
        results["runs"] = runs
        results["summary"] = report(args, runs)
        if args.abuse:
            results["abuse"] = abuse(model_path, tmp)
    results["machine"]["load_average_end"] = os.getloadavg()
    print(f"Machine: {results['machine']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    failed = any(
        figures["failed"]
        for run in results["runs"]
        for kind in run.values()
        for figures in kind.values()
        if isinstance(figures, dict)
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
