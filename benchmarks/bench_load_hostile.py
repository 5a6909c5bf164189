"""Benchmark skmnist.load on a legitimate model file and on hostile ones.

For each file, in fresh Python processes (interleaved, ``--repeats`` times),
measures the wall-clock time of ``skmnist.load`` and how much it raises the
process's peak resident memory (``VmHWM`` after the call minus ``VmRSS``
before it, from ``/proc/self/status``: Linux only),
and reports medians with the outcome (loaded, or the start of the
``ValueError``). The files:

``legit``
    The tutorial pipeline's shape (784-512-512-10 MLP with Adam's state),
    fitted for one epoch on 600 digits: 10.7 MB, as ``skmnist train`` saves.
``bomb``
    That file with its first kernel replaced by a deflated member whose
    header claims, and whose stream inflates to, 2 GiB of zeros (the finding
    of issue 11: a 2.3 MB file that made ``load`` use 4.3 GB for 20 s).
``liar``
    The same stream, but the zip's directory and the ``.npy`` header claim the
    real kernel's size: the member inflates beyond what it says.
``huge-header``
    A ``.npy`` header that claims 10**12 float64 values, in a small member.
``deep-json``
    A manifest nested a million levels deep (2 MB).

Run from the repository root::

    python benchmarks/bench_load_hostile.py --repeats 5 --json hostile.json

Building the files takes about half a minute (the bomb deflates 2 GiB).
"""

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

MEASURE = """
import json, sys, time
import skmnist


def status(field):  # kB, from the kernel's accounting of this process
    with open("/proc/self/status") as file:
        for line in file:
            if line.startswith(field + ":"):
                return int(line.split()[1])


path = sys.argv[1]
before = status("VmRSS")
start = time.perf_counter()
try:
    skmnist.load(path)
    outcome = "loaded"
except ValueError as exc:
    outcome = "ValueError: " + str(exc)[len(path) + 2 :][:70]
seconds = time.perf_counter() - start
peak = status("VmHWM")  # the peak resident memory of this process
print(json.dumps({"seconds": seconds, "peak_mb": (peak - before) / 1024,
                  "outcome": outcome}))
"""


def _npy_header(shape):
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "<f8", "fortran_order": False, "shape": shape}
    )
    return buffer.getvalue()


def _members(path):
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _kernel_member(members):
    manifest = json.loads(members["skmnist.json"])
    classifier = manifest["model"]["steps"][1][1]
    return classifier["attributes"]["coefs_"][0]["__ndarray__"]


def _write_bomb(path, members, name, n_bytes, claimed):
    header = _npy_header((claimed // 8,))
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in members.items():
            if member != name:
                archive.writestr(member, data)
                continue
            info = zipfile.ZipInfo(member)
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as out:
                out.write(header)
                zeros = bytes(2**24)
                for _ in range(n_bytes // len(zeros)):
                    out.write(zeros)
    if claimed != n_bytes:  # the directory says the smaller size
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(name)
        data = bytearray(path.read_bytes())
        entry = data.rindex(b"PK\x01\x02")
        while data[entry + 46 : entry + 46 + len(name)] != name.encode():
            entry = data.rindex(b"PK\x01\x02", 0, entry)
        new_size = len(header) + claimed
        # ZIP64: the sizes sit in the extra field, uncompressed size first.
        extra = entry + 46 + len(name)
        assert data[extra : extra + 2] == b"\x01\x00", "expected a ZIP64 extra"
        data[extra + 4 : extra + 12] = new_size.to_bytes(8, "little")
        path.write_bytes(bytes(data))
        assert info.file_size == len(header) + n_bytes
    return path


def build_files(folder):
    import skmnist
    from skmnist import load_mnist, make_mnist_pipeline

    (X, y), _ = load_mnist()
    pipe = make_mnist_pipeline(epochs=1, random_state=0).fit(X[:600], y[:600])
    legit = skmnist.save(pipe, folder / "legit.skmnist")
    members = _members(legit)
    name = _kernel_member(members)
    real = len(members[name]) - len(_npy_header((784, 512)))
    files = {"legit": legit}
    files["bomb"] = _write_bomb(folder / "bomb.skmnist", members, name, 2**31, 2**31)
    files["liar"] = _write_bomb(folder / "liar.skmnist", members, name, 2**31, real)

    huge = dict(members)
    huge[name] = _npy_header((10**12,)) + b"\0" * 1024
    files["huge-header"] = _write(folder / "huge.skmnist", huge)

    deep = dict(members)
    manifest = members["skmnist.json"].decode()
    nested = "[" * 10**6 + "]" * 10**6
    deep["skmnist.json"] = manifest.replace('"verbose": 0', f'"verbose": {nested}', 1)
    files["deep-json"] = _write(folder / "deep.skmnist", deep)
    return files


def _write(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        files = build_files(Path(tmp))
        runs = {name: [] for name in files}
        for _ in range(args.repeats):
            for name, path in files.items():
                done = subprocess.run(
                    [sys.executable, "-c", MEASURE, str(path)],
                    capture_output=True,
                    text=True,
                    check=True,
                    env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
                )
                runs[name].append(json.loads(done.stdout))
        sizes = {name: path.stat().st_size for name, path in files.items()}

    results = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "repeats": args.repeats,
        "files": {},
    }
    print(f"{'file':<12} {'size MB':>8} {'load s':>8} {'peak MB':>8}  outcome")
    for name, measured in runs.items():
        row = {
            "size_mb": sizes[name] / 1e6,
            "seconds": statistics.median(m["seconds"] for m in measured),
            "peak_mb": statistics.median(m["peak_mb"] for m in measured),
            "outcome": measured[0]["outcome"],
        }
        results["files"][name] = row
        print(
            f"{name:<12} {row['size_mb']:8.1f} {row['seconds']:8.3f} "
            f"{row['peak_mb']:8.1f}  {row['outcome']}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
