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
``epochs``
    The legitimate file with the classifier's ``n_iter_`` edited to 10**8
    (issue 17: ``load`` padded ``history_`` to that length, 4.7 s and 2.5 GB).
``legacy-epochs``
    The same edit of ``tests/data/legacy_mlp_format1.skmnist``, written by
    skmnist 0.2.
``max-pool``, ``wide-conv``, ``numpy-ints``
    Crafted ConvNets (``NetworkClassifier`` files written from scratch):
    a 4096 x 4096 max-pool over a framed 8 x 8 image (81 s to load before
    networks were costed by their layers), a 1 x 1 convolution to 1,024
    channels into a 14 x 14 one (1.2 GB to load), an image framed by 3,000
    pixels with its sizes written as NumPy integers (5.5 s, 1.3 GB).

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

    epochs = dict(members)
    edited = json.loads(members["skmnist.json"])
    edited["model"]["steps"][1][1]["attributes"]["n_iter_"] = 10**8
    epochs["skmnist.json"] = json.dumps(edited).encode()
    files["epochs"] = _write(folder / "epochs.skmnist", epochs)
    legacy = _members(LEGACY_FILE)
    edited = json.loads(legacy["skmnist.json"])
    edited["model"]["attributes"]["n_iter_"] = 10**8
    legacy["skmnist.json"] = json.dumps(edited).encode()
    files["legacy-epochs"] = _write(folder / "legacy-epochs.skmnist", legacy)

    for name, (n_features, layers, weights) in _costly_networks().items():
        files[name] = _crafted_network(
            folder / f"{name}.skmnist", n_features, layers, weights
        )
    return files


LEGACY_FILE = (
    Path(__file__).parents[1] / "tests" / "data" / "legacy_mlp_format1.skmnist"
)


def _layer(**config):
    return {"__dict__": [[key, value] for key, value in config.items()]}


def _int64(value):
    return {"__scalar__": "int64", "value": value}


def _costly_networks():
    """name -> (n_features_in_, architecture_, weights) of the crafted ConvNets."""
    softmax = _layer(kind="dense", units=10, activation="softmax")

    def conv(filters, side):
        return _layer(
            kind="conv2d",
            filters=filters,
            kernel_size=[side, side],
            strides=[1, 1],
            padding="valid",
            activation="relu",
        )

    small = [(np.zeros((1, 10)), np.zeros(10))]  # refused before shapes are checked
    return {
        "max-pool": (
            64,
            [
                _layer(kind="image", side=8, padding=2044),
                _layer(kind="max_pool2d", pool_size=[4096] * 2, strides=[4096] * 2),
                _layer(kind="flatten"),
                softmax,
            ],
            small,
        ),
        "wide-conv": (
            784,
            [
                _layer(kind="image", side=28, padding=0),
                conv(1024, 1),
                conv(1, 14),
                _layer(kind="flatten"),
                softmax,
            ],
            [
                (np.zeros((1, 1, 1, 1024)), np.zeros(1024)),
                (np.zeros((14, 14, 1024, 1)), np.zeros(1)),
                (np.zeros((15 * 15, 10)), np.zeros(10)),
            ],
        ),
        "numpy-ints": (
            64,
            [
                _layer(kind="image", side=_int64(8), padding=_int64(3000)),
                _layer(kind="flatten"),
                _layer(kind="dense", units=_int64(10), activation="softmax"),
            ],
            small,
        ),
    }


def _crafted_network(path, n_features, layers, weights):
    """A NetworkClassifier file of ``layers`` and ``weights``, for 10 classes."""
    members, refs = {}, {"coefs_": [], "intercepts_": []}

    def add(array):
        name = f"arrays/{len(members)}.npy"
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, array, allow_pickle=False)
        members[name] = buffer.getvalue()
        return {"__ndarray__": name}

    classes = add(np.arange(10))
    for coef, intercept in weights:
        refs["coefs_"].append(add(coef))
        refs["intercepts_"].append(add(intercept))
    attributes = {
        "n_features_in_": n_features,
        "classes_": classes,
        "architecture_": layers,
        "history_": {"__dict__": [["loss", [1.0]], ["accuracy", [0.5]]]},
        "loss_curve_": [1.0],
        "n_iter_": 1,
        "best_loss_": 1.0,
        "validation_scores_": None,
        "best_validation_score_": None,
        **refs,
    }
    manifest = {
        "format": "skmnist-model",
        "format_version": 1,
        "model": {"class": "NetworkClassifier", "params": {}, "attributes": attributes},
    }
    members["skmnist.json"] = json.dumps(manifest).encode()
    return _write(path, members)


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
    print(f"{'file':<14} {'size MB':>8} {'load s':>8} {'peak MB':>8}  outcome")
    for name, measured in runs.items():
        row = {
            "size_mb": sizes[name] / 1e6,
            "seconds": statistics.median(m["seconds"] for m in measured),
            "peak_mb": statistics.median(m["peak_mb"] for m in measured),
            "outcome": measured[0]["outcome"],
        }
        results["files"][name] = row
        print(
            f"{name:<14} {row['size_mb']:8.1f} {row['seconds']:8.3f} "
            f"{row['peak_mb']:8.1f}  {row['outcome']}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
