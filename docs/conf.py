"""Sphinx configuration of skmnist's documentation.

Build it, warnings as errors, from the root of the repository::

    pip install -e ".[docs]"
    python -m sphinx -W --keep-going -b html docs docs/_build/html

The pages are Markdown (read by myst-parser); the API reference is generated
from the numpydoc docstrings; sphinx-gallery runs ``examples/plot_*.py`` and
puts their output and figures in ``docs/auto_examples``. The examples find
MNIST as ``load_mnist()`` does (``SKMNIST_DATA``, the Keras cache, a
download); in this project's development checkout, the copy kept beside the
repository comes first, as for the tests.
"""

import argparse
import logging
import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "sphinxext"))

import skmnist  # noqa: E402
from skmnist.data._mnist import _local_mnist  # noqa: E402

if not os.environ.get("SKMNIST_DATA"):
    _LOCAL_MNIST = _local_mnist(checkout=ROOT)  # the tests' lookup, in one place
    if _LOCAL_MNIST is not None:
        os.environ["SKMNIST_DATA"] = str(_LOCAL_MNIST)
from skmnist.cli import build_parser  # noqa: E402

# -- Project -------------------------------------------------------------------

project = "skmnist"
author = "the skmnist developers"
copyright = "the skmnist developers; BSD-3-Clause licence"
version = release = skmnist.__version__

# -- General -------------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "sphinxext", "**.ipynb_checkpoints"]

# Markdown: heading anchors, so that [text](page.md#a-heading) links work.
myst_heading_anchors = 3


class _NoMystConfigDump(logging.Filter):
    """Drop myst-parser's start-up line, its whole configuration object:
    a screenful of defaults on every build that says nothing to act on."""

    def filter(self, record):
        args = record.args if isinstance(record.args, tuple) else ()
        return not any(type(arg).__name__ == "MdParserConfig" for arg in args)


logging.getLogger("sphinx.myst_parser.sphinx_ext.main").addFilter(_NoMystConfigDump())

# -- API reference ---------------------------------------------------------------

autosummary_generate = True
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"
# The class template (_templates/autosummary/class.rst) lists a class's own
# methods in a table and documents them with autodoc's :members:.
numpydoc_show_class_members = False
numpydoc_attributes_as_param_list = True

# -- Example gallery ---------------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",  # every plot_*.py is run
    "within_subsection_order": "skmnist_gallery.ExampleOrder",
    "plot_gallery": "True",
    "capture_repr": (),  # show what the examples print, not stray reprs
    "remove_config_comments": True,
    "show_memory": False,
    "min_reported_time": 0,
    # Link skmnist's names in the examples' code to the API reference, and
    # list, on each API page, the examples that use it ("Examples using ...",
    # the minigallery of _templates/autosummary/*.rst).
    "doc_module": ("skmnist",),
    "backreferences_dir": "generated/backreferences",
}

# -- HTML ----------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"skmnist {release}"
html_static_path = ["_static"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 7,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": [], "getting_started": [], "changelog": []}
html_show_sourcelink = False

# -- The command line's help, for the API reference ---------------------------------


def _write_cli_help():
    """Write ``skmnist [COMMAND] --help`` to ``docs/generated/cli/*.txt``."""
    os.environ["COLUMNS"] = "88"  # argparse wraps to the terminal width
    parser = build_parser()
    texts = {"skmnist": parser.format_help()}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, command in action.choices.items():
                texts[name] = command.format_help()
    folder = DOCS / "generated" / "cli"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        path = folder / f"{name}.txt"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


_write_cli_help()


def _skip_metadata_request_methods(app, what, name, obj, skip, options):
    """Leave out scikit-learn's generated ``set_<method>_request`` methods.

    scikit-learn adds them to every estimator with ``sample_weight`` (its
    metadata routing); their docstrings refer to scikit-learn's own glossary.
    """
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_request_methods)
