"""
Save, load, and predict a PNG
=============================

A fitted pipeline is saved with :func:`skmnist.save`, in skmnist's safe format
(a zip of JSON and NumPy arrays that loading never executes), and read back
with :func:`skmnist.load`, which needs neither pickle nor TensorFlow. The
``skmnist predict`` command then classifies a handwritten digit saved as a
PNG picture, and ``skmnist evaluate`` scores the saved model on the test set.

To run in a few seconds, the model here trains on the first **10,000**
training images for **1 epoch**. All files go to a temporary folder, deleted at
the end.
"""

# %%
# Train and save
# --------------

import contextlib
import shutil
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

import skmnist
from skmnist import cli, load_mnist, make_mnist_pipeline

(X_train, y_train), (X_test, y_test) = load_mnist()
pipeline = make_mnist_pipeline(epochs=1, random_state=0)
pipeline.fit(X_train[:10_000], y_train[:10_000])

folder = Path(tempfile.mkdtemp())
path = skmnist.save(pipeline, folder / "mnist.skmnist")
print(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB")

# %%
# Load
# ----
# The loaded pipeline is the same model: same parameters, same weights, and
# the same probabilities, bit for bit. ``joblib.dump`` and ``joblib.load`` work
# too, but a pickle runs code when it is loaded: load only files you trust.

loaded = skmnist.load(path)
print(loaded)
same = np.array_equal(loaded.predict_proba(X_test), pipeline.predict_proba(X_test))
print("same probabilities on the 10,000 test images:", same)

# %%
# A digit as a PNG picture
# ------------------------
# Two pictures of the first test digit: as MNIST stores it (white on black,
# 28 x 28 pixels), and as a scan of ink on paper would look (dark on light,
# 112 x 112 pixels, with a wide margin). ``skmnist predict`` converts any
# picture the MNIST way: greyscale, inverted when the background is bright,
# scaled to fit 20 x 20 pixels and centred by its centre of mass in 28 x 28.

digit = X_test[0]
Image.fromarray(digit).save(folder / "digit.png")
paper = np.pad(255 - digit, 14, constant_values=255)
Image.fromarray(paper).resize((112, 112), Image.Resampling.BICUBIC).save(
    folder / "scan.png"
)

fig, axes = plt.subplots(1, 2, figsize=(5, 2.8))
for ax, name in zip(axes, ["digit.png", "scan.png"], strict=True):
    with Image.open(folder / name) as picture:
        ax.imshow(picture, cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"{name} ({picture.width} x {picture.height})")
    ax.set_axis_off()
fig.suptitle(f"Test digit 0, labelled {y_test[0]}")
fig.tight_layout()

# %%
# Predict from the command line
# -----------------------------
# In a shell, in that folder::
#
#     skmnist predict --model mnist.skmnist digit.png scan.png
#
# Here the same command runs through :func:`skmnist.cli.main`:

with contextlib.chdir(folder):
    status = cli.main(["predict", "--model", "mnist.skmnist", "digit.png", "scan.png"])
print("exit status:", status)

# %%
# ``skmnist evaluate`` reports the saved model's accuracy, per-class precision
# and recall, and the confusion matrix on the 10,000 MNIST test images:

with contextlib.chdir(folder):
    status = cli.main(["evaluate", "--model", "mnist.skmnist"])

# %%
# Clean up the temporary folder.

shutil.rmtree(folder)
plt.show()
