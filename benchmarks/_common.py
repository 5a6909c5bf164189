"""What the benchmarks share: where MNIST is, the machine, latency sampling.

The benchmarks run as scripts (``python benchmarks/bench_x.py``), which puts
this folder first on ``sys.path``, so they import this module by its name.
"""

import os
import platform
import random
import statistics
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]


def default_data_path():
    """``$SKMNIST_DATA``, else the copy beside a development checkout, else None."""
    env = os.environ.get("SKMNIST_DATA")
    if env:
        return env
    shared = REPO_ROOT.parent / "shared" / "data" / "mnist.npz"
    return str(shared) if shared.exists() else None


def machine_description(packages=("numpy", "scikit-learn", "skmnist")):
    """The CPU, the usable cores, BLAS, the load and the packages' versions."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(
                line.split(":", 1)[1].strip()
                for line in f
                if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    blas = "unknown"
    try:
        info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{info['name']} {info.get('version', '')}".strip()
    except Exception:  # an older NumPy without mode="dicts"
        pass
    versions = {"python": platform.python_version()}
    for name in packages:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "platform": platform.platform(),
        "blas": blas,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "versions": versions,
    }


def summarize(values):
    """Median, minimum, maximum and count of timing samples."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": len(values),
    }


def calls_per_sample(function, min_time):
    """How many calls make one timing sample last at least ``min_time``."""
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            function()
        if time.perf_counter() - start >= min_time or number >= 10_000:
            return number
        number *= 2


def bench_latency(contenders, repeats, min_time):
    """Median seconds per call of each contender, sampled in interleaved rounds."""
    numbers = {}
    for name, function in contenders.items():
        function()  # warm up (Keras traces its graph on the first call)
        numbers[name] = calls_per_sample(function, min_time)
    samples = {name: [] for name in contenders}
    order = list(contenders)
    shuffler = random.Random(0)
    for _ in range(repeats):
        # A new order each round: no contender always runs right after Keras,
        # whose thread pool keeps the CPUs busy for a moment after each call.
        shuffler.shuffle(order)
        for name in order:
            function, number = contenders[name], numbers[name]
            start = time.perf_counter()
            for _ in range(number):
                function()
            samples[name].append((time.perf_counter() - start) / number)
    return {name: summarize(values) for name, values in samples.items()}


def ms(seconds):
    """Seconds as milliseconds, three decimals below 10 ms."""
    return f"{seconds * 1000:.3f}" if seconds < 0.01 else f"{seconds * 1000:.1f}"
