"""Check the built documentation: every example ran and its figures are there.

Run after ``python -m sphinx -W --keep-going -b html docs docs/_build/html``
(``.ci/run`` does)::

    python docs/check_build.py [docs/_build/html]

For each ``examples/plot_*.py`` it checks that the gallery page exists, that
the page shows at least the expected number of figures, and that each figure
is a PNG image in ``_images/`` of a plausible size; it also checks the API
reference pages (and that those of objects the examples use list them, under
"Examples using ...") and prints each example's run time. Exits with status 1 and a
list of the problems otherwise.
"""

import re
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Figures each example draws (the gallery numbers them _001, _002, ...).
EXPECTED_FIGURES = {
    "plot_tutorial": 2,
    "plot_learning_curves": 2,
    "plot_grid_search": 1,
    "plot_confusion_matrix": 2,
    "plot_save_load_predict": 1,
    "plot_dask_search": 1,
    "plot_onnx_export": 1,
    "plot_cnn_vs_mlp": 1,
    "plot_network_classifier": 1,
}
API_PAGES = (
    "skmnist.load_mnist",
    "skmnist.MNISTUnavailableError",
    "skmnist.image_to_mnist",
    "skmnist.MNISTPreprocessor",
    "skmnist.MNISTMLPClassifier",
    "skmnist.MNISTCNNClassifier",
    "skmnist.NetworkClassifier",
    "skmnist.layers.Conv2D",
    "skmnist.layers.Residual",
    "skmnist.make_mnist_pipeline",
    "skmnist.save",
    "skmnist.load",
    "skmnist.to_onnx",
    "skmnist.cli.main",
    "skmnist.cli.build_parser",
    "skmnist.mlflow.log_model",
    "skmnist.mlflow.save_model",
    "skmnist.mlflow.load_model",
    "skmnist.mlflow.get_default_pip_requirements",
)
# Objects that examples use: their API pages must list those examples.
EXAMPLES_USE = (
    "skmnist.load_mnist",
    "skmnist.make_mnist_pipeline",
    "skmnist.MNISTMLPClassifier",
    "skmnist.save",
    "skmnist.load",
    "skmnist.to_onnx",
)
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_size(path):
    """(width, height) of a PNG file, or None if it is not one."""
    with open(path, "rb") as file:
        head = file.read(24)
    if len(head) < 24 or not head.startswith(_PNG_MAGIC) or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def check(html_dir):
    problems = []
    examples = sorted(p.stem for p in (ROOT / "examples").glob("plot_*.py"))
    if sorted(EXPECTED_FIGURES) != examples:
        problems.append(
            f"examples/ holds {examples}; update EXPECTED_FIGURES in {__file__}"
        )
    for name in examples:
        page = html_dir / "auto_examples" / f"{name}.html"
        if not page.exists():
            problems.append(f"{name}: no gallery page {page}")
            continue
        html = page.read_text(encoding="utf-8")
        shown = sorted(
            set(re.findall(rf"_images/(sphx_glr_{name}_\d{{3}}\.png)", html))
        )
        if len(shown) < EXPECTED_FIGURES.get(name, 1):
            problems.append(
                f"{name}: the page shows {len(shown)} figure(s), expected "
                f"{EXPECTED_FIGURES.get(name, 1)}"
            )
        for figure in shown:
            size = _png_size(html_dir / "_images" / figure)
            if size is None:
                problems.append(f"{name}: _images/{figure} is missing or not a PNG")
            elif min(size) < 100:
                problems.append(f"{name}: _images/{figure} is only {size} pixels")
        if "sphx-glr-script-out" not in html:
            problems.append(f"{name}: the page shows no output: did it run?")
        print(f"{name}: {len(shown)} figure(s)")
    for api in API_PAGES:
        page = html_dir / "generated" / f"{api}.html"
        if not page.exists():
            problems.append(f"no API page for {api}")
            continue
        # sphinx-gallery's backreferences: the examples that use the object.
        backreferences = ROOT / "docs" / "generated" / "backreferences"
        used = backreferences / f"{api}.examples"
        if used.exists() and used.read_text(encoding="utf-8").strip():
            if "Examples using" not in page.read_text(encoding="utf-8"):
                problems.append(f"{api}: no 'Examples using' section on its page")
    for api in EXAMPLES_USE:
        used = ROOT / "docs" / "generated" / "backreferences" / f"{api}.examples"
        if not used.exists() or not used.read_text(encoding="utf-8").strip():
            problems.append(f"{api}: the gallery recorded no example using it")
    times = ROOT / "docs" / "sg_execution_times.rst"
    if times.exists():
        for ref, seconds in re.findall(
            r"sphx_glr_auto_examples_(plot_\w+)\.py`.*?\n\s+- (\d\d:\d\d\.\d+)",
            times.read_text(encoding="utf-8"),
        ):
            print(f"  {ref} ran in {seconds} (mm:ss)")
    return problems


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    html_dir = Path(argv[0]) if argv else ROOT / "docs" / "_build" / "html"
    problems = check(html_dir)
    if problems:
        print("The documentation build is incomplete:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print(
        f"{html_dir}: all {len(EXPECTED_FIGURES)} examples ran and drew their figures"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
