"""
Export to ONNX and predict with onnxruntime
===========================================

:func:`skmnist.to_onnx` converts a fitted pipeline into an ONNX model, which
onnxruntime runs from Python, C#, Java, JavaScript or C++, with neither
scikit-learn nor skmnist installed. Here a pipeline is exported, reloaded
from the file with onnxruntime and compared with the pipeline's own
predictions on the 10,000 MNIST test images; then the same is done from the
command line with ``skmnist export``.

To run in a few seconds, the model trains on the first **10,000** training
images for **1 epoch**. Files go to a temporary folder, deleted at the end.
"""

# %%
# Train and export
# ----------------
# The exported graph takes what the pipeline takes, uint8 images of 28 x 28
# pixels, in batches of any size. ``options={"zipmap": False}`` asks for the
# probabilities as an ``(n, 10)`` tensor; without it the graph ends with
# skl2onnx's ZipMap, as every skl2onnx classifier does (below).

import contextlib
import shutil
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import onnxruntime

import skmnist
from skmnist import cli, load_mnist, make_mnist_pipeline

(X_train, y_train), (X_test, y_test) = load_mnist()
pipeline = make_mnist_pipeline(epochs=1, random_state=0)
pipeline.fit(X_train[:10_000], y_train[:10_000])

folder = Path(tempfile.mkdtemp())
path = folder / "mnist.onnx"
skmnist.to_onnx(pipeline, path, options={"zipmap": False})
print(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB")

# %%
# Reload with onnxruntime
# -----------------------
# The session needs only the file. Its input is ``X``, with a dynamic first
# dimension; its outputs are named as skl2onnx names a classifier's.

session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
for node in session.get_inputs() + session.get_outputs():
    print(f"{node.name}: {node.type} {node.shape}")

label, proba = session.run(None, {"X": X_test})

# %%
# Compare with the pipeline
# -------------------------
# onnxruntime computes in float32; the labels are the same and the
# probabilities agree to within about a millionth.

expected = pipeline.predict_proba(X_test)
difference = np.abs(proba - expected).max(axis=1)
print("same labels:", np.array_equal(label, pipeline.predict(X_test)))
print(f"largest probability difference: {difference.max():.1e}")
print(f"test accuracy through onnxruntime: {np.mean(label == y_test):.4f}")

print("images with bit-equal probabilities:", np.sum(difference == 0))

fig, ax = plt.subplots(figsize=(6, 3))
low = np.floor(np.log10(difference[difference > 0].min()))
ax.hist(difference[difference > 0], bins=np.logspace(low, -5, 51))
ax.set_xscale("log")
ax.set_xlabel("largest |onnxruntime - predict_proba| of an image")
ax.set_ylabel("test images")
ax.set_title("onnxruntime (float32) against skmnist's NumPy inference")
fig.tight_layout()

# %%
# skl2onnx's default outputs
# --------------------------
# Without options, the probabilities come as one ``{label: probability}`` map
# per image (ZipMap), which tools written for skl2onnx's classifiers expect.

default = onnxruntime.InferenceSession(
    skmnist.to_onnx(pipeline).SerializeToString(),
    providers=["CPUExecutionProvider"],
)
labels, maps = default.run(None, {"X": X_test[:1]})
print(labels, {digit: round(p, 4) for digit, p in maps[0].items()})

# %%
# From the command line
# ---------------------
# ``skmnist export`` converts a saved model; in a shell::
#
#     skmnist export --model mnist.skmnist --output mnist.onnx --no-zipmap
#
# Here the same command runs through :func:`skmnist.cli.main`:

skmnist.save(pipeline, folder / "mnist.skmnist")
with contextlib.chdir(folder):
    status = cli.main(
        ["export", "--model", "mnist.skmnist", "--output", "cli.onnx", "--no-zipmap"]
    )
print("exit status:", status)
from_cli = onnxruntime.InferenceSession(
    str(folder / "cli.onnx"), providers=["CPUExecutionProvider"]
)
print("same labels:", np.array_equal(from_cli.run(None, {"X": X_test})[0], label))

# %%
# Clean up the temporary folder.

shutil.rmtree(folder)
plt.show()
