"""Where earlier skmnist versions defined their estimators, for their pickles.

A pickle names the module of each class it holds; those modules moved into
subpackages in skmnist 0.3, so their old names are made to point at the new
ones before any pickle is read.
"""

import importlib
import sys

# Old module name -> the module that now defines the same classes.
MOVED_MODULES = {
    "skmnist._classifier": "skmnist.networks._mlp",  # skmnist 0.1 and 0.2
    "skmnist._mlp": "skmnist.networks._mlp",
    "skmnist._cnn": "skmnist.networks._cnn",
    "skmnist._preprocessing": "skmnist.data._preprocessing",
}


def install():
    """Make each old module name import its new module."""
    for old, new in MOVED_MODULES.items():
        sys.modules.setdefault(old, importlib.import_module(new))
