"""PyTorch's OpenMP threads on shared cores: spinning or sleeping while waiting.

Times the tutorial MLP's forward and backward matrix products (batch 128)
in fresh processes, alternating: PyTorch's default (threads spin a while
before they sleep), ``OMP_WAIT_POLICY=PASSIVE`` set by the prototype's
``_threads.prepare`` around the import of PyTorch, and one thread. Prints
each run's median milliseconds a step and CPU use, then the medians::

    python benchmarks/_backend_prototype/bench_omp.py --repeats 6
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

RUNNER = """
import json, os, statistics, sys, time
sys.path.insert(0, {benchmarks!r})
import _backend_prototype  # sets the wait policy around importing torch
import torch
x = torch.rand(128, 784)
w1, w2, w3 = torch.rand(784, 512), torch.rand(512, 512), torch.rand(512, 10)
for w in (w1, w2, w3):
    w.requires_grad_(True)
def step():
    h = torch.relu(x @ w1)
    h = torch.relu(h @ w2)
    return torch.autograd.grad((h @ w3).sum(), (w1, w2, w3))
for _ in range(20):
    step()
times = []
cpu0, wall0 = os.times(), time.perf_counter()
for _ in range(7):
    start = time.perf_counter()
    for _ in range(50):
        step()
    times.append((time.perf_counter() - start) / 50 * 1e3)
cpu1, wall1 = os.times(), time.perf_counter()
cpu = cpu1.user - cpu0.user + cpu1.system - cpu0.system
print("RESULT " + json.dumps({{"ms": statistics.median(times),
                               "cpu_percent": 100 * cpu / (wall1 - wall0),
                               "threads": torch.get_num_threads()}}))
"""

CONFIGS = {
    "spin (default)": {"SKMNIST_PROTOTYPE_SPIN": "1"},
    "passive": {},
    "one thread": {"SKMNIST_PROTOTYPE_SPIN": "1", "OMP_NUM_THREADS": "1"},
}


def run(config):
    env = {**os.environ, "KERAS_BACKEND": "torch", **CONFIGS[config]}
    for name in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "SKMNIST_NUM_THREADS"):
        if name not in CONFIGS[config]:
            env.pop(name, None)
    code = RUNNER.format(benchmarks=os.path.dirname(HERE))
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("RESULT"))
    return json.loads(line.split(" ", 1)[1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=6)
    args = parser.parse_args()
    results = {config: [] for config in CONFIGS}
    for repeat in range(args.repeats):
        order = list(CONFIGS) if repeat % 2 == 0 else list(CONFIGS)[::-1]
        for config in order:
            r = run(config)
            results[config].append(r)
            print(
                f"repeat {repeat + 1} {config:15s} {r['ms']:7.2f} ms a step "
                f"cpu {r['cpu_percent']:4.0f}% threads {r['threads']}",
                flush=True,
            )
    print(f"\nmedians over {args.repeats} runs")
    base = statistics.median(r["ms"] for r in results["spin (default)"])
    for config, rs in results.items():
        ms = statistics.median(r["ms"] for r in rs)
        worst = max(r["ms"] for r in rs)
        print(
            f"{config:15s} {ms:7.2f} ms a step ({ms / base:.2f}x default), "
            f"worst {worst:.2f} ms"
        )


if __name__ == "__main__":
    main()
